//! The ingest writer: one task stores every session's inventories. Whatever arrived while
//! it wrote the last batch goes in the next one, in a single transaction (the store's
//! `ingest_inventories`), so under a storm of agents the cost of a transaction is shared by
//! up to `MAX_BATCH` snapshots, and a lone inventory is stored at once.

use certfleet_proto::Inventory;
use certfleet_store::{IngestOutcome, IngestRequest, Store};
use tokio::sync::{mpsc, oneshot};

/// Snapshots in one transaction at most: big enough to share its cost, small enough that
/// the write lock is never held for long (a batch of realistic inventories takes well
/// under a second).
pub const MAX_BATCH: usize = 256;
/// Inventories waiting for the writer; a session whose inventory finds the queue full
/// waits (that agent's next frame is not read meanwhile).
const QUEUE: usize = 4 * MAX_BATCH;

struct Job {
    agent_id: String,
    host_id: i64,
    inventory: Inventory,
    now: i64,
    reply: oneshot::Sender<certfleet_store::Result<IngestOutcome>>,
}

/// A handle to the writer; cheap to clone.
#[derive(Clone, Debug)]
pub struct IngestWriter {
    jobs: mpsc::Sender<Job>,
}

impl IngestWriter {
    /// Starts the writer task on the current runtime; it ends when every handle is dropped.
    pub fn start(store: Store) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, queue));
        IngestWriter { jobs }
    }

    /// Stores `inventory` for the agent's host, in the next batch; `Err(Stopped)` when the
    /// console is shutting down and the inventory was not stored.
    pub async fn ingest(
        &self,
        agent_id: &str,
        host_id: i64,
        inventory: Inventory,
        now: i64,
    ) -> Result<certfleet_store::Result<IngestOutcome>, Stopped> {
        let (reply, outcome) = oneshot::channel();
        let job = Job {
            agent_id: agent_id.to_owned(),
            host_id,
            inventory,
            now,
            reply,
        };
        self.jobs.send(job).await.map_err(|_| Stopped)?;
        outcome.await.map_err(|_| Stopped)
    }
}

/// The writer has stopped: the console is shutting down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

async fn run(store: Store, mut queue: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // One clock reading for the batch: its snapshots are stored in the same instant.
        let now = batch.iter().map(|j| j.now).max().unwrap_or_default();
        let requests: Vec<IngestRequest<'_>> = batch
            .iter()
            .map(|j| IngestRequest {
                agent_id: &j.agent_id,
                host_id: j.host_id,
                inventory: &j.inventory,
            })
            .collect();
        let outcomes = store.ingest_inventories(&requests, now).await;
        drop(requests);
        for (job, outcome) in batch.drain(..).zip(outcomes) {
            // A session that went away meanwhile does not need its answer.
            let _ = job.reply.send(outcome);
        }
    }
}

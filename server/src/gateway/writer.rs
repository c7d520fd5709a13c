//! The gateway's one writer: a task that makes every write a session needs — a host's
//! hello, a heartbeat, an inventory. Whatever arrived while it wrote the last round goes in
//! the next, each kind in one transaction (the store's `upsert_hosts`, `touch_agents`,
//! `ingest_inventories`), so under a storm of agents the cost of a transaction is shared
//! by up to `MAX_BATCH` of them, and a lone frame is written at once. Hellos and heartbeats
//! come in a queue of their own and every one waiting joins the next round: an agent's
//! welcome never waits for a round of other agents' inventories to make room for it.

use std::sync::Arc;

use certfleet_proto::{Hello, Inventory};
use certfleet_store::{IngestOutcome, IngestRequest, Store};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;

/// Jobs in one round at most: big enough to share a transaction's cost, small enough that
/// the write connection is never held for long (a round of 1,024 first snapshots of ten
/// certificates takes about 0.7 s). A round's cost is mostly fixed: each certificate lands on
/// a random page of every hash-keyed index, so a round of a few thousand rewrites most of
/// those indexes whatever its size (store bench, 10,000 hosts × 10: 9,800 certificate rows/s
/// in rounds of 256, 13,600 in rounds of 512, 15,100 in rounds of 1,024).
const MAX_BATCH: usize = 1024;
/// Hellos and heartbeats in one round at most (each is a row or two).
const MAX_QUICK: usize = 4 * MAX_BATCH;
/// Jobs waiting for the writer; a session whose job finds the queue full waits (that
/// agent's next frame is not read meanwhile).
const QUEUE: usize = 4 * MAX_BATCH;

type Reply<T> = oneshot::Sender<certfleet_store::Result<T>>;

enum Job {
    Hello {
        agent_id: String,
        hello: Hello,
        now: i64,
        reply: Reply<i64>,
    },
    Seen {
        agent_id: String,
        now: i64,
    },
    Inventory {
        agent_id: String,
        host_id: i64,
        inventory: Inventory,
        now: i64,
        reply: Reply<IngestOutcome>,
    },
}

/// A handle to the writer; cheap to clone.
#[derive(Clone, Debug)]
pub struct GatewayWriter {
    /// Hellos and heartbeats.
    quick: mpsc::Sender<Job>,
    inventories: mpsc::Sender<Job>,
}

/// The writer has stopped: the console is shutting down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

impl GatewayWriter {
    /// Starts the writer on a thread of its own; it ends when every handle is dropped.
    ///
    /// Not a task beside the sessions: each of a round's statements is an await on SQLite's
    /// worker thread, and under a connect storm a task woken from it waits behind thousands
    /// of sessions' work in the runtime's queue, so the write connection stood idle between
    /// statements (the writer ran at half its in-process rate inside the console).
    pub fn start(store: Store, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        let (quick, quick_queue) = mpsc::channel(MAX_QUICK);
        let (inventories, inventory_queue) = mpsc::channel(QUEUE);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        std::thread::Builder::new()
            .name("gateway-writer".into())
            .spawn(move || runtime.block_on(run(store, metrics, quick_queue, inventory_queue)))?;
        Ok(GatewayWriter { quick, inventories })
    }

    /// Records the agent's hello; its host's id.
    pub async fn hello(
        &self,
        agent_id: &str,
        hello: Hello,
        now: i64,
    ) -> Result<certfleet_store::Result<i64>, Stopped> {
        self.ask(&self.quick, |reply| Job::Hello {
            agent_id: agent_id.to_owned(),
            hello,
            now,
            reply,
        })
        .await
    }

    /// Records a heartbeat; nothing waits for it to be written.
    pub async fn seen(&self, agent_id: &str, now: i64) -> Result<(), Stopped> {
        let job = Job::Seen {
            agent_id: agent_id.to_owned(),
            now,
        };
        self.quick.send(job).await.map_err(|_| Stopped)
    }

    /// Stores `inventory` for the agent's host.
    pub async fn ingest(
        &self,
        agent_id: &str,
        host_id: i64,
        inventory: Inventory,
        now: i64,
    ) -> Result<certfleet_store::Result<IngestOutcome>, Stopped> {
        self.ask(&self.inventories, |reply| Job::Inventory {
            agent_id: agent_id.to_owned(),
            host_id,
            inventory,
            now,
            reply,
        })
        .await
    }

    /// Queues the job `make` builds around a reply channel, and waits for the answer.
    async fn ask<T>(
        &self,
        queue: &mpsc::Sender<Job>,
        make: impl FnOnce(Reply<T>) -> Job,
    ) -> Result<certfleet_store::Result<T>, Stopped> {
        let (reply, answer) = oneshot::channel();
        queue.send(make(reply)).await.map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }
}

async fn run(
    store: Store,
    metrics: Arc<Metrics>,
    mut quick: mpsc::Receiver<Job>,
    mut inventories_queue: mpsc::Receiver<Job>,
) {
    let mut round: Vec<Job> = Vec::with_capacity(MAX_QUICK);
    let mut inventory_round: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    loop {
        // Whichever comes first; then whatever else is waiting joins the round.
        let received = tokio::select! {
            biased;
            n = quick.recv_many(&mut round, MAX_QUICK) => n,
            n = inventories_queue.recv_many(&mut inventory_round, MAX_BATCH) => n,
        };
        if received == 0 {
            // Every handle is gone (the queues close together): what the other queue still
            // holds is written before the writer ends.
            take_ready(&mut inventories_queue, &mut inventory_round, MAX_BATCH);
            if inventory_round.is_empty() {
                break;
            }
        }
        take_ready(&mut quick, &mut round, MAX_QUICK);
        take_ready(&mut inventories_queue, &mut inventory_round, MAX_BATCH);
        round.append(&mut inventory_round);
        let mut hellos = Vec::new();
        let mut seen = Vec::new();
        let mut inventories = Vec::new();
        for job in round.drain(..) {
            match job {
                Job::Hello {
                    agent_id,
                    hello,
                    now,
                    reply,
                } => hellos.push((agent_id, hello, now, reply)),
                Job::Seen { agent_id, now } => seen.push((agent_id, now)),
                Job::Inventory {
                    agent_id,
                    host_id,
                    inventory,
                    now,
                    reply,
                } => inventories.push((agent_id, host_id, inventory, now, reply)),
            }
        }
        // Hellos first: a session sends its inventory only after its welcome, but a host
        // re-connecting says hello again.
        write_hellos(&store, hellos).await;
        write_seen(&store, seen).await;
        if !inventories.is_empty() {
            metrics.ingest_batch_size.observe(inventories.len() as f64);
            write_inventories(&store, inventories).await;
        }
    }
}

/// Moves what `queue` holds now into `round`, until it holds `limit` jobs.
fn take_ready(queue: &mut mpsc::Receiver<Job>, round: &mut Vec<Job>, limit: usize) {
    while round.len() < limit {
        match queue.try_recv() {
            Ok(job) => round.push(job),
            Err(_) => break,
        }
    }
}

async fn write_hellos(store: &Store, hellos: Vec<(String, Hello, i64, Reply<i64>)>) {
    if hellos.is_empty() {
        return;
    }
    // One clock reading for the round: its writes are made in the same instant.
    let now = hellos.iter().map(|h| h.2).max().unwrap_or_default();
    let batch: Vec<(&str, &Hello)> = hellos.iter().map(|(a, h, _, _)| (a.as_str(), h)).collect();
    match store.upsert_hosts(&batch, now).await {
        Ok(ids) => {
            for ((_, _, _, reply), id) in hellos.into_iter().zip(ids) {
                // A session that went away meanwhile does not need its answer.
                let _ = reply.send(Ok(id));
            }
        }
        Err(e) => {
            // Each on its own, so one that cannot be recorded fails alone.
            tracing::warn!(
                hellos = hellos.len(),
                "recording hellos together failed ({e}); one by one"
            );
            for (agent_id, hello, now, reply) in hellos {
                let _ = reply.send(store.upsert_host(&agent_id, &hello, now).await);
            }
        }
    }
}

async fn write_seen(store: &Store, seen: Vec<(String, i64)>) {
    let Some(now) = seen.iter().map(|s| s.1).max() else {
        return;
    };
    let ids: Vec<&str> = seen.iter().map(|(a, _)| a.as_str()).collect();
    if let Err(e) = store.touch_agents(&ids, now).await {
        tracing::warn!(agents = ids.len(), "cannot record heartbeats: {e}");
    }
}

async fn write_inventories(
    store: &Store,
    inventories: Vec<(String, i64, Inventory, i64, Reply<IngestOutcome>)>,
) {
    let now = inventories.iter().map(|i| i.3).max().unwrap_or_default();
    let requests: Vec<IngestRequest<'_>> = inventories
        .iter()
        .map(|(agent_id, host_id, inventory, _, _)| IngestRequest {
            agent_id,
            host_id: *host_id,
            inventory,
        })
        .collect();
    let outcomes = store.ingest_inventories(&requests, now).await;
    drop(requests);
    for ((_, _, _, _, reply), outcome) in inventories.into_iter().zip(outcomes) {
        let _ = reply.send(outcome);
    }
}

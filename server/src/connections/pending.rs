//! Requests waiting for an agent's answer (a dry-run preflight): who must answer, and where
//! the answer goes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use certfleet_proto::JobResult;
use tokio::sync::oneshot;

/// The agent that must answer, and where its answer goes.
type Waiting = (String, oneshot::Sender<JobResult>);

/// Checks waiting for their agent's answer, by job id.
#[derive(Debug, Clone, Default)]
pub struct PendingChecks {
    inner: Arc<Mutex<HashMap<String, Waiting>>>,
}

impl PendingChecks {
    pub fn expect(&self, job_id: &str, agent_id: &str) -> oneshot::Receiver<JobResult> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job_id.to_owned(), (agent_id.to_owned(), tx));
        rx
    }

    pub fn forget(&self, job_id: &str) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(job_id);
    }

    /// Hands a result to its waiting check; `false` when it is not a check of this agent.
    pub fn answer(&self, agent_id: &str, result: &JobResult) -> bool {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&result.job_id) {
            Some((expected, _)) if expected == agent_id => {
                if let Some((_, tx)) = map.remove(&result.job_id) {
                    let _ = tx.send(result.clone());
                }
                true
            }
            _ => false,
        }
    }
}

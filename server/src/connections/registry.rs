//! Who is connected: one entry per agent, holding the way to talk to it and to drop it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};

#[derive(Debug)]
struct Connection {
    generation: u64,
    close: watch::Sender<bool>,
    outbound: mpsc::Sender<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Registry {
    inner: Arc<Mutex<(u64, HashMap<String, Connection>)>>,
}

/// A registered connection's side of the registry.
#[derive(Debug)]
pub struct Registration {
    pub generation: u64,
    pub closed: watch::Receiver<bool>,
}

impl Registry {
    /// Registers a connection; an older one of the same agent is told to close (an agent
    /// that reconnects after a network blip must not leave a ghost behind).
    pub fn register(&self, agent_id: &str, outbound: mpsc::Sender<String>) -> Registration {
        let (close, closed) = watch::channel(false);
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard.0 += 1;
        let generation = guard.0;
        if let Some(old) = guard.1.insert(
            agent_id.to_owned(),
            Connection {
                generation,
                close,
                outbound,
            },
        ) {
            let _ = old.close.send(true);
        }
        Registration { generation, closed }
    }

    /// Removes the entry if it is still this connection's.
    pub fn unregister(&self, agent_id: &str, generation: u64) {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if guard
            .1
            .get(agent_id)
            .is_some_and(|c| c.generation == generation)
        {
            guard.1.remove(agent_id);
        }
    }

    /// Drops the agent's connection now; `false` if it was not connected.
    pub fn disconnect(&self, agent_id: &str) -> bool {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match guard.1.remove(agent_id) {
            Some(connection) => {
                let _ = connection.close.send(true);
                true
            }
            None => false,
        }
    }

    pub fn is_connected(&self, agent_id: &str) -> bool {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard.1.contains_key(agent_id)
    }

    pub fn connected(&self) -> usize {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard.1.len()
    }

    /// Queues a frame for the agent without waiting; `false` when it is not connected or
    /// its queue is full (the caller retries later: nothing buffers without bound).
    pub fn try_send(&self, agent_id: &str, frame: String) -> bool {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .1
            .get(agent_id)
            .is_some_and(|c| c.outbound.try_send(frame).is_ok())
    }
}

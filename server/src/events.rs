//! What open dashboard pages hear about (agents coming and going, inventory and rollout
//! changes), as server-sent events. The browser only counts them and re-fetches, so the
//! words are the console's own; nobody listening is fine.

use serde::Serialize;
use tokio::sync::broadcast;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LiveEvent {
    AgentOnline { agent_id: String },
    AgentOffline { agent_id: String },
    InventoryChanged { host_id: i64 },
    RolloutChanged { rollout_id: i64 },
}

/// The channel pages subscribe to. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Events(broadcast::Sender<LiveEvent>);

impl Default for Events {
    fn default() -> Self {
        Events(broadcast::channel(256).0)
    }
}

impl Events {
    pub fn publish(&self, event: LiveEvent) {
        let _ = self.0.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.0.subscribe()
    }
}

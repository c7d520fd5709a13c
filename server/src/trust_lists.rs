//! The trust list the console sends a client machine: the server endpoints its groups are
//! attached to. Sent after `welcome` and again to every client whose list may have changed.

use certfleet_proto::{ConsoleMessage, TrustList};
use certfleet_store::Store;

use crate::connections::Registry;

/// The frame carrying `host_id`'s whole list (empty when none: that clears an earlier one).
pub async fn frame_for(store: &Store, host_id: i64) -> certfleet_store::Result<String> {
    let endpoints = store.attached_endpoints(host_id).await?;
    Ok(certfleet_proto::encode(
        &uuid::Uuid::new_v4().to_string(),
        &ConsoleMessage::TrustList(TrustList { endpoints }),
    ))
}

/// Sends each connected host of `group` its list anew.
pub async fn push_to_group(
    store: &Store,
    registry: &Registry,
    group: &str,
) -> certfleet_store::Result<()> {
    for (host_id, agent_id) in store.agents_in_group(group).await? {
        push_to_host(store, registry, host_id, &agent_id).await?;
    }
    Ok(())
}

pub async fn push_to_host(
    store: &Store,
    registry: &Registry,
    host_id: i64,
    agent_id: &str,
) -> certfleet_store::Result<()> {
    if registry.is_connected(agent_id) {
        let frame = frame_for(store, host_id).await?;
        let _ = registry.try_send(agent_id, frame);
    }
    Ok(())
}

//! The agent gateway: enrolment over plain server-authenticated TLS, then one mutually
//! authenticated WebSocket per agent at `/agent/v1`.

mod enroll;
mod registry;
mod session;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use enroll::secret_hash;
pub use registry::Registry;
pub use session::{Incoming, run_session};

use crate::state::AppState;

/// Bodies on the agent endpoints are small (a CSR); anything bigger is refused.
const BODY_LIMIT: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/agent/v1", get(session::upgrade))
        .route("/agent/v1/ca", get(enroll::ca))
        .route("/agent/v1/enroll", post(enroll::enroll))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Revokes an agent: recorded, refused at the next handshake, and dropped now if connected.
/// Returns whether a live connection was dropped.
pub async fn revoke(
    state: &AppState,
    actor: &str,
    agent_id: &str,
) -> Result<bool, certfleet_store::Error> {
    if state.store.agent(agent_id).await?.is_none() {
        return Err(certfleet_store::Error::NotFound { what: "agent" });
    }
    let newly = state.store.revoke_agent(agent_id, state.now_secs()).await?;
    // Refuse new handshakes first, then drop the live connection.
    state.revoked.revoke(agent_id);
    let dropped = state.registry.disconnect(agent_id);
    if newly {
        state
            .store
            .audit(
                state.now_secs(),
                actor,
                "agent.revoked",
                Some(agent_id),
                None,
            )
            .await?;
    }
    Ok(dropped)
}

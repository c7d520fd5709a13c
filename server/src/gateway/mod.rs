//! The agent gateway: enrolment over plain server-authenticated TLS, then one mutually
//! authenticated WebSocket per agent at `/agent/v1`.

mod enroll;
mod session;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use enroll::secret_hash;
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

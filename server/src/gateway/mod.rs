//! The agent gateway: enrolment over plain server-authenticated TLS, then one mutually
//! authenticated WebSocket per agent at `/agent/v1`.

mod chains;
mod claims;
mod enroll;
mod identity;
mod session;
mod writer;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use enroll::secret_hash;
pub use session::{Incoming, Peer, run_session};
pub use writer::GatewayWriter;

use std::sync::Arc;

use certfleet_store::Store;

use crate::clock::Clock;
use crate::config::Config;
use crate::connections::Registry;
use crate::events::{Events, LiveEvent};
use crate::metrics::Metrics;
use crate::pki::Pki;
use crate::rollout::JobReports;

/// Bodies on the agent endpoints are small (a CSR); anything bigger is refused.
const BODY_LIMIT: usize = 64 * 1024;

/// What the gateway uses: the store (agents, hosts, inventories), the configuration, the
/// CA that signs agent certificates, the metrics, the connected agents, the live events,
/// the clock, and where job reports go.
#[derive(Clone)]
pub struct Gateway {
    store: Store,
    config: Arc<Config>,
    pki: Arc<Pki>,
    metrics: Arc<Metrics>,
    registry: Registry,
    events: Events,
    clock: Clock,
    reports: Arc<dyn JobReports>,
    writer: GatewayWriter,
}

/// The handles [`Gateway`] is made of.
pub struct GatewayParts {
    pub store: Store,
    pub config: Arc<Config>,
    pub pki: Arc<Pki>,
    pub metrics: Arc<Metrics>,
    pub registry: Registry,
    pub events: Events,
    pub clock: Clock,
    pub reports: Arc<dyn JobReports>,
    pub writer: GatewayWriter,
}

impl std::fmt::Debug for GatewayParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayParts").finish_non_exhaustive()
    }
}

impl Gateway {
    pub fn new(parts: GatewayParts) -> Self {
        Gateway {
            store: parts.store,
            config: parts.config,
            pki: parts.pki,
            metrics: parts.metrics,
            registry: parts.registry,
            events: parts.events,
            clock: parts.clock,
            reports: parts.reports,
            writer: parts.writer,
        }
    }

    fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    fn now_secs(&self) -> i64 {
        self.clock.now_secs()
    }

    fn publish(&self, event: LiveEvent) {
        self.events.publish(event);
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").finish_non_exhaustive()
    }
}

pub fn router(gateway: Gateway) -> Router {
    Router::new()
        .route("/agent/v1", get(session::upgrade))
        .route("/agent/v1/ca", get(enroll::ca))
        .route("/agent/v1/enroll", post(enroll::enroll))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(gateway)
}

//! What every handler can reach: the store, the PKI, the session keys, the gateway's
//! connection registry and revocation list, the metrics, and an injectable clock.

use std::sync::Arc;

use certfleet_store::Store;
use time::OffsetDateTime;

use crate::auth::Sessions;
use crate::config::Config;
use crate::connections::{PendingChecks, Registry};
use crate::metrics::Metrics;
use crate::pki::Pki;
use crate::tls::RevocationList;

pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub pki: Arc<Pki>,
    pub sessions: Sessions,
    /// Seals the secrets the console stores (SMTP password, later uploaded keys).
    pub kek: crate::secrets::Kek,
    pub revoked: RevocationList,
    pub registry: Registry,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
    /// The gateway's address once bound (its port may have been 0).
    pub gateway_bound: Arc<std::sync::OnceLock<std::net::SocketAddr>>,
    /// The API's (and web UI's) address once bound.
    pub api_bound: Arc<std::sync::OnceLock<std::net::SocketAddr>>,
    /// What open web pages hear about (agents coming and going, inventory changes).
    pub events: crate::events::Events,
    /// Wakes the rollout scheduler early (a job result came in, a rollout was created).
    pub rollout_wake: Arc<tokio::sync::Notify>,
    /// Dry-run preflights waiting for their agents' answers.
    pub pending_checks: PendingChecks,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    pub fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }

    pub fn now_secs(&self) -> i64 {
        self.now().unix_timestamp()
    }

    /// The URL agents dial: configured, or built from the names and the bound port.
    pub fn gateway_url(&self) -> String {
        match (self.gateway_bound.get(), &self.config.gateway_url) {
            (Some(bound), None) => {
                let host = self
                    .config
                    .names
                    .first()
                    .map(String::as_str)
                    .unwrap_or("localhost");
                format!("https://{host}:{}", bound.port())
            }
            _ => self.config.gateway_url(),
        }
    }

    /// The web UI's URL, for commands that fetch from it.
    pub fn ui_url(&self) -> String {
        let host = self
            .config
            .names
            .first()
            .map(String::as_str)
            .unwrap_or("localhost");
        let port = self
            .api_bound
            .get()
            .map(|a| a.port())
            .unwrap_or(self.config.api_listen.port());
        format!("https://{host}:{port}")
    }

    /// Tells open web pages; nobody listening is fine.
    pub fn publish(&self, event: crate::events::LiveEvent) {
        self.events.publish(event);
    }
}

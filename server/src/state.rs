//! What every handler can reach: the store, the PKI, the session keys, the gateway's
//! connection registry and revocation list, the metrics, and an injectable clock.

use std::sync::Arc;

use certfleet_store::Store;
use time::OffsetDateTime;

use crate::auth::Sessions;
use crate::config::Config;
use crate::gateway::Registry;
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
    pub revoked: RevocationList,
    pub registry: Registry,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
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
}

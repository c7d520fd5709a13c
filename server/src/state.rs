//! The wiring: every handle `prepare` opens, once. Nothing but the start-up code, the
//! routers and tests reaches for it; each part (the console core, the gateway, the rollout
//! scheduler, alerting) is built from here with only the handles it uses.

use std::sync::Arc;

use axum::extract::FromRef;
use certfleet_store::Store;

use crate::addresses::Addresses;
use crate::alerts::Alerts;
use crate::auth::Sessions;
use crate::clock::Clock;
use crate::config::Config;
use crate::connections::{PendingChecks, Registry};
use crate::console::{Console, ConsoleParts};
use crate::events::Events;
use crate::gateway::{Gateway, GatewayParts, GatewayWriter};
use crate::metrics::Metrics;
use crate::pki::Pki;
use crate::rollout::{RolloutParts, Rollouts};
use crate::secrets::Kek;
use crate::tls::RevocationList;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub pki: Arc<Pki>,
    pub sessions: Sessions,
    /// Seals the secrets the console stores (SMTP password, uploaded keys).
    pub kek: Kek,
    pub revoked: RevocationList,
    pub registry: Registry,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
    /// The addresses the console tells others, with the ports once bound.
    pub addresses: Addresses,
    /// What open web pages hear about (agents coming and going, inventory changes).
    pub events: Events,
    /// Wakes the rollout scheduler early (a job result came in, a rollout was created).
    pub rollout_wake: Arc<tokio::sync::Notify>,
    /// Wakes the renewal scheduler (someone asked for a renewal now).
    pub renewal_wake: Arc<tokio::sync::Notify>,
    /// Dry-run preflights waiting for their agents' answers.
    pub pending_checks: PendingChecks,
    /// Failed logins per user and address, and the password hashing queue.
    pub logins: crate::console::LoginGuard,
    /// What ACME CAs said about renewing their certificates, shared by every console handle.
    pub ari: crate::console::AriCache,
    /// Makes the gateway's writes (hellos, heartbeats, inventories), many in one transaction.
    pub writer: GatewayWriter,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    pub fn alerts(&self) -> Alerts {
        Alerts::new(
            self.store.clone(),
            self.config.clone(),
            self.kek.clone(),
            self.clock.clone(),
            self.addresses.clone(),
        )
    }

    pub fn rollouts(&self) -> Rollouts {
        Rollouts::new(RolloutParts {
            store: self.store.clone(),
            kek: self.kek.clone(),
            registry: self.registry.clone(),
            pending_checks: self.pending_checks.clone(),
            wake: self.rollout_wake.clone(),
            renewal_wake: self.renewal_wake.clone(),
            clock: self.clock.clone(),
            events: self.events.clone(),
            alerts: self.alerts(),
        })
    }

    pub fn gateway(&self) -> Gateway {
        Gateway::new(GatewayParts {
            store: self.store.clone(),
            config: self.config.clone(),
            pki: self.pki.clone(),
            metrics: self.metrics.clone(),
            registry: self.registry.clone(),
            events: self.events.clone(),
            clock: self.clock.clone(),
            reports: Arc::new(self.rollouts()),
            writer: self.writer.clone(),
        })
    }

    pub fn console(&self) -> Console {
        Console::new(ConsoleParts {
            store: self.store.clone(),
            config: self.config.clone(),
            pki: self.pki.clone(),
            sessions: self.sessions.clone(),
            kek: self.kek.clone(),
            revoked: self.revoked.clone(),
            registry: self.registry.clone(),
            pending_checks: self.pending_checks.clone(),
            events: self.events.clone(),
            clock: self.clock.clone(),
            addresses: self.addresses.clone(),
            rollout_wake: self.rollout_wake.clone(),
            renewal_wake: self.renewal_wake.clone(),
            alerts: self.alerts(),
            logins: self.logins.clone(),
            ari: self.ari.clone(),
        })
    }
}

// What the web routers' handlers extract: a part, never the whole wiring.
impl FromRef<AppState> for Console {
    fn from_ref(state: &AppState) -> Self {
        state.console()
    }
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}

impl FromRef<AppState> for Events {
    fn from_ref(state: &AppState) -> Self {
        state.events.clone()
    }
}

impl FromRef<AppState> for Arc<Config> {
    fn from_ref(state: &AppState) -> Self {
        state.config.clone()
    }
}

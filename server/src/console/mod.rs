//! The console's core: one function per use case — log in, read the fleet, upload a
//! renewal, run a rollout, manage users, agents and alert settings — each taking the
//! caller (or a proof of their role) and a request, returning a typed result or an
//! [`Error`]. The role check and the audit entry happen here, once; the JSON API and the
//! dashboard are adapters that parse, call one of these and map the answer.

mod agents;
mod alerts;
mod ari;
mod audit;
mod ca_trust;
mod caller;
mod certificates;
mod error;
mod hosts;
mod issuance;
mod metrics;
mod obtain;
mod preflight;
mod renewal_columns;
mod renewals;
mod rollout_plan;
mod rollouts;
mod session;
mod throttle;
mod trust_first;
mod upload;
mod users;
mod windows;

pub use agents::{AgentStatus, AgentView, NewToken, TokenRow};
pub use alerts::{AlertSettings, AlertsView, OutboxEntry};
pub use ari::AriCache;
pub use audit::AuditEntry;
pub use ca_trust::IssuingCaView;
pub use caller::{Admin, Caller, Can, Level, Operator, Role, Viewer};
pub use certificates::{
    CertificateDetail, CertificatePage, CertificateQuery, CertificateRow, CertificateStatus,
    Overview, Summary,
};
pub use error::{Error, Refusal, Result};
pub use hosts::{EndpointRow, HostDetail, HostView, ManualStep};
pub use issuance::{SCHEDULER, ScheduledRenewal};
pub use renewals::{IssuanceRow, RenewalRow, UploadRequest};
pub use rollouts::{
    Control, HostVerdict, Proposal, RolloutRequest, RolloutRow, RolloutView, TargetChoice,
    TargetRow,
};
pub use session::{Edge, LoggedIn};
pub use throttle::LoginGuard;
pub use upload::check as check_upload;
pub use users::User;
pub use windows::{WindowRow, hhmm, utc_offset};

use std::sync::Arc;

use certfleet_store::Store;
use tokio::sync::Notify;

use crate::addresses::Addresses;
use crate::alerts::Alerts;
use crate::auth::Sessions;
use crate::clock::Clock;
use crate::config::Config;
use crate::connections::{PendingChecks, Registry};
use crate::events::{Events, LiveEvent};
use crate::pki::Pki;
use crate::secrets::Kek;
use crate::tls::RevocationList;

/// The use cases, over the services they need. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Console {
    store: Store,
    config: Arc<Config>,
    /// For the CA pin in enrolment tokens.
    pki: Arc<Pki>,
    sessions: Sessions,
    /// Seals uploaded private keys.
    kek: Kek,
    /// Refuses a revoked agent's next handshake.
    revoked: RevocationList,
    registry: Registry,
    pending_checks: PendingChecks,
    events: Events,
    clock: Clock,
    addresses: Addresses,
    /// Wakes the rollout scheduler when a rollout is created or steered.
    rollout_wake: Arc<Notify>,
    /// Wakes the renewal scheduler when a person asks for a renewal now.
    renewal_wake: Arc<Notify>,
    alerts: Alerts,
    logins: LoginGuard,
    /// What ACME CAs said about renewing their certificates (renewal information).
    ari: AriCache,
}

/// The handles [`Console`] is made of.
#[derive(Debug)]
pub struct ConsoleParts {
    pub store: Store,
    pub config: Arc<Config>,
    pub pki: Arc<Pki>,
    pub sessions: Sessions,
    pub kek: Kek,
    pub revoked: RevocationList,
    pub registry: Registry,
    pub pending_checks: PendingChecks,
    pub events: Events,
    pub clock: Clock,
    pub addresses: Addresses,
    pub rollout_wake: Arc<Notify>,
    pub renewal_wake: Arc<Notify>,
    pub alerts: Alerts,
    pub logins: LoginGuard,
    pub ari: AriCache,
}

impl Console {
    pub fn new(parts: ConsoleParts) -> Self {
        Console {
            store: parts.store,
            config: parts.config,
            pki: parts.pki,
            sessions: parts.sessions,
            kek: parts.kek,
            revoked: parts.revoked,
            registry: parts.registry,
            pending_checks: parts.pending_checks,
            events: parts.events,
            clock: parts.clock,
            addresses: parts.addresses,
            rollout_wake: parts.rollout_wake,
            renewal_wake: parts.renewal_wake,
            alerts: parts.alerts,
            logins: parts.logins,
            ari: parts.ari,
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

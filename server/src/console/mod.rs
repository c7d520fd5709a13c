//! The console's core: one function per use case — log in, read the fleet, upload a
//! renewal, run a rollout, manage users, agents and alert settings — each taking the
//! caller (or a proof of their role) and a request, returning a typed result or an
//! [`Error`]. The role check and the audit entry happen here, once; the JSON API and the
//! dashboard are adapters that parse, call one of these and map the answer.

mod agents;
mod alerts;
mod audit;
mod caller;
mod certificates;
mod error;
mod hosts;
mod preflight;
mod renewals;
mod rollout_plan;
mod rollouts;
mod session;
mod upload;
mod users;
mod windows;

pub use agents::{AgentStatus, AgentView, NewToken, TokenRow};
pub use alerts::{AlertSettings, AlertsView, OutboxEntry};
pub use audit::AuditEntry;
pub use caller::{Admin, Caller, Can, Level, Operator, Role, Viewer};
pub use certificates::{
    CertificateDetail, CertificatePage, CertificateQuery, CertificateRow, CertificateStatus,
    Overview, Summary,
};
pub use error::{Error, Refusal, Result};
pub use hosts::{EndpointRow, HostDetail, HostView};
pub use renewals::{RenewalRow, UploadRequest};
pub use rollouts::{
    Control, HostVerdict, Proposal, RolloutRequest, RolloutRow, RolloutView, TargetChoice,
    TargetRow,
};
pub use session::{Edge, LoggedIn};
pub use users::User;
pub use windows::{WindowRow, hhmm, utc_offset};

use axum::extract::FromRef;

use crate::state::AppState;

/// The use cases, over the services they need. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Console {
    state: AppState,
}

impl Console {
    pub fn new(state: AppState) -> Self {
        Console { state }
    }

    fn now_secs(&self) -> i64 {
        self.state.now_secs()
    }
}

impl FromRef<AppState> for Console {
    fn from_ref(state: &AppState) -> Self {
        Console::new(state.clone())
    }
}

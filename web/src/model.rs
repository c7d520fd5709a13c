//! What the pages show, as plain serialisable data: the same types on the server (where the
//! backend fills them) and in the browser (where pages render them). No private keys here,
//! ever: certificates are public material.

pub use certfleet_proto::{EndpointKind, RolloutState, Severity, TargetState, TrustVerdict};
use serde::{Deserialize, Serialize};

/// What a user may do: viewers read, operators also act on certificates and rollouts,
/// admins also manage agents, tokens and users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// The logged-in user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub must_change_password: bool,
}

/// Why a request from a page failed. Messages say what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum UiError {
    /// Not logged in (or the session expired).
    Unauthorized,
    Forbidden(String),
    NotFound(String),
    BadRequest(String),
    /// The console failed; details are in its log.
    Internal,
    /// Transport or encoding trouble between browser and console.
    Transport(String),
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UiError::Unauthorized => f.write_str("Log in first (your session may have expired)."),
            UiError::Forbidden(m) | UiError::BadRequest(m) => f.write_str(m),
            UiError::NotFound(what) => write!(f, "{what} not found."),
            UiError::Internal => f.write_str("The console failed; the details are in its log."),
            UiError::Transport(m) => write!(f, "Could not reach the console: {m}"),
        }
    }
}

impl std::error::Error for UiError {}

impl leptos::server_fn::error::FromServerFnError for UiError {
    type Encoder = crate::codec::JsonText;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        UiError::Transport(value.to_string())
    }
}

/// A certificate's state, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertStatus {
    Expired,
    Misconfigured,
    Expiring,
    Healthy,
}

impl CertStatus {
    pub fn label(self) -> &'static str {
        match self {
            CertStatus::Expired => "Expired",
            CertStatus::Misconfigured => "Misconfigured",
            CertStatus::Expiring => "Expiring",
            CertStatus::Healthy => "Healthy",
        }
    }

    pub fn class(self) -> &'static str {
        match self {
            CertStatus::Expired => "expired",
            CertStatus::Misconfigured => "misconfigured",
            CertStatus::Expiring => "expiring",
            CertStatus::Healthy => "healthy",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub certificates: i64,
    pub expired: i64,
    pub expiring_7_days: i64,
    pub expiring_30_days: i64,
    pub healthy: i64,
    pub misconfigured: i64,
    pub agents_online: i64,
    pub agents_offline: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertItem {
    pub sha256: String,
    pub thumbprint: String,
    pub subject: String,
    pub issuer: String,
    pub names: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
    pub days_left: i64,
    pub status: CertStatus,
    pub endpoints: i64,
    pub errors: i64,
    pub warnings: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    pub counts: Counts,
    /// Certificates expiring on each of the next 90 days (index 0 = today).
    pub timeline: Vec<i64>,
    /// The ten most urgent certificates.
    pub urgent: Vec<CertItem>,
}

/// Filters of the certificates table; every field is optional. Also the page's URL query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertQuery {
    pub status: Option<String>,
    /// A host's id, or part of its name.
    pub host: Option<String>,
    pub issuer: Option<String>,
    /// Only those with at most this many days left.
    #[serde(alias = "expiring_within")]
    pub days: Option<i64>,
    /// Endpoint kind: `apache`, `pem`, `sage300`.
    pub purpose: Option<String>,
    /// Name, subject or thumbprint (pasted forms are cleaned).
    pub q: Option<String>,
    /// `untrusted`: only those some client machine does not trust.
    pub clients: Option<String>,
    /// `expiry` (default), `-expiry`, `subject`.
    pub sort: Option<String>,
    /// Cursor from the previous page.
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertPage {
    pub items: Vec<CertItem>,
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingItem {
    pub code: String,
    pub severity: Severity,
    pub message: String,
    pub certificate: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointItem {
    pub host_id: i64,
    pub hostname: String,
    pub kind: EndpointKind,
    pub name: String,
    pub address: Option<String>,
    pub config_path: Option<String>,
    pub configured_sha256: Option<String>,
    pub served_sha256: Option<String>,
    pub errors: Vec<String>,
    pub findings: Vec<FindingItem>,
    /// The client machines that must trust this endpoint, with their last verdict.
    #[serde(default)]
    pub clients: Vec<TrustItem>,
}

/// One client machine's verdict on one server it must trust.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustItem {
    pub host_id: i64,
    pub hostname: String,
    /// `host:port`, as the client is configured.
    pub endpoint: String,
    pub server_name: String,
    pub verdict: TrustVerdict,
    pub reason: String,
    /// The trust store the client judged against.
    pub store: String,
    /// When this verdict was first reported.
    pub since: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertDetail {
    pub item: CertItem,
    pub serial: String,
    pub ip_addresses: Vec<String>,
    pub key: String,
    pub signature_algorithm: String,
    pub self_signed: bool,
    pub pem: String,
    pub endpoints: Vec<EndpointItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostItem {
    pub id: i64,
    pub hostname: String,
    pub fqdn: String,
    pub os: String,
    pub groups: Vec<String>,
    pub agent_version: Option<String>,
    pub last_seen_at: Option<i64>,
    pub online: bool,
    pub revoked: bool,
    pub endpoints: i64,
    pub errors: i64,
    pub warnings: i64,
    pub next_expiry: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostDetail {
    pub host: HostItem,
    pub endpoints: Vec<EndpointItem>,
    /// Facts of the certificates its endpoints name or serve, by SHA-256.
    pub certificates: Vec<CertItem>,
    /// Groups set in the console (the agent's own come from its configuration).
    pub labels: Vec<String>,
    pub can_label: bool,
    /// The servers this host must trust (a client machine), with its verdicts.
    pub trust: Vec<TrustItem>,
    /// What is left to a person (after a connector's first https: the BPA Platform side).
    pub manual_steps: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Online,
    Offline,
    Revoked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentItem {
    pub id: String,
    pub host_id: Option<i64>,
    pub hostname: Option<String>,
    pub version: Option<String>,
    pub status: AgentStatus,
    pub last_seen_at: Option<i64>,
    pub enrolled_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewToken {
    pub token: String,
    pub expires_at: i64,
    /// Enrol commands.
    pub linux: String,
    pub windows: String,
    /// Install commands (download + hash check), when the console has the binaries.
    pub install_linux: Option<String>,
    pub install_windows: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditItem {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserItem {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub must_change_password: bool,
}

/// The alert settings as the form shows and posts them: text as typed, lists one per line
/// or comma-separated. The SMTP password is never part of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertForm {
    pub smtp_host: String,
    pub smtp_port: String,
    /// `starttls`, `tls` or `none`.
    pub security: String,
    pub username: String,
    pub from: String,
    pub base_url: String,
    pub recipients: String,
    /// One group per line: `esync: team@example.com, other@example.com`.
    pub group_recipients: String,
    pub thresholds: String,
    /// `HH:MM` UTC, or `off`.
    pub digest_at: String,
    pub offline_after_minutes: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertPage {
    pub form: AlertForm,
    pub password_set: bool,
    /// Saved on the settings page (otherwise the configuration file's).
    pub saved_on_page: bool,
    /// A relay and at least one recipient are set.
    pub enabled: bool,
    /// The latest emails, newest first.
    pub outbox: Vec<OutboxItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub subject: String,
    pub recipients: Vec<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// An uploaded renewed certificate (never its key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewalItem {
    pub id: i64,
    pub subject: String,
    pub dns_names: Vec<String>,
    pub issuer: String,
    pub not_after: i64,
    pub sha256: String,
    pub thumbprint: String,
    pub warnings: Vec<String>,
    pub uploaded_by: String,
    pub uploaded_at: i64,
}

/// An endpoint a renewal policy renews: when, from where, and how its last renewal went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleItem {
    pub host_id: i64,
    pub hostname: String,
    pub endpoint_key: String,
    pub endpoint_name: String,
    pub group: String,
    /// `internal CA` or `ACME`.
    pub source: String,
    pub not_after: i64,
    pub renews_at: i64,
    /// The last renewal's state word (`verified`, `failed`, `rolling out`, …), if any.
    pub last_state: Option<String>,
    pub last_detail: String,
    pub last_rollout_id: Option<i64>,
}

/// What the renewal policies renew and when, with the issuing CA they use (one answer, as the
/// overview and the Renewals page both show it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewalSchedule {
    pub rows: Vec<ScheduleItem>,
    /// The viewer may press "Renew now".
    pub can_renew: bool,
    /// None before the first internal-CA renewal makes it.
    pub issuing_ca: Option<IssuingCaItem>,
}

/// The issuing CA for internal names, and the client machines served what it issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuingCaItem {
    pub subject: String,
    pub issuer: String,
    pub sha256: String,
    pub not_after: i64,
    pub permitted: Vec<String>,
    /// Signed by an enterprise CA.
    pub subordinate: bool,
    pub clients: Vec<CaClientItem>,
}

/// One client's verdict on a server that serves a certificate the issuing CA issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaClientItem {
    pub host_id: i64,
    pub hostname: String,
    /// `name:port`, as the client reaches it.
    pub server: String,
    pub verdict: String,
    pub trusted: bool,
    pub reason: String,
    pub since: i64,
}

/// One endpoint a renewal could go to, with the console's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanItem {
    pub host_id: i64,
    pub hostname: String,
    pub endpoint_key: String,
    pub endpoint_name: String,
    pub kind: EndpointKind,
    pub online: bool,
    pub current_sha256: String,
    pub current_not_after: i64,
    pub proposed: bool,
    /// The host that served this endpoint's names first, until an operator accepts it.
    pub contested_by: Option<String>,
    pub problems: Vec<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutItem {
    pub id: i64,
    pub renewal_id: i64,
    pub subject: String,
    pub state: RolloutState,
    pub start_at: i64,
    pub time_zone: String,
    pub max_failures: i64,
    pub created_by: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    pub detail: String,
    pub targets: i64,
    pub verified: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetItem {
    pub id: i64,
    pub host_id: i64,
    pub hostname: String,
    pub endpoint_name: String,
    pub endpoint_key: String,
    pub wave: i64,
    pub state: TargetState,
    pub step: String,
    pub detail: String,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewalPage {
    pub renewal: RenewalItem,
    pub plan: Vec<PlanItem>,
    pub rollouts: Vec<RolloutItem>,
    pub can_roll_out: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutDetail {
    pub rollout: RolloutItem,
    pub renewal: RenewalItem,
    pub targets: Vec<TargetItem>,
    pub can_control: bool,
}

/// The rollout form as typed: `targets` are `host_id|endpoint_key` of the ticked boxes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutForm {
    pub renewal_id: i64,
    #[serde(default)]
    pub targets: Vec<String>,
    /// Empty: now; else a date and time with its offset, `2026-12-05T02:00+01:00`.
    #[serde(default)]
    pub start_at: String,
    #[serde(default)]
    pub wave_hosts: String,
    #[serde(default)]
    pub max_failures: String,
}

/// A host's own preflight verdict for one endpoint of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCheck {
    pub hostname: String,
    pub endpoint_name: String,
    /// `passed`, `refused` or `no answer`.
    pub verdict: String,
    pub detail: String,
}

/// A maintenance window as shown and typed: `HH:MM` times and a `+01:00` offset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowItem {
    #[serde(default)]
    pub id: i64,
    pub group_name: String,
    /// `sat,sun`
    pub weekdays: String,
    pub start: String,
    pub end: String,
    /// `+01:00`, `-05:00`, or empty for UTC.
    #[serde(default)]
    pub utc_offset: String,
}

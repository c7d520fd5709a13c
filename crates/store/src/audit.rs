//! The audit log: who did what, when. Written for every admin action and security event.

use serde::Serialize;

use crate::{Result, Store};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
}

/// What an audit entry records: the fixed words of the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    Login,
    LoginFailed,
    Logout,
    PasswordChanged,
    UserCreated,
    UserRoleSet,
    UserDisabled,
    UserEnabled,
    TokenCreated,
    AgentEnrolled,
    AgentEnrollmentRefused,
    AgentRevoked,
    AgentCertificateRenewed,
    AgentCertificateAdopted,
    HostLabelsSet,
    EndpointAccepted,
    ClientsAttached,
    ClientsDetached,
    KeysRotated,
    /// A sub-CA request for an enterprise PKI was written.
    IssuingCaRequested,
    /// An enterprise-signed sub-CA became the issuing CA.
    IssuingCaInstalled,
    AlertSettingsSaved,
    AlertTestEmail,
    RenewalUploaded,
    RenewalRefused,
    RenewalPreflight,
    /// A renewal the console obtains itself (internal CA, ACME) was started.
    RenewalStarted,
    RenewalFailed,
    RenewalVerified,
    WindowAdded,
    WindowDeleted,
    RolloutCreated,
    RolloutStarted,
    RolloutPaused,
    RolloutResumed,
    RolloutCancelled,
    RolloutSucceeded,
    RolloutFailed,
    TargetVerified,
    TargetRolledBack,
    TargetFailed,
}

impl AuditAction {
    /// The word stored (and shown on the Audit page).
    pub fn as_str(self) -> &'static str {
        use AuditAction::*;
        match self {
            Login => "login",
            LoginFailed => "login.failed",
            Logout => "logout",
            PasswordChanged => "password.changed",
            UserCreated => "user.created",
            UserRoleSet => "user.role_set",
            UserDisabled => "user.disabled",
            UserEnabled => "user.enabled",
            TokenCreated => "token.created",
            AgentEnrolled => "agent.enrolled",
            AgentEnrollmentRefused => "agent.enrollment_refused",
            AgentRevoked => "agent.revoked",
            AgentCertificateRenewed => "agent.certificate_renewed",
            AgentCertificateAdopted => "agent.certificate_adopted",
            HostLabelsSet => "host.labels_set",
            EndpointAccepted => "host.endpoint_accepted",
            ClientsAttached => "host.clients_attached",
            ClientsDetached => "host.clients_detached",
            KeysRotated => "keys.rotated",
            IssuingCaRequested => "issuing_ca.requested",
            IssuingCaInstalled => "issuing_ca.installed",
            AlertSettingsSaved => "alerts.settings_saved",
            AlertTestEmail => "alerts.test_email",
            RenewalUploaded => "renewal.uploaded",
            RenewalRefused => "renewal.refused",
            RenewalPreflight => "renewal.preflight",
            RenewalStarted => "renewal.started",
            RenewalFailed => "renewal.failed",
            RenewalVerified => "renewal.verified",
            WindowAdded => "window.added",
            WindowDeleted => "window.deleted",
            RolloutCreated => "rollout.created",
            RolloutStarted => "rollout.started",
            RolloutPaused => "rollout.pause",
            RolloutResumed => "rollout.resume",
            RolloutCancelled => "rollout.cancel",
            RolloutSucceeded => "rollout.succeeded",
            RolloutFailed => "rollout.failed",
            TargetVerified => "rollout.target_verified",
            TargetRolledBack => "rollout.target_rolled_back",
            TargetFailed => "rollout.target_failed",
        }
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The most an audit field keeps, in bytes.
pub const AUDIT_TEXT_BYTES: usize = 256;

/// `text` cut at a character boundary to fit [`AUDIT_TEXT_BYTES`], marked when cut.
fn bounded(text: &str) -> String {
    if text.len() <= AUDIT_TEXT_BYTES {
        return text.to_owned();
    }
    let mut end = AUDIT_TEXT_BYTES - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl Store {
    /// Appends an entry. Actor, target and detail may carry what someone typed or an agent
    /// sent (a 10 kB "user name" at the login form): each is cut to [`AUDIT_TEXT_BYTES`].
    pub async fn audit(
        &self,
        at: i64,
        actor: &str,
        action: AuditAction,
        target: Option<&str>,
        detail: Option<&str>,
    ) -> Result<()> {
        let action = action.as_str();
        let actor = bounded(actor);
        let target = target.map(bounded);
        let detail = detail.map(bounded);
        sqlx::query!(
            "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            at,
            actor,
            action,
            target,
            detail
        )
        .execute(&self.writes)
        .await?;
        Ok(())
    }

    /// Newest first; `before` is the id of the last row of the previous page.
    pub async fn audit_log(&self, before: Option<i64>, limit: i64) -> Result<Vec<AuditRow>> {
        let before = before.unwrap_or(i64::MAX);
        Ok(sqlx::query_as!(
            AuditRow,
            "SELECT id, at, actor, action, target, detail FROM audit_log
             WHERE id < ? ORDER BY id DESC LIMIT ?",
            before,
            limit
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

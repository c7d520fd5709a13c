//! The console behind the pages (ssr only). The server implements `Backend` over its store,
//! PKI and gateway and provides it as Leptos context; server functions never see SQL or the
//! server's types, and every permission is checked inside the implementation.

use std::sync::Arc;

use axum::http::request::Parts;

use crate::model::*;

#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The user of the request's session. For a change (`changing`), the request must also
    /// come from the console's own pages (Origin check).
    async fn viewer(&self, parts: &Parts, changing: bool) -> Result<Viewer, UiError>;
    /// Checks the password; on success returns the user and the `Set-Cookie` value. Like
    /// any change, only from the console's own pages (no login CSRF).
    async fn login(
        &self,
        parts: &Parts,
        username: &str,
        password: &str,
    ) -> Result<(Viewer, String), UiError>;
    /// Changes the password; every session of the user ends, and the `Set-Cookie` value
    /// returned is this browser's new one.
    async fn change_password(
        &self,
        viewer: &Viewer,
        current: &str,
        new: &str,
    ) -> Result<String, UiError>;
    /// Ends every session of the user, on every device.
    async fn logout(&self, viewer: &Viewer) -> Result<(), UiError>;
    async fn overview(&self, viewer: &Viewer) -> Result<Overview, UiError>;
    async fn certificates(
        &self,
        viewer: &Viewer,
        query: &CertQuery,
        limit: i64,
    ) -> Result<CertPage, UiError>;
    async fn certificate(&self, viewer: &Viewer, sha256: &str) -> Result<CertDetail, UiError>;
    async fn hosts(&self, viewer: &Viewer) -> Result<Vec<HostItem>, UiError>;
    async fn host(&self, viewer: &Viewer, id: i64) -> Result<HostDetail, UiError>;
    async fn agents(&self, viewer: &Viewer) -> Result<Vec<AgentItem>, UiError>;
    async fn create_token(
        &self,
        viewer: &Viewer,
        hours: u64,
        host: Option<String>,
    ) -> Result<NewToken, UiError>;
    async fn revoke_agent(&self, viewer: &Viewer, agent_id: &str) -> Result<(), UiError>;
    async fn audit(&self, viewer: &Viewer, before: Option<i64>) -> Result<Vec<AuditItem>, UiError>;
    async fn users(&self, viewer: &Viewer) -> Result<Vec<UserItem>, UiError>;
    /// Creates a user; returns the one-time password to hand over.
    async fn add_user(
        &self,
        viewer: &Viewer,
        username: &str,
        role: Role,
    ) -> Result<String, UiError>;
    async fn set_role(&self, viewer: &Viewer, user_id: i64, role: Role) -> Result<(), UiError>;
    async fn set_disabled(
        &self,
        viewer: &Viewer,
        user_id: i64,
        disabled: bool,
    ) -> Result<(), UiError>;
    async fn alert_settings(&self, viewer: &Viewer) -> Result<AlertPage, UiError>;
    async fn check_renewal(&self, viewer: &Viewer, id: i64) -> Result<Vec<HostCheck>, UiError>;
    async fn windows(&self, viewer: &Viewer) -> Result<(Vec<WindowItem>, bool), UiError>;
    async fn add_window(&self, viewer: &Viewer, window: &WindowItem) -> Result<(), UiError>;
    async fn delete_window(&self, viewer: &Viewer, id: i64) -> Result<(), UiError>;
    async fn set_host_labels(
        &self,
        viewer: &Viewer,
        host_id: i64,
        labels: &str,
    ) -> Result<Vec<String>, UiError>;
    /// Accepts an endpoint whose names another host served first.
    async fn accept_endpoint(
        &self,
        viewer: &Viewer,
        host_id: i64,
        endpoint_key: &str,
    ) -> Result<(), UiError>;
    async fn renewals(
        &self,
        viewer: &Viewer,
    ) -> Result<(Vec<RenewalItem>, Vec<RolloutItem>), UiError>;
    async fn renewal(&self, viewer: &Viewer, id: i64) -> Result<RenewalPage, UiError>;
    /// Endpoints under a renewal policy, and whether the viewer may renew one now.
    async fn renewal_schedule(&self, viewer: &Viewer) -> Result<RenewalSchedule, UiError>;
    async fn renew_now(
        &self,
        viewer: &Viewer,
        host_id: i64,
        endpoint_key: &str,
    ) -> Result<(), UiError>;
    async fn start_rollout(&self, viewer: &Viewer, form: &RolloutForm) -> Result<i64, UiError>;
    async fn rollout(&self, viewer: &Viewer, id: i64) -> Result<RolloutDetail, UiError>;
    async fn control_rollout(&self, viewer: &Viewer, id: i64, action: &str) -> Result<(), UiError>;
    /// Saves the settings; a non-empty `password` replaces the stored SMTP password.
    async fn save_alert_settings(
        &self,
        viewer: &Viewer,
        form: &AlertForm,
        password: Option<String>,
    ) -> Result<(), UiError>;
    /// Sends a test email with the saved settings; returns the SMTP server's answer.
    async fn send_test_email(&self, viewer: &Viewer, to: &str) -> Result<String, UiError>;
}

/// What the server provides as context.
pub type SharedBackend = Arc<dyn Backend>;

/// The backend and the user of the current request.
pub async fn session(changing: bool) -> Result<(SharedBackend, Viewer), UiError> {
    let backend = leptos::prelude::use_context::<SharedBackend>().ok_or(UiError::Internal)?;
    let parts: Parts = leptos_axum::extract()
        .await
        .map_err(|_| UiError::Internal)?;
    let viewer = backend.viewer(&parts, changing).await?;
    Ok((backend, viewer))
}

pub fn backend() -> Result<SharedBackend, UiError> {
    leptos::prelude::use_context::<SharedBackend>().ok_or(UiError::Internal)
}

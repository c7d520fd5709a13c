//! Server functions: the pages' only way to the console. Each one authenticates the request
//! and leaves every permission check to the backend. Reads are GET-free POSTs like all server
//! functions; changes also pass the Origin check.

use leptos::prelude::*;

use crate::model::*;

#[cfg(feature = "ssr")]
use crate::backend::{backend, session};

/// A plain HTML form (no JavaScript) posted here: send the browser on to `path`. With
/// JavaScript the page navigates itself, after the session is in place.
#[cfg(feature = "ssr")]
async fn redirect_plain_form(path: &str) {
    let headers: axum::http::HeaderMap = leptos_axum::extract().await.unwrap_or_default();
    let html = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if html {
        leptos_axum::redirect(path);
    }
}

/// The logged-in user, or `None`.
#[server(prefix = "/ui", endpoint = "viewer", output = crate::codec::Json)]
pub async fn current_viewer() -> Result<Option<Viewer>, UiError> {
    match session(false).await {
        Ok((_, viewer)) => Ok(Some(viewer)),
        Err(UiError::Unauthorized) => Ok(None),
        Err(e) => Err(e),
    }
}

#[server(prefix = "/ui", endpoint = "login", output = crate::codec::Json)]
pub async fn login(username: String, password: String) -> Result<Viewer, UiError> {
    let parts: axum::http::request::Parts = leptos_axum::extract()
        .await
        .map_err(|_| UiError::Internal)?;
    let (viewer, cookie) = backend()?.login(&parts, &username, &password).await?;
    let response = expect_context::<leptos_axum::ResponseOptions>();
    if let Ok(value) = axum::http::HeaderValue::from_str(&cookie) {
        response.insert_header(axum::http::header::SET_COOKIE, value);
    }
    redirect_plain_form(if viewer.must_change_password {
        "/password"
    } else {
        "/"
    })
    .await;
    Ok(viewer)
}

#[server(prefix = "/ui", endpoint = "logout", output = crate::codec::Json)]
pub async fn logout() -> Result<(), UiError> {
    // Ends the user's sessions everywhere when this one is still good; the cookie goes
    // either way.
    if let Ok((backend, viewer)) = session(true).await {
        backend.logout(&viewer).await?;
    }
    let response = expect_context::<leptos_axum::ResponseOptions>();
    if let Ok(value) = axum::http::HeaderValue::from_str(
        "certfleet_session=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0",
    ) {
        response.insert_header(axum::http::header::SET_COOKIE, value);
    }
    redirect_plain_form("/login").await;
    Ok(())
}

#[server(prefix = "/ui", endpoint = "password", output = crate::codec::Json)]
pub async fn change_password(current: String, new: String) -> Result<(), UiError> {
    let (backend, viewer) = session(true).await?;
    let cookie = backend.change_password(&viewer, &current, &new).await?;
    let response = expect_context::<leptos_axum::ResponseOptions>();
    if let Ok(value) = axum::http::HeaderValue::from_str(&cookie) {
        response.insert_header(axum::http::header::SET_COOKIE, value);
    }
    redirect_plain_form("/").await;
    Ok(())
}

#[server(prefix = "/ui", endpoint = "overview", output = crate::codec::Json)]
pub async fn get_overview() -> Result<Overview, UiError> {
    let (backend, viewer) = session(false).await?;
    backend.overview(&viewer).await
}

#[server(prefix = "/ui", endpoint = "certificates", output = crate::codec::Json)]
pub async fn get_certificates(query: CertQuery) -> Result<CertPage, UiError> {
    let (backend, viewer) = session(false).await?;
    backend.certificates(&viewer, &query, 50).await
}

#[server(prefix = "/ui", endpoint = "certificate", output = crate::codec::Json)]
pub async fn get_certificate(sha256: String) -> Result<CertDetail, UiError> {
    let (backend, viewer) = session(false).await?;
    backend.certificate(&viewer, &sha256).await
}

#[server(prefix = "/ui", endpoint = "hosts", output = crate::codec::Json)]
pub async fn get_hosts() -> Result<Vec<HostItem>, UiError> {
    let (backend, viewer) = session(false).await?;
    backend.hosts(&viewer).await
}

#[server(prefix = "/ui", endpoint = "host", output = crate::codec::Json)]
pub async fn get_host(id: i64) -> Result<HostDetail, UiError> {
    let (backend, viewer) = session(false).await?;
    backend.host(&viewer, id).await
}

#[server(prefix = "/ui", endpoint = "agents", output = crate::codec::Json)]
pub async fn get_agents() -> Result<Vec<AgentItem>, UiError> {
    let (backend, viewer) = session(false).await?;
    backend.agents(&viewer).await
}

#[server(prefix = "/ui", endpoint = "create_token", output = crate::codec::Json)]
pub async fn create_token(hours: Option<u64>, host: Option<String>) -> Result<NewToken, UiError> {
    let (backend, viewer) = session(true).await?;
    let host = host.filter(|h| !h.trim().is_empty());
    backend
        .create_token(&viewer, hours.unwrap_or(24), host)
        .await
}

#[server(prefix = "/ui", endpoint = "revoke_agent", output = crate::codec::Json)]
pub async fn revoke_agent(agent_id: String) -> Result<(), UiError> {
    let (backend, viewer) = session(true).await?;
    backend.revoke_agent(&viewer, &agent_id).await
}

#[server(prefix = "/ui", endpoint = "audit", output = crate::codec::Json)]
pub async fn get_audit(before: Option<i64>) -> Result<Vec<AuditItem>, UiError> {
    let (backend, viewer) = session(false).await?;
    backend.audit(&viewer, before).await
}

#[server(prefix = "/ui", endpoint = "users", output = crate::codec::Json)]
pub async fn get_users() -> Result<Vec<UserItem>, UiError> {
    let (backend, viewer) = session(false).await?;
    backend.users(&viewer).await
}

#[server(prefix = "/ui", endpoint = "add_user", output = crate::codec::Json)]
pub async fn add_user(username: String, role: String) -> Result<String, UiError> {
    let (backend, viewer) = session(true).await?;
    let role =
        Role::parse(&role).ok_or_else(|| UiError::BadRequest(format!("{role:?} is not a role")))?;
    backend.add_user(&viewer, username.trim(), role).await
}

#[server(prefix = "/ui", endpoint = "set_role", output = crate::codec::Json)]
pub async fn set_role(user_id: i64, role: String) -> Result<(), UiError> {
    let (backend, viewer) = session(true).await?;
    let role =
        Role::parse(&role).ok_or_else(|| UiError::BadRequest(format!("{role:?} is not a role")))?;
    backend.set_role(&viewer, user_id, role).await
}

#[server(prefix = "/ui", endpoint = "set_disabled", output = crate::codec::Json)]
pub async fn set_disabled(user_id: i64, disabled: bool) -> Result<(), UiError> {
    let (backend, viewer) = session(true).await?;
    backend.set_disabled(&viewer, user_id, disabled).await
}

#[server(prefix = "/ui", endpoint = "alert_settings", output = crate::codec::Json)]
pub async fn get_alert_settings() -> Result<AlertPage, UiError> {
    let (backend, viewer) = session(false).await?;
    backend.alert_settings(&viewer).await
}

#[server(prefix = "/ui", endpoint = "save_alert_settings", output = crate::codec::Json)]
pub async fn save_alert_settings(
    settings: AlertForm,
    password: Option<String>,
) -> Result<(), UiError> {
    let (backend, viewer) = session(true).await?;
    let password = password.filter(|p| !p.is_empty());
    backend
        .save_alert_settings(&viewer, &settings, password)
        .await
}

#[server(prefix = "/ui", endpoint = "test_email", output = crate::codec::Json)]
pub async fn send_test_email(to: String) -> Result<String, UiError> {
    let (backend, viewer) = session(true).await?;
    backend.send_test_email(&viewer, to.trim()).await
}

#[server(prefix = "/ui", endpoint = "renewals", output = crate::codec::Json)]
pub async fn get_renewals() -> Result<(Vec<RenewalItem>, Vec<RolloutItem>), UiError> {
    let (backend, viewer) = session(false).await?;
    backend.renewals(&viewer).await
}

#[server(prefix = "/ui", endpoint = "renewal", output = crate::codec::Json)]
pub async fn get_renewal(id: i64) -> Result<RenewalPage, UiError> {
    let (backend, viewer) = session(false).await?;
    backend.renewal(&viewer, id).await
}

#[server(prefix = "/ui", endpoint = "start_rollout", output = crate::codec::Json)]
pub async fn start_rollout(form: RolloutForm) -> Result<i64, UiError> {
    let (backend, viewer) = session(true).await?;
    let id = backend.start_rollout(&viewer, &form).await?;
    redirect_plain_form(&format!("/rollouts/{id}")).await;
    Ok(id)
}

#[server(prefix = "/ui", endpoint = "renewal_schedule", output = crate::codec::Json)]
pub async fn get_renewal_schedule() -> Result<RenewalSchedule, UiError> {
    let (backend, viewer) = session(false).await?;
    backend.renewal_schedule(&viewer).await
}

/// Renews one endpoint now, by its group's policy.
#[server(prefix = "/ui", endpoint = "renew_now", output = crate::codec::Json)]
pub async fn renew_now(host_id: i64, endpoint_key: String) -> Result<(), UiError> {
    let (backend, viewer) = session(true).await?;
    backend.renew_now(&viewer, host_id, &endpoint_key).await?;
    redirect_plain_form("/renewals").await;
    Ok(())
}

/// Accepts an endpoint the plan of renewal `renewal_id` shows as new.
#[server(prefix = "/ui", endpoint = "accept_endpoint", output = crate::codec::Json)]
pub async fn accept_endpoint(
    renewal_id: i64,
    host_id: i64,
    endpoint_key: String,
) -> Result<(), UiError> {
    let (backend, viewer) = session(true).await?;
    backend
        .accept_endpoint(&viewer, host_id, &endpoint_key)
        .await?;
    redirect_plain_form(&format!("/renewals/{renewal_id}")).await;
    Ok(())
}

#[server(prefix = "/ui", endpoint = "rollout", output = crate::codec::Json)]
pub async fn get_rollout(id: i64) -> Result<RolloutDetail, UiError> {
    let (backend, viewer) = session(false).await?;
    backend.rollout(&viewer, id).await
}

#[server(prefix = "/ui", endpoint = "control_rollout", output = crate::codec::Json)]
pub async fn control_rollout(id: i64, action: String) -> Result<(), UiError> {
    let (backend, viewer) = session(true).await?;
    backend.control_rollout(&viewer, id, &action).await?;
    redirect_plain_form(&format!("/rollouts/{id}")).await;
    Ok(())
}

#[server(prefix = "/ui", endpoint = "set_host_labels", output = crate::codec::Json)]
pub async fn set_host_labels(host_id: i64, labels: String) -> Result<Vec<String>, UiError> {
    let (backend, viewer) = session(true).await?;
    let groups = backend.set_host_labels(&viewer, host_id, &labels).await?;
    redirect_plain_form(&format!("/hosts/{host_id}")).await;
    Ok(groups)
}

#[server(prefix = "/ui", endpoint = "windows", output = crate::codec::Json)]
pub async fn get_windows() -> Result<(Vec<WindowItem>, bool), UiError> {
    let (backend, viewer) = session(false).await?;
    backend.windows(&viewer).await
}

#[server(prefix = "/ui", endpoint = "add_window", output = crate::codec::Json)]
pub async fn add_window(window: WindowItem) -> Result<(), UiError> {
    let (backend, viewer) = session(true).await?;
    backend.add_window(&viewer, &window).await?;
    redirect_plain_form("/renewals").await;
    Ok(())
}

#[server(prefix = "/ui", endpoint = "delete_window", output = crate::codec::Json)]
pub async fn delete_window(id: i64) -> Result<(), UiError> {
    let (backend, viewer) = session(true).await?;
    backend.delete_window(&viewer, id).await?;
    redirect_plain_form("/renewals").await;
    Ok(())
}

#[server(prefix = "/ui", endpoint = "check_renewal", output = crate::codec::Json)]
pub async fn check_renewal(id: i64) -> Result<Vec<HostCheck>, UiError> {
    let (backend, viewer) = session(true).await?;
    backend.check_renewal(&viewer, id).await
}

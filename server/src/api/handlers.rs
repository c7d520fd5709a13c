//! The API's handlers. Each one states the role it needs first.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use certfleet_store::{AgentRow, CertificateRow, HostRow, Role};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::auth::{self, AuthUser, Sessions};
use crate::error::ApiError;
use crate::state::AppState;

fn rfc3339(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

// --- session ------------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Serialize)]
struct LoginResponse {
    token: String,
    username: String,
    role: Role,
    must_change_password: bool,
}

pub async fn login(
    State(state): State<AppState>,
    Json(request): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let now = state.now_secs();
    let user = state.store.user_by_name(&request.username).await?;
    let valid = match &user {
        Some(u) if !u.disabled => auth::verify_password(&request.password, &u.password_hash),
        _ => {
            auth::equalise_timing(&request.password);
            false
        }
    };
    let Some(user) = user.filter(|_| valid) else {
        state
            .store
            .audit(now, &request.username, "login.failed", None, None)
            .await?;
        return Err(ApiError::Forbidden("wrong user name or password".into()));
    };
    let token = state
        .sessions
        .issue(user.id, &user.username, user.role, now)?;
    state
        .store
        .audit(now, &user.username, "login", None, None)
        .await?;
    let body = LoginResponse {
        token: token.clone(),
        username: user.username,
        role: user.role,
        must_change_password: user.must_change_password,
    };
    Ok(([(header::SET_COOKIE, Sessions::cookie(&token))], Json(body)).into_response())
}

pub async fn logout() -> Response {
    (
        [(header::SET_COOKIE, Sessions::clear_cookie())],
        StatusCode::NO_CONTENT,
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct PasswordChange {
    current: String,
    new: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    user: AuthUser,
    Json(change): Json<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    auth::check_new_password(&change.current, &change.new).map_err(ApiError::BadRequest)?;
    let row = state
        .store
        .user_by_id(user.id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if !auth::verify_password(&change.current, &row.password_hash) {
        return Err(ApiError::Forbidden("the current password is wrong".into()));
    }
    let hash = auth::hash_password(&change.new)?;
    state.store.set_password(user.id, &hash, false).await?;
    state
        .store
        .audit(state.now_secs(), &user.name, "password.changed", None, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(user: AuthUser) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "username": user.name,
        "role": user.role,
        "must_change_password": user.must_change_password,
    }))
}

// --- reading ------------------------------------------------------------------------------

pub async fn summary(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<certfleet_store::Summary>, ApiError> {
    user.require(Role::Viewer)?;
    Ok(Json(
        state
            .store
            .summary(state.now_secs(), state.config.offline_after_secs())
            .await?,
    ))
}

#[derive(Serialize)]
struct HostView {
    #[serde(flatten)]
    host: HostRow,
    online: bool,
}

fn host_view(state: &AppState, host: HostRow) -> HostView {
    let fresh = host
        .last_seen_at
        .is_some_and(|t| t >= state.now_secs() - state.config.offline_after_secs());
    HostView {
        online: fresh && !host.revoked,
        host,
    }
}

pub async fn hosts(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    user.require(Role::Viewer)?;
    let hosts = state.store.hosts().await?;
    Ok(Json(
        hosts
            .into_iter()
            .map(|h| serde_json::to_value(host_view(&state, h)).unwrap_or_default())
            .collect(),
    ))
}

pub async fn host(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    user.require(Role::Viewer)?;
    let host = state
        .store
        .host(id)
        .await?
        .ok_or(ApiError::NotFound("host"))?;
    let endpoints = state.store.endpoints(Some(id), None).await?;
    let mut value = serde_json::to_value(host_view(&state, host)).unwrap_or_default();
    value["endpoint_details"] = serde_json::to_value(endpoints).unwrap_or_default();
    Ok(Json(value))
}

#[derive(Serialize)]
struct CertificateView {
    #[serde(flatten)]
    row: CertificateRow,
    not_before_utc: String,
    not_after_utc: String,
    days_left: i64,
}

fn certificate_view(row: CertificateRow, now: i64) -> CertificateView {
    CertificateView {
        not_before_utc: rfc3339(row.not_before),
        not_after_utc: rfc3339(row.not_after),
        days_left: (row.not_after - now).div_euclid(86_400),
        row,
    }
}

#[derive(Deserialize)]
pub struct CertificateQuery {
    #[serde(flatten)]
    query: certfleet_web::model::CertQuery,
    limit: Option<i64>,
}

pub async fn certificates(
    State(state): State<AppState>,
    user: AuthUser,
    Query(query): Query<CertificateQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    user.require(Role::Viewer)?;
    let now = state.now_secs();
    let filter = crate::ui::certificate_filter(&query.query, now, query.limit.unwrap_or(50))
        .map_err(ApiError::BadRequest)?;
    let page = state.store.certificates(&filter).await?;
    let items: Vec<CertificateView> = page
        .items
        .into_iter()
        .map(|row| certificate_view(row, now))
        .collect();
    Ok(Json(serde_json::json!({
        "items": items,
        "next": crate::ui::cursor(page.next),
    })))
}

pub async fn certificate(
    State(state): State<AppState>,
    user: AuthUser,
    Path(sha256): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    user.require(Role::Viewer)?;
    let now = state.now_secs();
    let sha256 = sha256.to_ascii_uppercase();
    let row = state
        .store
        .certificate(&sha256, now)
        .await?
        .ok_or(ApiError::NotFound("certificate"))?;
    let endpoints = state.store.endpoints(None, Some(&sha256)).await?;
    let der = state
        .store
        .certificate_der(&sha256)
        .await?
        .unwrap_or_default();
    let mut value = serde_json::to_value(certificate_view(row, now)).unwrap_or_default();
    value["endpoint_details"] = serde_json::to_value(endpoints).unwrap_or_default();
    value["pem"] = pem::encode(&pem::Pem::new("CERTIFICATE", der)).into();
    Ok(Json(value))
}

// --- agents and tokens --------------------------------------------------------------------

#[derive(Serialize)]
struct AgentView {
    #[serde(flatten)]
    agent: AgentRow,
    online: bool,
    connected: bool,
}

pub async fn agents(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    user.require(Role::Viewer)?;
    let cutoff = state.now_secs() - state.config.offline_after_secs();
    let agents = state.store.list_agents().await?;
    Ok(Json(
        agents
            .into_iter()
            .map(|agent| {
                let connected = state.registry.is_connected(&agent.id);
                let online =
                    agent.revoked_at.is_none() && agent.last_seen_at.is_some_and(|t| t >= cutoff);
                serde_json::to_value(AgentView {
                    agent,
                    online,
                    connected,
                })
                .unwrap_or_default()
            })
            .collect(),
    ))
}

pub async fn revoke_agent(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    user.require(Role::Admin)?;
    let dropped = crate::gateway::revoke(&state, &user.name, &id).await?;
    Ok(Json(
        serde_json::json!({ "agent_id": id, "revoked": true, "disconnected": dropped }),
    ))
}

pub async fn tokens(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<certfleet_store::TokenRow>>, ApiError> {
    user.require(Role::Admin)?;
    Ok(Json(state.store.list_tokens().await?))
}

#[derive(Deserialize, Default)]
pub struct TokenRequest {
    expires_hours: Option<u64>,
    host: Option<String>,
}

pub async fn create_token(
    State(state): State<AppState>,
    user: AuthUser,
    body: Option<Json<TokenRequest>>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    user.require(Role::Admin)?;
    let request = body.map(|Json(b)| b).unwrap_or_default();
    let hours = request.expires_hours.unwrap_or(state.config.token_hours);
    let (token, expires_at) = crate::tokens::create(
        &state.store,
        state.pki.pin(),
        &user.name,
        hours,
        request.host.as_deref(),
        state.now_secs(),
    )
    .await?;
    let (linux, windows) = crate::tokens::enrol_commands(&state.gateway_url(), &token);
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "id": token.id,
            "token": token.to_string(),
            "expires_at": expires_at,
            "expires_at_utc": rfc3339(expires_at),
            "commands": { "linux": linux, "windows": windows },
        })),
    ))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
    limit: Option<i64>,
}

pub async fn audit(
    State(state): State<AppState>,
    user: AuthUser,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Vec<certfleet_store::AuditRow>>, ApiError> {
    user.require(Role::Admin)?;
    Ok(Json(
        state
            .store
            .audit_log(query.before, query.limit.unwrap_or(100).clamp(1, 1000))
            .await?,
    ))
}

#[derive(Debug, serde::Deserialize)]
pub struct OutboxQuery {
    limit: Option<i64>,
}

/// The latest alert emails and their delivery state (admins: it shows who is told what).
pub async fn outbox(
    State(state): State<AppState>,
    user: AuthUser,
    Query(query): Query<OutboxQuery>,
) -> Result<Json<Vec<certfleet_store::OutboxRow>>, ApiError> {
    user.require(Role::Admin)?;
    Ok(Json(
        state
            .store
            .outbox(query.limit.unwrap_or(50).clamp(1, 500))
            .await?,
    ))
}

pub async fn metrics(State(state): State<AppState>, _headers: HeaderMap) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

//! The API's handlers for sessions, the fleet, agents, tokens, the audit log and the alert
//! outbox: each parses, calls one use case of the console core and shapes the JSON.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::auth::Sessions;
use crate::console::{
    Admin, AgentView, AuditEntry, Caller, CertificateQuery, CertificateRow, Console, Edge,
    HostView, Operator, OutboxEntry, Role, Summary, TokenRow, Viewer,
};
use crate::error::ApiError;

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
    State(console): State<Console>,
    parts: axum::http::request::Parts,
    Json(request): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    // A script client sends no Origin; a browser page of another site does, and must not
    // get a session cookie for this console.
    if parts.headers.contains_key(header::ORIGIN) && !crate::auth::same_origin(&parts) {
        return Err(ApiError::Forbidden(
            "cross-origin login refused: log in from the console's own pages".into(),
        ));
    }
    let from = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let done = console
        .login(Edge::Api, from, &request.username, &request.password)
        .await?;
    let body = LoginResponse {
        token: done.token.clone(),
        username: done.caller.name().to_owned(),
        role: done.caller.role(),
        must_change_password: done.caller.must_change_password(),
    };
    Ok((
        [(header::SET_COOKIE, Sessions::cookie(&done.token))],
        Json(body),
    )
        .into_response())
}

/// Ends every session of the caller (every device, Bearer and cookie alike).
pub async fn logout(State(console): State<Console>, caller: Caller) -> Result<Response, ApiError> {
    console.logout(&caller).await?;
    Ok((
        [(header::SET_COOKIE, Sessions::clear_cookie())],
        StatusCode::NO_CONTENT,
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct PasswordChange {
    current: String,
    new: String,
}

pub async fn change_password(
    State(console): State<Console>,
    caller: Caller,
    Json(change): Json<PasswordChange>,
) -> Result<Response, ApiError> {
    // Every session of the user ends; this device gets a new one.
    let token = console
        .change_password(&caller, &change.current, &change.new)
        .await?;
    Ok((
        [(header::SET_COOKIE, Sessions::cookie(&token))],
        Json(serde_json::json!({ "token": token })),
    )
        .into_response())
}

pub async fn me(caller: Caller) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "username": caller.name(),
        "role": caller.role(),
        "must_change_password": caller.must_change_password(),
    }))
}

// --- reading ------------------------------------------------------------------------------

pub async fn summary(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<Summary>, ApiError> {
    Ok(Json(console.summary(caller.can::<Viewer>()?).await?))
}

pub async fn hosts(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<Vec<HostView>>, ApiError> {
    Ok(Json(console.hosts(caller.can::<Viewer>()?).await?))
}

pub async fn host(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let detail = console.host(caller.can::<Viewer>()?, id).await?;
    let mut value = serde_json::to_value(detail.host).unwrap_or_default();
    let endpoints: Vec<serde_json::Value> = detail
        .endpoints
        .into_iter()
        .zip(detail.clients)
        .map(|(e, clients)| {
            let mut e = serde_json::to_value(e).unwrap_or_default();
            e["clients"] = serde_json::to_value(clients).unwrap_or_default();
            e
        })
        .collect();
    value["endpoint_details"] = serde_json::Value::Array(endpoints);
    value["trust"] = serde_json::to_value(detail.trust).unwrap_or_default();
    value["manual_steps"] = serde_json::to_value(detail.manual_steps).unwrap_or_default();
    value["client_groups"] = serde_json::to_value(detail.client_groups).unwrap_or_default();
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
pub struct CertificatesRequest {
    #[serde(flatten)]
    query: CertificateQuery,
    limit: Option<i64>,
}

pub async fn certificates(
    State(console): State<Console>,
    caller: Caller,
    Query(request): Query<CertificatesRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let page = console
        .certificates(
            caller.can::<Viewer>()?,
            &request.query,
            request.limit.unwrap_or(50),
        )
        .await?;
    let now = page.now;
    let items: Vec<CertificateView> = page
        .items
        .into_iter()
        .map(|row| certificate_view(row, now))
        .collect();
    Ok(Json(
        serde_json::json!({ "items": items, "next": page.next }),
    ))
}

pub async fn certificate(
    State(console): State<Console>,
    caller: Caller,
    Path(sha256): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let detail = console
        .certificate(caller.can::<Viewer>()?, &sha256)
        .await?;
    let mut value =
        serde_json::to_value(certificate_view(detail.row, detail.now)).unwrap_or_default();
    value["endpoint_details"] = serde_json::to_value(detail.endpoints).unwrap_or_default();
    value["pem"] = detail.pem.into();
    Ok(Json(value))
}

// --- agents and tokens --------------------------------------------------------------------

pub async fn agents(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<Vec<AgentView>>, ApiError> {
    Ok(Json(console.agents(caller.can::<Viewer>()?).await?))
}

pub async fn revoke_agent(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let dropped = console.revoke_agent(caller.can::<Admin>()?, &id).await?;
    Ok(Json(
        serde_json::json!({ "agent_id": id, "revoked": true, "disconnected": dropped }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    endpoint_key: String,
}

/// An endpoint whose names another host served first may take renewals from now on.
pub async fn accept_endpoint(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<AcceptRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    console
        .accept_endpoint(caller.can::<Operator>()?, id, &body.endpoint_key)
        .await?;
    Ok(Json(
        serde_json::json!({ "host_id": id, "endpoint_key": body.endpoint_key, "accepted": true }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientGroupRequest {
    endpoint_key: String,
    group: String,
}

/// Every host of `group` must trust the endpoint (POST) or no longer (DELETE).
pub async fn attach_clients(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<ClientGroupRequest>,
) -> Result<Json<Vec<certfleet_store::ClientGroupRow>>, ApiError> {
    Ok(Json(
        console
            .set_client_group(
                caller.can::<Operator>()?,
                id,
                &body.endpoint_key,
                &body.group,
                true,
            )
            .await?,
    ))
}

pub async fn detach_clients(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<ClientGroupRequest>,
) -> Result<Json<Vec<certfleet_store::ClientGroupRow>>, ApiError> {
    Ok(Json(
        console
            .set_client_group(
                caller.can::<Operator>()?,
                id,
                &body.endpoint_key,
                &body.group,
                false,
            )
            .await?,
    ))
}

pub async fn tokens(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<Vec<TokenRow>>, ApiError> {
    Ok(Json(console.tokens(caller.can::<Admin>()?).await?))
}

#[derive(Deserialize, Default)]
pub struct TokenRequest {
    expires_hours: Option<u64>,
    host: Option<String>,
}

pub async fn create_token(
    State(console): State<Console>,
    caller: Caller,
    body: Option<Json<TokenRequest>>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let who = caller.can::<Admin>()?;
    let request = body.map(|Json(b)| b).unwrap_or_default();
    let new = console
        .create_token(who, request.expires_hours, request.host.as_deref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "id": new.token.id,
            "token": new.token.to_string(),
            "expires_at": new.expires_at,
            "expires_at_utc": rfc3339(new.expires_at),
            "commands": { "linux": new.enrol_linux, "windows": new.enrol_windows },
        })),
    ))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
    limit: Option<i64>,
}

pub async fn audit(
    State(console): State<Console>,
    caller: Caller,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    Ok(Json(
        console
            .audit_log(
                caller.can::<Admin>()?,
                query.before,
                query.limit.unwrap_or(100),
            )
            .await?,
    ))
}

#[derive(Debug, serde::Deserialize)]
pub struct OutboxQuery {
    limit: Option<i64>,
}

/// The latest alert emails and their delivery state (admins: it shows who is told what).
pub async fn outbox(
    State(console): State<Console>,
    caller: Caller,
    Query(query): Query<OutboxQuery>,
) -> Result<Json<Vec<OutboxEntry>>, ApiError> {
    Ok(Json(
        console
            .outbox(caller.can::<Admin>()?, query.limit.unwrap_or(50))
            .await?,
    ))
}

/// `GET /metrics`: for a logged-in user or the `[metrics]` token's bearer.
pub async fn metrics(
    State(metrics): State<std::sync::Arc<crate::metrics::Metrics>>,
    State(console): State<Console>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let token =
        super::caller::bearer_token(&headers).or_else(|| crate::auth::cookie_token(&headers));
    console.may_read_metrics(token.as_deref()).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response())
}

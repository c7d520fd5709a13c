//! The API's handlers for sessions, the fleet, agents, tokens, the audit log and the alert
//! outbox: each parses, calls one use case of the console core and shapes the JSON.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::auth::Sessions;
use crate::console::{
    Admin, AgentView, AuditEntry, Caller, CertificateQuery, CertificateRow, Console, Edge,
    EndpointRow, HostView, ManualStep, Operator, OutboxEntry, Role, Summary, TokenRow, Viewer,
};
use crate::error::{ApiError, ErrorBody};
use certfleet_store::{ClientGroupRow, TrustRow};

use super::extract::{Body, Path, Query};

fn rfc3339(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

// --- session ------------------------------------------------------------------------------

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    token: String,
    username: String,
    role: Role,
    must_change_password: bool,
}

/// Log in
///
/// Returns a session token and sets the session cookie. Too many failures from one address
/// are answered 429 with Retry-After.
#[utoipa::path(post, path = "/api/v1/login", tag = "session", request_body = LoginRequest, security(()),
    responses((status = 200, body = LoginResponse), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(console): State<Console>,
    parts: axum::http::request::Parts,
    Body(request): Body<LoginRequest>,
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

/// End every session of yours
///
/// Every device, Bearer and cookie alike; the cookie is cleared.
#[utoipa::path(post, path = "/api/v1/logout", tag = "session",
    responses((status = 204, description = "Logged out")))]
pub async fn logout(State(console): State<Console>, caller: Caller) -> Result<Response, ApiError> {
    console.logout(&caller).await?;
    Ok((
        [(header::SET_COOKIE, Sessions::clear_cookie())],
        StatusCode::NO_CONTENT,
    )
        .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordChange {
    current: String,
    new: String,
}

/// This device's new session, after a password change.
#[derive(Serialize, utoipa::ToSchema)]
pub struct NewSession {
    token: String,
}

/// Change your password
///
/// Required after a one-time password. Every session of yours ends; the answer carries this
/// device's new token (and sets its cookie).
#[utoipa::path(post, path = "/api/v1/password", tag = "session", request_body = PasswordChange,
    responses((status = 200, body = NewSession)))]
pub async fn change_password(
    State(console): State<Console>,
    caller: Caller,
    Body(change): Body<PasswordChange>,
) -> Result<Response, ApiError> {
    // Every session of the user ends; this device gets a new one.
    let token = console
        .change_password(&caller, &change.current, &change.new)
        .await?;
    Ok((
        [(header::SET_COOKIE, Sessions::cookie(&token))],
        Json(NewSession { token }),
    )
        .into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    username: String,
    role: Role,
    must_change_password: bool,
}

/// Who is logged in
#[utoipa::path(get, path = "/api/v1/me", tag = "session", responses((status = 200, body = Me)))]
pub async fn me(caller: Caller) -> Json<Me> {
    Json(Me {
        username: caller.name().to_owned(),
        role: caller.role(),
        must_change_password: caller.must_change_password(),
    })
}

// --- reading ------------------------------------------------------------------------------

/// Counts by status; agents online and offline
///
/// Needs the viewer role.
#[utoipa::path(get, path = "/api/v1/summary", tag = "fleet", responses((status = 200, body = Summary)))]
pub async fn summary(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<Summary>, ApiError> {
    Ok(Json(console.summary(caller.can::<Viewer>()?).await?))
}

/// Hosts with their endpoint and finding counts
///
/// Needs the viewer role.
#[utoipa::path(get, path = "/api/v1/hosts", tag = "fleet", responses((status = 200, body = Vec<HostView>)))]
pub async fn hosts(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<Vec<HostView>>, ApiError> {
    Ok(Json(console.hosts(caller.can::<Viewer>()?).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HostDetailView {
    #[serde(flatten)]
    host: HostView,
    /// Its endpoints, each with the client machines that must trust it and their verdict.
    endpoint_details: Vec<EndpointDetail>,
    /// The servers this host must trust, when it is a client machine.
    trust: Vec<TrustRow>,
    /// Steps certfleet cannot take that are left to a person.
    manual_steps: Vec<ManualStep>,
    /// The client host groups attached to its endpoints.
    client_groups: Vec<ClientGroupRow>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EndpointDetail {
    #[serde(flatten)]
    endpoint: EndpointRow,
    clients: Vec<TrustRow>,
}

/// One host with its endpoints and findings
///
/// Needs the viewer role.
#[utoipa::path(get, path = "/api/v1/hosts/{id}", tag = "fleet", params(("id" = i64, Path, description = "host id")),
    responses((status = 200, body = HostDetailView)))]
pub async fn host(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<HostDetailView>, ApiError> {
    let detail = console.host(caller.can::<Viewer>()?, id).await?;
    let endpoint_details = detail
        .endpoints
        .into_iter()
        .zip(detail.clients)
        .map(|(endpoint, clients)| EndpointDetail { endpoint, clients })
        .collect();
    Ok(Json(HostDetailView {
        host: detail.host,
        endpoint_details,
        trust: detail.trust,
        manual_steps: detail.manual_steps,
        client_groups: detail.client_groups,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CertificateView {
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

/// How many to a page.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageSize {
    /// 1-500, default 50.
    limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CertificatePage {
    items: Vec<CertificateView>,
    /// Pass back as `after` for the next page; absent on the last.
    next: Option<String>,
}

/// Certificates in use, soonest expiry first, paginated
///
/// Needs the viewer role.
#[utoipa::path(get, path = "/api/v1/certificates", tag = "fleet", params(CertificateQuery, PageSize),
    responses((status = 200, body = CertificatePage)))]
pub async fn certificates(
    State(console): State<Console>,
    caller: Caller,
    Query(query): Query<CertificateQuery>,
    Query(page): Query<PageSize>,
) -> Result<Json<CertificatePage>, ApiError> {
    let page = console
        .certificates(caller.can::<Viewer>()?, &query, page.limit.unwrap_or(50))
        .await?;
    let now = page.now;
    let items = page
        .items
        .into_iter()
        .map(|row| certificate_view(row, now))
        .collect();
    Ok(Json(CertificatePage {
        items,
        next: page.next,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CertificateDetailView {
    #[serde(flatten)]
    view: CertificateView,
    /// The endpoints that use it.
    endpoint_details: Vec<EndpointRow>,
    /// The certificate (never a key).
    pem: String,
}

/// One certificate, the endpoints using it, its PEM
///
/// Needs the viewer role.
#[utoipa::path(get, path = "/api/v1/certificates/{sha256}", tag = "fleet",
    params(("sha256" = String, Path, description = "the certificate's SHA-256, hex")),
    responses((status = 200, body = CertificateDetailView)))]
pub async fn certificate(
    State(console): State<Console>,
    caller: Caller,
    Path(sha256): Path<String>,
) -> Result<Json<CertificateDetailView>, ApiError> {
    let detail = console
        .certificate(caller.can::<Viewer>()?, &sha256)
        .await?;
    Ok(Json(CertificateDetailView {
        view: certificate_view(detail.row, detail.now),
        endpoint_details: detail.endpoints,
        pem: detail.pem,
    }))
}

// --- agents and tokens --------------------------------------------------------------------

/// Enrolled agents and whether they are online
///
/// Needs the viewer role.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents", responses((status = 200, body = Vec<AgentView>)))]
pub async fn agents(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<Vec<AgentView>>, ApiError> {
    Ok(Json(console.agents(caller.can::<Viewer>()?).await?))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Revoked {
    agent_id: String,
    revoked: bool,
    /// It was connected and has been dropped.
    disconnected: bool,
}

/// Revoke an agent
///
/// Refused at connect from now on, dropped if connected. Needs the admin role.
#[utoipa::path(post, path = "/api/v1/agents/{id}/revoke", tag = "agents",
    params(("id" = String, Path, description = "agent id")), responses((status = 200, body = Revoked)))]
pub async fn revoke_agent(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Revoked>, ApiError> {
    let disconnected = console.revoke_agent(caller.can::<Admin>()?, &id).await?;
    Ok(Json(Revoked {
        agent_id: id,
        revoked: true,
        disconnected,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    endpoint_key: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    host_id: i64,
    endpoint_key: String,
    accepted: bool,
}

/// Accept an endpoint whose names another host served first
///
/// Until then the plan shows it as new and no renewal's key goes to it. Needs the operator
/// role.
#[utoipa::path(post, path = "/api/v1/hosts/{id}/endpoints/accept", tag = "fleet",
    params(("id" = i64, Path, description = "host id")), request_body = AcceptRequest,
    responses((status = 200, body = Accepted)))]
pub async fn accept_endpoint(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(body): Body<AcceptRequest>,
) -> Result<Json<Accepted>, ApiError> {
    console
        .accept_endpoint(caller.can::<Operator>()?, id, &body.endpoint_key)
        .await?;
    Ok(Json(Accepted {
        host_id: id,
        endpoint_key: body.endpoint_key,
        accepted: true,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientGroupRequest {
    endpoint_key: String,
    group: String,
}

/// Attach a client host group to an endpoint
///
/// Every host in the group must trust it; each is sent its list and checks it (installs
/// nothing for it). Answers the endpoint's client groups. Needs the operator role.
#[utoipa::path(post, path = "/api/v1/hosts/{id}/endpoints/clients", tag = "fleet",
    params(("id" = i64, Path, description = "host id")), request_body = ClientGroupRequest,
    responses((status = 200, body = Vec<ClientGroupRow>)))]
pub async fn attach_clients(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(body): Body<ClientGroupRequest>,
) -> Result<Json<Vec<ClientGroupRow>>, ApiError> {
    set_client_group(console, caller, id, body, true).await
}

/// Detach a client host group from an endpoint
///
/// Needs the operator role.
#[utoipa::path(delete, path = "/api/v1/hosts/{id}/endpoints/clients", tag = "fleet",
    params(("id" = i64, Path, description = "host id")), request_body = ClientGroupRequest,
    responses((status = 200, body = Vec<ClientGroupRow>)))]
pub async fn detach_clients(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(body): Body<ClientGroupRequest>,
) -> Result<Json<Vec<ClientGroupRow>>, ApiError> {
    set_client_group(console, caller, id, body, false).await
}

async fn set_client_group(
    console: Console,
    caller: Caller,
    id: i64,
    body: ClientGroupRequest,
    attach: bool,
) -> Result<Json<Vec<ClientGroupRow>>, ApiError> {
    Ok(Json(
        console
            .set_client_group(
                caller.can::<Operator>()?,
                id,
                &body.endpoint_key,
                &body.group,
                attach,
            )
            .await?,
    ))
}

/// Enrolment tokens
///
/// Needs the admin role.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "agents", responses((status = 200, body = Vec<TokenRow>)))]
pub async fn tokens(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<Vec<TokenRow>>, ApiError> {
    Ok(Json(console.tokens(caller.can::<Admin>()?).await?))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// How long it may be used, 1 to 720 hours; the console's `token_hours` when absent.
    #[schema(minimum = 1, maximum = 720)]
    expires_hours: Option<u64>,
    /// Bind it to the host that may enrol with it.
    host: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    id: String,
    /// The token itself: shown once, never again.
    token: String,
    expires_at: i64,
    expires_at_utc: String,
    commands: EnrolCommands,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EnrolCommands {
    linux: String,
    windows: String,
}

/// Create a single-use enrolment token
///
/// Returns it with the enrol commands; the body may be left out. Needs the admin role.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "agents", request_body(content = Option<TokenRequest>),
    responses((status = 201, body = CreatedToken)))]
pub async fn create_token(
    State(console): State<Console>,
    caller: Caller,
    body: Option<Body<TokenRequest>>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let who = caller.can::<Admin>()?;
    let request = body.map(|Body(b)| b).unwrap_or_default();
    let new = console
        .create_token(who, request.expires_hours, request.host.as_deref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: new.token.id.clone(),
            token: new.token.to_string(),
            expires_at: new.expires_at,
            expires_at_utc: rfc3339(new.expires_at),
            commands: EnrolCommands {
                linux: new.enrol_linux,
                windows: new.enrol_windows,
            },
        }),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// The id of the last row of the previous page.
    before: Option<i64>,
    /// 1-1000, default 100.
    limit: Option<i64>,
}

/// The audit log, newest first
///
/// Needs the admin role.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>)))]
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

/// The latest alert emails and whether they were sent, newest first
///
/// Admins only: it shows who is told what.
#[utoipa::path(get, path = "/api/v1/alerts/outbox", tag = "audit", params(PageSize),
    responses((status = 200, body = Vec<OutboxEntry>)))]
pub async fn outbox(
    State(console): State<Console>,
    caller: Caller,
    Query(page): Query<PageSize>,
) -> Result<Json<Vec<OutboxEntry>>, ApiError> {
    Ok(Json(
        console
            .outbox(caller.can::<Admin>()?, page.limit.unwrap_or(50))
            .await?,
    ))
}

/// Prometheus metrics
///
/// For a logged-in viewer, or with the `[metrics] token` as Bearer, for a scraper.
#[utoipa::path(get, path = "/metrics", tag = "audit",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text", body = String)))]
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

//! Renewed certificates through the API: upload (operator), list and read (viewer).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::console::{
    Caller, Console, IssuanceRow, IssuingCaView, Operator, RenewalRow, ScheduledRenewal,
    UploadRequest, Viewer,
};
use crate::error::{ApiError, ErrorBody};

use super::extract::{Body, Path};

/// Upload a renewed certificate
///
/// A PFX with its password, or PEM texts. Refused (400) with the finding's message when the
/// key does not match, the chain is incomplete, it is expired, or the PFX password is
/// wrong; 409 when already uploaded. Needs the operator role.
#[utoipa::path(post, path = "/api/v1/renewals", tag = "renewals", request_body = UploadRequest,
    responses((status = 201, body = RenewalRow), (status = 409, body = ErrorBody)))]
pub async fn upload(
    State(console): State<Console>,
    caller: Caller,
    Body(request): Body<UploadRequest>,
) -> Result<(StatusCode, Json<RenewalRow>), ApiError> {
    let row = console
        .upload_renewal(caller.can::<Operator>()?, &request)
        .await?;
    Ok((StatusCode::CREATED, Json(row)))
}

/// Uploaded renewed certificates, newest first (never their keys)
///
/// Needs the viewer role.
#[utoipa::path(get, operation_id = "renewals", path = "/api/v1/renewals", tag = "renewals", responses((status = 200, body = Vec<RenewalRow>)))]
pub async fn list(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<Vec<RenewalRow>>, ApiError> {
    Ok(Json(console.renewals(caller.can::<Viewer>()?, 200).await?))
}

/// One renewal
///
/// Needs the viewer role.
#[utoipa::path(get, operation_id = "renewal", path = "/api/v1/renewals/{id}", tag = "renewals",
    params(("id" = i64, Path, description = "renewal id")), responses((status = 200, body = RenewalRow)))]
pub async fn one(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<RenewalRow>, ApiError> {
    Ok(Json(console.renewal(caller.can::<Viewer>()?, id).await?))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewNowRequest {
    endpoint_key: String,
}

/// Renew one endpoint now by its host group's policy
///
/// The host makes the key and keeps it; the certificate comes from the policy's source and
/// is rolled out and verified like any rollout. 202 with the renewal; 409 when one is under
/// way. Needs the operator role.
#[utoipa::path(post, path = "/api/v1/hosts/{id}/endpoints/renew", tag = "renewals",
    params(("id" = i64, Path, description = "host id")), request_body = RenewNowRequest,
    responses((status = 202, body = IssuanceRow), (status = 409, body = ErrorBody)))]
pub async fn renew_now(
    State(console): State<Console>,
    caller: Caller,
    Path(host_id): Path<i64>,
    Body(body): Body<RenewNowRequest>,
) -> Result<(StatusCode, Json<IssuanceRow>), ApiError> {
    let row = console
        .renew_now(caller.can::<Operator>()?, host_id, &body.endpoint_key)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(row)))
}

/// Every endpoint under a renewal policy
///
/// Its group, source, current certificate, when it renews (`renews_at`) and its last
/// renewal. Needs the viewer role.
#[utoipa::path(get, path = "/api/v1/renewals/schedule", tag = "renewals",
    responses((status = 200, body = Vec<ScheduledRenewal>)))]
pub async fn schedule(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<Vec<ScheduledRenewal>>, ApiError> {
    Ok(Json(
        console.renewal_schedule(caller.can::<Viewer>()?).await?,
    ))
}

/// The issuing CA for internal names
///
/// Its subject, SHA-256, expiry, permitted domains, whether it is an enterprise sub-CA, and
/// every client check of a server serving a certificate it issued, with the client's
/// verdict; 404 before it exists. Needs the viewer role.
#[utoipa::path(get, path = "/api/v1/renewals/issuing-ca", tag = "renewals",
    responses((status = 200, body = IssuingCaView), (status = 404, body = ErrorBody)))]
pub async fn issuing_ca(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<IssuingCaView>, ApiError> {
    console
        .issuing_ca(caller.can::<Viewer>()?)
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::from(crate::console::Error::NotFound {
                what: "the issuing CA (it is made at the first renewal under an internal_ca \
                       policy, or installed with certfleet-server issuing-ca install)",
            })
        })
}

/// The renewals the console obtained itself (internal CA, ACME), newest first
///
/// Each one's state, rollout and reason. Needs the viewer role.
#[utoipa::path(get, path = "/api/v1/renewals/issued", tag = "renewals",
    responses((status = 200, body = Vec<IssuanceRow>)))]
pub async fn issuances(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<Vec<IssuanceRow>>, ApiError> {
    Ok(Json(console.issuances(caller.can::<Viewer>()?, 200).await?))
}

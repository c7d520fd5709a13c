//! Renewed certificates through the API: upload (operator), list and read (viewer).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::console::{
    Caller, Console, IssuanceRow, IssuingCaView, Operator, RenewalRow, ScheduledRenewal,
    UploadRequest, Viewer,
};
use crate::error::ApiError;

pub async fn upload(
    State(console): State<Console>,
    caller: Caller,
    Json(request): Json<UploadRequest>,
) -> Result<(StatusCode, Json<RenewalRow>), ApiError> {
    let row = console
        .upload_renewal(caller.can::<Operator>()?, &request)
        .await?;
    Ok((StatusCode::CREATED, Json(row)))
}

pub async fn list(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<Vec<RenewalRow>>, ApiError> {
    Ok(Json(console.renewals(caller.can::<Viewer>()?, 200).await?))
}

pub async fn one(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<RenewalRow>, ApiError> {
    Ok(Json(console.renewal(caller.can::<Viewer>()?, id).await?))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewNowRequest {
    endpoint_key: String,
}

/// Renew one endpoint now by its group's policy (the key made on its host).
pub async fn renew_now(
    State(console): State<Console>,
    caller: Caller,
    Path(host_id): Path<i64>,
    Json(body): Json<RenewNowRequest>,
) -> Result<(StatusCode, Json<IssuanceRow>), ApiError> {
    let row = console
        .renew_now(caller.can::<Operator>()?, host_id, &body.endpoint_key)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(row)))
}

/// Every endpoint under a renewal policy, with when it renews and its last renewal.
pub async fn schedule(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<Vec<ScheduledRenewal>>, ApiError> {
    Ok(Json(
        console.renewal_schedule(caller.can::<Viewer>()?).await?,
    ))
}

/// The issuing CA for internal names and the clients served what it issued; 404 before it
/// is made.
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

/// The renewals the console obtained itself, newest first.
pub async fn issuances(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<Vec<IssuanceRow>>, ApiError> {
    Ok(Json(console.issuances(caller.can::<Viewer>()?, 200).await?))
}

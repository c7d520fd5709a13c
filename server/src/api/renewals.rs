//! Renewed certificates through the API: upload (operator), list and read (viewer).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::console::{Caller, Console, Operator, RenewalRow, UploadRequest, Viewer};
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

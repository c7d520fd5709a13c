//! Renewed certificates through the API: upload (operator), list and read (viewer). No
//! response carries a private key, sealed or not.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use certfleet_store::{RenewalRow, Role};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::renewals::{self, UploadRequest};
use crate::state::AppState;

pub async fn upload(
    State(state): State<AppState>,
    user: AuthUser,
    Json(request): Json<UploadRequest>,
) -> Result<(StatusCode, Json<RenewalRow>), ApiError> {
    user.require(Role::Operator)?;
    let row = renewals::upload(&state, &user.name, &request).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<RenewalRow>>, ApiError> {
    user.require(Role::Viewer)?;
    Ok(Json(state.store.renewals(200).await?))
}

pub async fn one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<Json<RenewalRow>, ApiError> {
    user.require(Role::Viewer)?;
    Ok(Json(state.store.renewal(id).await?))
}

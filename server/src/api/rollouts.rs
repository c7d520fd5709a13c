//! Rollouts through the API: the plan for a renewal (viewer), the preflight, creating and
//! steering a rollout (operator), reading them (viewer), maintenance windows (admin to
//! change).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::console::{
    Admin, Caller, Console, Control, HostVerdict, Operator, Proposal, RolloutRequest, RolloutRow,
    RolloutView, Viewer, WindowRow,
};
use crate::error::ApiError;

pub async fn plan(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Vec<Proposal>>, ApiError> {
    Ok(Json(console.plan(caller.can::<Viewer>()?, id).await?))
}

pub async fn preflight(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Vec<HostVerdict>>, ApiError> {
    Ok(Json(
        console.preflight(caller.can::<Operator>()?, id).await?,
    ))
}

pub async fn create(
    State(console): State<Console>,
    caller: Caller,
    Json(request): Json<RolloutRequest>,
) -> Result<(StatusCode, Json<RolloutRow>), ApiError> {
    let row = console
        .create_rollout(caller.can::<Operator>()?, &request)
        .await?;
    Ok((StatusCode::CREATED, Json(row)))
}

pub async fn list(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<Vec<RolloutRow>>, ApiError> {
    Ok(Json(console.rollouts(caller.can::<Viewer>()?, 200).await?))
}

pub async fn one(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<RolloutView>, ApiError> {
    Ok(Json(console.rollout(caller.can::<Viewer>()?, id).await?))
}

async fn control(
    console: Console,
    caller: Caller,
    id: i64,
    action: Control,
) -> Result<Json<RolloutRow>, ApiError> {
    Ok(Json(
        console
            .control_rollout(caller.can::<Operator>()?, id, action)
            .await?,
    ))
}

pub async fn cleanup(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<RolloutRow>), ApiError> {
    let row = console.cleanup_trust(caller.can::<Operator>()?, id).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

pub async fn pause(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<RolloutRow>, ApiError> {
    control(console, caller, id, Control::Pause).await
}

pub async fn resume(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<RolloutRow>, ApiError> {
    control(console, caller, id, Control::Resume).await
}

pub async fn cancel(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<RolloutRow>, ApiError> {
    control(console, caller, id, Control::Cancel).await
}

pub async fn windows(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<Vec<WindowRow>>, ApiError> {
    Ok(Json(console.windows(caller.can::<Viewer>()?).await?))
}

pub async fn add_window(
    State(console): State<Console>,
    caller: Caller,
    Json(window): Json<WindowRow>,
) -> Result<(StatusCode, Json<WindowRow>), ApiError> {
    let window = console.add_window(caller.can::<Admin>()?, window).await?;
    Ok((StatusCode::CREATED, Json(window)))
}

pub async fn delete_window(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    console.delete_window(caller.can::<Admin>()?, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

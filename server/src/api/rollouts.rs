//! Rollouts through the API: the plan for a renewal (viewer), the preflight, creating and
//! steering a rollout (operator), reading them (viewer), maintenance windows (admin to
//! change).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::console::{
    Admin, Caller, Console, Control, HostVerdict, Operator, Proposal, RolloutRequest, RolloutRow,
    RolloutView, Viewer, WindowRow,
};
use crate::error::ApiError;

use super::extract::{Body, Path};

/// The endpoints this renewal could renew
///
/// Proposed ones first, each with the console's verdict (problems block, notes inform).
/// Needs the viewer role.
#[utoipa::path(get, path = "/api/v1/renewals/{id}/plan", tag = "rollouts",
    params(("id" = i64, Path, description = "renewal id")), responses((status = 200, body = Vec<Proposal>)))]
pub async fn plan(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Vec<Proposal>>, ApiError> {
    Ok(Json(console.plan(caller.can::<Viewer>()?, id).await?))
}

/// Ask each proposed endpoint's agent for its preflight
///
/// The checks a deployment would start with (names, purpose, the port not taken by another
/// program); nothing changes. Answers within 20 s per host. Needs the operator role.
#[utoipa::path(post, path = "/api/v1/renewals/{id}/preflight", tag = "rollouts",
    params(("id" = i64, Path, description = "renewal id")), responses((status = 200, body = Vec<HostVerdict>)))]
pub async fn preflight(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Vec<HostVerdict>>, ApiError> {
    Ok(Json(
        console.preflight(caller.can::<Operator>()?, id).await?,
    ))
}

/// Create a rollout
///
/// The targets, or the groups whose endpoints use the old certificate; when to start; the
/// canary host, which goes first, then waves; it stops when failures reach `max_failures`
/// (default 1). Needs the operator role.
#[utoipa::path(post, path = "/api/v1/rollouts", tag = "rollouts", request_body = RolloutRequest,
    responses((status = 201, body = RolloutRow)))]
pub async fn create(
    State(console): State<Console>,
    caller: Caller,
    Body(request): Body<RolloutRequest>,
) -> Result<(StatusCode, Json<RolloutRow>), ApiError> {
    let row = console
        .create_rollout(caller.can::<Operator>()?, &request)
        .await?;
    Ok((StatusCode::CREATED, Json(row)))
}

/// Rollouts, newest first
///
/// Needs the viewer role.
#[utoipa::path(get, operation_id = "rollouts", path = "/api/v1/rollouts", tag = "rollouts", responses((status = 200, body = Vec<RolloutRow>)))]
pub async fn list(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<Vec<RolloutRow>>, ApiError> {
    Ok(Json(console.rollouts(caller.can::<Viewer>()?, 200).await?))
}

/// A rollout with every target's state, step and reason
///
/// Needs the viewer role.
#[utoipa::path(get, operation_id = "rollout", path = "/api/v1/rollouts/{id}", tag = "rollouts",
    params(("id" = i64, Path, description = "rollout id")), responses((status = 200, body = RolloutView)))]
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

/// Take out the old trust anchors a trust-first rollout left
///
/// After a succeeded rollout that put trust first: a new rollout taking out of each client
/// the old anchor it trusted the server by, where certfleet installed it. Needs the
/// operator role.
#[utoipa::path(post, path = "/api/v1/rollouts/{id}/cleanup", tag = "rollouts",
    params(("id" = i64, Path, description = "rollout id")), responses((status = 201, body = RolloutRow)))]
pub async fn cleanup(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<RolloutRow>), ApiError> {
    let row = console.cleanup_trust(caller.can::<Operator>()?, id).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

/// Pause: no new deployments start; running ones finish
///
/// Needs the operator role.
#[utoipa::path(post, path = "/api/v1/rollouts/{id}/pause", tag = "rollouts",
    params(("id" = i64, Path, description = "rollout id")), responses((status = 200, body = RolloutRow)))]
pub async fn pause(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<RolloutRow>, ApiError> {
    control(console, caller, id, Control::Pause).await
}

/// Resume a paused rollout
///
/// Needs the operator role.
#[utoipa::path(post, path = "/api/v1/rollouts/{id}/resume", tag = "rollouts",
    params(("id" = i64, Path, description = "rollout id")), responses((status = 200, body = RolloutRow)))]
pub async fn resume(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<RolloutRow>, ApiError> {
    control(console, caller, id, Control::Resume).await
}

/// Cancel: pending targets are cancelled; running ones finish
///
/// Needs the operator role.
#[utoipa::path(post, path = "/api/v1/rollouts/{id}/cancel", tag = "rollouts",
    params(("id" = i64, Path, description = "rollout id")), responses((status = 200, body = RolloutRow)))]
pub async fn cancel(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<RolloutRow>, ApiError> {
    control(console, caller, id, Control::Cancel).await
}

/// Maintenance windows per host group
///
/// Needs the viewer role.
#[utoipa::path(get, path = "/api/v1/windows", tag = "rollouts", responses((status = 200, body = Vec<WindowRow>)))]
pub async fn windows(
    State(console): State<Console>,
    caller: Caller,
) -> Result<Json<Vec<WindowRow>>, ApiError> {
    Ok(Json(console.windows(caller.can::<Viewer>()?).await?))
}

/// Add a maintenance window
///
/// `weekdays` like `sat,sun`; minutes of the day, the end may be past midnight. Needs the
/// admin role.
#[utoipa::path(post, path = "/api/v1/windows", tag = "rollouts", request_body = WindowRow,
    responses((status = 201, body = WindowRow)))]
pub async fn add_window(
    State(console): State<Console>,
    caller: Caller,
    Body(window): Body<WindowRow>,
) -> Result<(StatusCode, Json<WindowRow>), ApiError> {
    let window = console.add_window(caller.can::<Admin>()?, window).await?;
    Ok((StatusCode::CREATED, Json(window)))
}

/// Remove a maintenance window
///
/// Needs the admin role.
#[utoipa::path(delete, path = "/api/v1/windows/{id}", tag = "rollouts",
    params(("id" = i64, Path, description = "window id")), responses((status = 204, description = "Removed")))]
pub async fn delete_window(
    State(console): State<Console>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    console.delete_window(caller.can::<Admin>()?, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

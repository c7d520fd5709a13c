//! Rollouts through the API: the plan for a renewal (viewer), creating and steering a
//! rollout (operator), reading them (viewer), maintenance windows (admin to change).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use certfleet_store::{Role, RolloutRow, WindowRow};

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::rollout::{self, Proposal, RolloutRequest, RolloutView};
use crate::state::AppState;

pub async fn plan(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<Json<Vec<Proposal>>, ApiError> {
    user.require(Role::Viewer)?;
    Ok(Json(rollout::plan(&state, id).await?))
}

pub async fn preflight(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<Json<Vec<crate::rollout::check::HostVerdict>>, ApiError> {
    user.require(Role::Operator)?;
    Ok(Json(
        crate::rollout::check::check(&state, &user.name, id).await?,
    ))
}

pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(request): Json<RolloutRequest>,
) -> Result<(StatusCode, Json<RolloutRow>), ApiError> {
    user.require(Role::Operator)?;
    Ok((
        StatusCode::CREATED,
        Json(rollout::create(&state, &user.name, &request).await?),
    ))
}

pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<RolloutRow>>, ApiError> {
    user.require(Role::Viewer)?;
    Ok(Json(state.store.rollouts(200).await?))
}

pub async fn one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<Json<RolloutView>, ApiError> {
    user.require(Role::Viewer)?;
    Ok(Json(rollout::view(&state, id).await?))
}

async fn control(
    state: AppState,
    user: AuthUser,
    id: i64,
    action: &str,
) -> Result<Json<RolloutRow>, ApiError> {
    user.require(Role::Operator)?;
    Ok(Json(
        rollout::control(&state, &user.name, id, action).await?,
    ))
}

pub async fn pause(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<Json<RolloutRow>, ApiError> {
    control(state, user, id, "pause").await
}

pub async fn resume(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<Json<RolloutRow>, ApiError> {
    control(state, user, id, "resume").await
}

pub async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<Json<RolloutRow>, ApiError> {
    control(state, user, id, "cancel").await
}

pub async fn windows(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<WindowRow>>, ApiError> {
    user.require(Role::Viewer)?;
    Ok(Json(state.store.maintenance_windows().await?))
}

pub async fn add_window(
    State(state): State<AppState>,
    user: AuthUser,
    Json(mut window): Json<WindowRow>,
) -> Result<(StatusCode, Json<WindowRow>), ApiError> {
    user.require(Role::Admin)?;
    rollout::windows::check(&window).map_err(ApiError::BadRequest)?;
    window.id = state.store.add_maintenance_window(&window).await?;
    state
        .store
        .audit(
            state.now_secs(),
            &user.name,
            "window.added",
            Some(&window.group_name),
            Some(&format!(
                "{} {:02}:{:02}-{:02}:{:02} UTC{:+}min",
                window.weekdays,
                window.start_minute / 60,
                window.start_minute % 60,
                window.end_minute / 60,
                window.end_minute % 60,
                window.utc_offset_minutes
            )),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(window)))
}

pub async fn delete_window(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    user.require(Role::Admin)?;
    if !state.store.delete_maintenance_window(id).await? {
        return Err(ApiError::NotFound("maintenance window"));
    }
    state
        .store
        .audit(
            state.now_secs(),
            &user.name,
            "window.deleted",
            Some(&format!("window #{id}")),
            None,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

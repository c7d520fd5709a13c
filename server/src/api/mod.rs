//! The JSON API for the UI and for automation, under `/api/v1`, behind login. Roles are
//! checked here, on the server, for every call.

mod caller;
mod handlers;
mod openapi;
mod renewals;
mod rollouts;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};

use std::sync::Arc;

use axum::extract::FromRef;

use crate::console::Console;
use crate::metrics::Metrics;

/// The JSON API over any state that yields the console core (and the metrics).
pub fn router<S>(state: S) -> Router
where
    S: Clone + Send + Sync + 'static,
    Console: FromRef<S>,
    Arc<Metrics>: FromRef<S>,
{
    Router::new()
        .route("/api/v1/login", post(handlers::login))
        .route("/api/v1/logout", post(handlers::logout))
        .route("/api/v1/password", post(handlers::change_password))
        .route("/api/v1/me", get(handlers::me))
        .route("/api/v1/summary", get(handlers::summary))
        .route("/api/v1/hosts", get(handlers::hosts))
        .route("/api/v1/hosts/{id}", get(handlers::host))
        .route(
            "/api/v1/hosts/{id}/endpoints/accept",
            post(handlers::accept_endpoint),
        )
        .route(
            "/api/v1/hosts/{id}/endpoints/renew",
            post(renewals::renew_now),
        )
        .route(
            "/api/v1/hosts/{id}/endpoints/clients",
            post(handlers::attach_clients).delete(handlers::detach_clients),
        )
        .route("/api/v1/certificates", get(handlers::certificates))
        .route("/api/v1/certificates/{sha256}", get(handlers::certificate))
        .route("/api/v1/agents", get(handlers::agents))
        .route("/api/v1/agents/{id}/revoke", post(handlers::revoke_agent))
        .route(
            "/api/v1/tokens",
            get(handlers::tokens).post(handlers::create_token),
        )
        .route("/api/v1/audit", get(handlers::audit))
        .route(
            "/api/v1/renewals",
            get(renewals::list).post(renewals::upload),
        )
        .route("/api/v1/renewals/schedule", get(renewals::schedule))
        .route("/api/v1/renewals/issued", get(renewals::issuances))
        .route("/api/v1/renewals/issuing-ca", get(renewals::issuing_ca))
        .route("/api/v1/renewals/{id}", get(renewals::one))
        .route("/api/v1/renewals/{id}/plan", get(rollouts::plan))
        .route("/api/v1/renewals/{id}/preflight", post(rollouts::preflight))
        .route(
            "/api/v1/rollouts",
            get(rollouts::list).post(rollouts::create),
        )
        .route("/api/v1/rollouts/{id}", get(rollouts::one))
        .route("/api/v1/rollouts/{id}/pause", post(rollouts::pause))
        .route("/api/v1/rollouts/{id}/resume", post(rollouts::resume))
        .route("/api/v1/rollouts/{id}/cancel", post(rollouts::cancel))
        .route("/api/v1/rollouts/{id}/cleanup", post(rollouts::cleanup))
        .route(
            "/api/v1/windows",
            get(rollouts::windows).post(rollouts::add_window),
        )
        .route("/api/v1/windows/{id}", delete(rollouts::delete_window))
        .route("/api/v1/alerts/outbox", get(handlers::outbox))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/metrics", get(handlers::metrics))
        .layer(DefaultBodyLimit::max(256 * 1024))
        .with_state(state)
}

pub use openapi::PATHS as DOCUMENTED_PATHS;

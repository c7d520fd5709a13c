//! The JSON API for the UI and for automation, under `/api/v1`, behind login. Roles are
//! checked here, on the server, for every call.

mod caller;
mod extract;
mod handlers;
mod openapi;
mod renewals;
mod rollouts;

use axum::extract::DefaultBodyLimit;
use axum::{Extension, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use std::sync::Arc;

use axum::extract::FromRef;

use crate::console::Console;
use crate::metrics::Metrics;

/// The JSON API over any state that yields the console core (and the metrics), and the
/// OpenAPI document of exactly the routes it serves.
pub fn router<S>(state: S) -> Router
where
    S: Clone + Send + Sync + 'static,
    Console: FromRef<S>,
    Arc<Metrics>: FromRef<S>,
{
    let (router, mut doc) = routes().split_for_parts();
    openapi::complete(&mut doc);
    router
        .layer(Extension(Arc::new(doc)))
        .layer(DefaultBodyLimit::max(256 * 1024))
        .with_state(state)
}

fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Console: FromRef<S>,
    Arc<Metrics>: FromRef<S>,
{
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(handlers::login))
        .routes(routes!(handlers::logout))
        .routes(routes!(handlers::change_password))
        .routes(routes!(handlers::me))
        .routes(routes!(handlers::summary))
        .routes(routes!(handlers::hosts))
        .routes(routes!(handlers::host))
        .routes(routes!(handlers::accept_endpoint))
        .routes(routes!(renewals::renew_now))
        .routes(routes!(handlers::attach_clients, handlers::detach_clients))
        .routes(routes!(handlers::certificates))
        .routes(routes!(handlers::certificate))
        .routes(routes!(handlers::agents))
        .routes(routes!(handlers::revoke_agent))
        .routes(routes!(handlers::tokens, handlers::create_token))
        .routes(routes!(handlers::audit))
        .routes(routes!(renewals::list, renewals::upload))
        .routes(routes!(renewals::schedule))
        .routes(routes!(renewals::issuances))
        .routes(routes!(renewals::issuing_ca))
        .routes(routes!(renewals::one))
        .routes(routes!(rollouts::plan))
        .routes(routes!(rollouts::preflight))
        .routes(routes!(rollouts::list, rollouts::create))
        .routes(routes!(rollouts::one))
        .routes(routes!(rollouts::pause))
        .routes(routes!(rollouts::resume))
        .routes(routes!(rollouts::cancel))
        .routes(routes!(rollouts::cleanup))
        .routes(routes!(rollouts::windows, rollouts::add_window))
        .routes(routes!(rollouts::delete_window))
        .routes(routes!(handlers::outbox))
        .routes(routes!(openapi::document))
        .routes(routes!(handlers::metrics))
}

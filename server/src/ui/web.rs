//! Mounts the Leptos web UI: server-side rendering of every page, the server functions, and
//! the browser files (precompressed) under `/pkg`.

use axum::Router;
use certfleet_web::app::{App, shell};
use leptos::config::{Env, LeptosOptions};
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};

use std::sync::Arc;

use axum::extract::FromRef;

use axum::extract::DefaultBodyLimit;
use tower_http::limit::RequestBodyLimitLayer;

use crate::config::Config;

/// What any dashboard request may carry (the server functions' forms are small).
pub const BODY_LIMIT: usize = 1024 * 1024;
/// The renewal upload form (a PFX or PEM files).
pub const UPLOAD_LIMIT: usize = 10 * 1024 * 1024;
use crate::console::Console;
use crate::events::Events;

pub fn options(config: &Config) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("certfleet")
        .site_root(config.site_dir().display().to_string())
        .site_pkg_dir("pkg")
        .env(Env::PROD)
        .build()
}

/// The web UI over any state that yields the console core, the live events and the
/// configuration.
pub fn router<S>(state: S) -> Router
where
    S: Clone + Send + Sync + 'static,
    Console: FromRef<S>,
    Events: FromRef<S>,
    Arc<Config>: FromRef<S>,
{
    let config = Arc::<Config>::from_ref(&state);
    let options = options(&config);
    if !config.site_dir().join("pkg/certfleet_bg.wasm").exists() {
        tracing::warn!(
            "the web UI's browser files are not in {}: pages render but will not become \
             interactive; run scripts/build-web.sh or set site_dir",
            config.site_dir().display()
        );
    }
    let upload = Router::new()
        .route(
            "/ui/renewals/upload",
            axum::routing::post(super::upload::upload),
        )
        .layer(DefaultBodyLimit::max(UPLOAD_LIMIT))
        .layer(RequestBodyLimitLayer::new(UPLOAD_LIMIT))
        .with_state(state.clone());
    let extras = Router::new()
        .route("/ui/events", axum::routing::get(super::export::events))
        .route(
            "/ui/export/certificates.csv",
            axum::routing::get(super::export::certificates_csv),
        )
        .route(
            "/download/{file}",
            axum::routing::get(crate::downloads::serve),
        )
        .with_state(state.clone());
    let routes = generate_route_list(App);
    let context_state = state.clone();
    Router::new()
        .leptos_routes_with_context(
            &options,
            routes,
            move || {
                provide_context(super::ConsoleBackend::shared(Console::from_ref(
                    &context_state,
                )))
            },
            {
                let options = options.clone();
                move || shell(options.clone())
            },
        )
        .route_service(
            &leptos_axum::site_pkg_dir_service_route_path(&options),
            leptos_axum::site_pkg_dir_service(&options),
        )
        .with_state(options)
        .merge(extras)
        // Pages, server functions and the rest: bounded, answered 413 beyond.
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .merge(upload)
}

//! The console's web UI: a Leptos app rendered on the server (`ssr`, linked into
//! certfleet-server) and hydrated in the browser (`hydrate`, compiled to wasm by
//! `scripts/build-web.sh`). Pages reach the console only through server functions (`api`),
//! which run inside the console process and get data and actions from the `Backend` the server
//! provides as context; every permission is checked there, not only hidden here.

pub mod api;
pub mod app;
#[cfg(feature = "ssr")]
pub mod backend;
pub mod codec;
mod components;
mod form;
mod live;
pub mod model;
mod pages;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}

//! The console's web UI: a Leptos app rendered on the server (`ssr`, linked into
//! certfleet-server) and hydrated in the browser (`hydrate`, compiled to wasm by
//! `scripts/build-web.sh`). Pages reach the console only through server functions, which run
//! inside the console process and get their data and actions from the `Backend` the server
//! provides as context.

pub mod app;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}

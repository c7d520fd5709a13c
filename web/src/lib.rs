//! The console's web UI: a Leptos app rendered on the server (`ssr`) and hydrated in the
//! browser (`hydrate`). Empty until the dashboard issue.

//! The dashboard's edge: the Leptos routes and the `Backend` the pages' server functions
//! call, the live events, the CSV export and the upload form. Adapters only: each parses
//! what the browser sent, calls the console core and renders its answer.

mod alert_form;
mod backend;
mod convert;
mod export;
mod rollout_form;
mod upload;
mod web;

pub use backend::ConsoleBackend;
pub use upload::read_upload;
pub use web::{options, router};

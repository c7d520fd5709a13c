//! The client side of certfleet: a machine that must trust servers (BPA Platform, the
//! Sage 300 Connector tool) checks each one it is configured for, as its own TLS clients
//! would — does the served chain lead to a root in this machine's trust store, does the
//! certificate carry the name, does it allow Server Authentication — and reports the verdict
//! with its reason.

pub mod attached;
mod check;
pub mod install;

pub use check::{Anchors, check, check_all, judge_chain};

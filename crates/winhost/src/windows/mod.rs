//! The real Windows calls behind the traits. Every `unsafe` block says why it is sound.

pub mod eventlog;
pub mod service_host;
mod services;
mod stores;
mod wide;

pub use services::{Install, ScmServices, install, recovery, uninstall};
pub use stores::SystemStores;

//! certfleet-agent as a library: the agent's parts (enrolment, connection, inventory, the
//! deploy executor and its drivers, the host's platform layer) for its binary, its tests
//! and its fuzz targets. The binary (`main.rs`) is only the command line.

pub mod acme_http;
pub mod config;
pub mod connection;
pub mod deploy;
pub mod enroll;
pub mod fuzzing;
pub mod host;
pub mod https;
pub mod identity;
pub mod inspect;
pub mod inventory;
pub mod logfile;
pub mod pending_keys;
pub mod private;
pub mod sage300;
pub mod scan;
pub mod service;
pub mod store;
pub mod tls;
pub mod trust;

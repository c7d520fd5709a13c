//! certfleet-winhost: the Windows half of the agent's host layer. Each capability the agent
//! needs from Windows — the LocalMachine certificate stores, the service control manager,
//! the HTTP Server API's configuration — is a platform-neutral trait here, with a fake
//! (`fake`) that behaves as Windows documents, error codes included, and the real calls in
//! `windows` (built for Windows targets only). Only that module may use `unsafe`.

mod error;
pub mod fake;
pub mod httpsys;
pub mod services;
pub mod stores;
#[cfg(windows)]
#[allow(unsafe_code)]
pub mod windows;

pub use error::{Code, Error, Result};
pub use httpsys::{BindingKey, HttpConfig, SslBinding, UrlAcl};
pub use services::{ServiceConfig, ServiceState, ServiceStatus, Services, Wait};
pub use stores::{CertStores, Imported, PrivateKey, Store, StoredCertificate, Usable};

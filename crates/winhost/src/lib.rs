//! certfleet-winhost: the Windows half of the agent's host layer. Each capability the agent
//! needs from Windows — the LocalMachine certificate stores, the service control manager,
//! the HTTP Server API's configuration — is a platform-neutral trait here, with a fake
//! (`fake`) that behaves as Windows documents, error codes included, and the real calls in
//! `windows` (built for Windows targets only). Only that module may use `unsafe`.

pub mod chains;
mod error;
pub mod fake;
pub mod httpsys;
pub mod services;
pub mod stores;
pub mod unsupported;
#[cfg(windows)]
#[allow(unsafe_code)]
pub mod windows;

pub use chains::{ChainEngine, ChainVerdict, RevocationCheck};
pub use error::{Code, Error, Result};
pub use httpsys::{BindingKey, HttpConfig, SslBinding, UrlAcl};
pub use services::{ServiceConfig, ServiceState, ServiceStatus, Services, Wait};
pub use stores::{CertStores, Imported, PrivateKey, Store, StoredCertificate, Usable};

use std::sync::Arc;

/// The host's capabilities, shared by the agent's parts.
#[derive(Clone)]
pub struct Host {
    pub stores: Arc<dyn CertStores>,
    pub services: Arc<dyn Services>,
    pub http: Arc<dyn HttpConfig>,
    pub chains: Arc<dyn ChainEngine>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").finish_non_exhaustive()
    }
}

impl Host {
    /// This machine's: the real Windows calls on Windows; elsewhere every call says it needs
    /// Windows.
    pub fn native() -> Self {
        #[cfg(windows)]
        {
            Host {
                stores: Arc::new(windows::SystemStores),
                services: Arc::new(windows::ScmServices),
                http: Arc::new(windows::HttpSysConfig),
                chains: Arc::new(windows::MachineChains),
            }
        }
        #[cfg(not(windows))]
        {
            let none = Arc::new(unsupported::NotWindows);
            Host {
                stores: none.clone(),
                services: none.clone(),
                http: none.clone(),
                chains: none,
            }
        }
    }

    /// Fakes for tests, with handles to drive them.
    pub fn fake() -> (Self, Arc<fake::FakeStores>, Arc<fake::FakeServices>) {
        let machine = fake::FakeMachine::new();
        (machine.host, machine.stores, machine.services)
    }
}

//! In-memory stand-ins for the Windows capabilities, for tests on any platform. Each keeps
//! Windows' documented behaviour, error codes included, so code written against the traits
//! meets the same answers here as on a server.

mod chains;
mod httpsys;
mod services;
mod stores;

pub use chains::FakeChains;
pub use httpsys::FakeHttpConfig;
pub use services::{Behaviour, FakeServices};
pub use stores::FakeStores;

use std::sync::Arc;

/// A whole fake machine: the [`crate::Host`] the agent is given, and a handle on each fake
/// to set it up and look at it afterwards.
#[derive(Debug, Clone)]
pub struct FakeMachine {
    pub host: crate::Host,
    pub stores: Arc<FakeStores>,
    pub services: Arc<FakeServices>,
    pub http: Arc<FakeHttpConfig>,
    pub chains: Arc<FakeChains>,
}

impl FakeMachine {
    pub fn new() -> Self {
        let stores = Arc::new(FakeStores::new());
        let services = Arc::new(FakeServices::new());
        let http = Arc::new(FakeHttpConfig::new(stores.clone()));
        let chains = Arc::new(FakeChains::new(stores.clone()));
        FakeMachine {
            host: crate::Host {
                stores: stores.clone(),
                services: services.clone(),
                http: http.clone(),
                chains: chains.clone(),
            },
            stores,
            services,
            http,
            chains,
        }
    }
}

impl Default for FakeMachine {
    fn default() -> Self {
        Self::new()
    }
}

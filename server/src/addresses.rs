//! The addresses the console tells others (agents dial the gateway, emails and install
//! commands link to the web UI), from configuration and, once bound, the real ports.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use crate::config::Config;

#[derive(Clone, Debug)]
pub struct Addresses {
    config: Arc<Config>,
    /// The gateway's address once bound (its port may have been 0).
    gateway_bound: Arc<OnceLock<SocketAddr>>,
    /// The API's (and web UI's) address once bound.
    api_bound: Arc<OnceLock<SocketAddr>>,
}

impl Addresses {
    pub fn new(config: Arc<Config>) -> Self {
        Addresses {
            config,
            gateway_bound: Default::default(),
            api_bound: Default::default(),
        }
    }

    /// Records the ports actually bound; the first call wins.
    pub fn bound(&self, api: SocketAddr, gateway: SocketAddr) {
        let _ = self.api_bound.set(api);
        let _ = self.gateway_bound.set(gateway);
    }

    fn host(&self) -> &str {
        self.config
            .names
            .first()
            .map(String::as_str)
            .unwrap_or("localhost")
    }

    /// The URL agents dial: configured, or built from the names and the bound port.
    pub fn gateway_url(&self) -> String {
        match (self.gateway_bound.get(), &self.config.gateway_url) {
            (Some(bound), None) => format!("https://{}:{}", self.host(), bound.port()),
            _ => self.config.gateway_url(),
        }
    }

    /// The web UI's URL, for emails and commands that fetch from it.
    pub fn ui_url(&self) -> String {
        let port = self
            .api_bound
            .get()
            .map(|a| a.port())
            .unwrap_or(self.config.api_listen.port());
        format!("https://{}:{port}", self.host())
    }
}

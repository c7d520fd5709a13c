//! The `sage300` driver: a Sage 300 Connector Agent's port. Preflight reads every
//! installation on the port, checks the bundle names the `ServiceUri` host and carries the
//! connector's purposes, and refuses a port another application has bound. The plan imports
//! the certificate into My (a self-signed one, or with `import_root` the chain's root, into
//! Root too), reserves `https://+:PORT/`, points every binding of the port that would serve
//! something else at the new thumbprint (or adds `0.0.0.0:PORT` with the connector's appid),
//! sets `ServiceUri` to `https://FQDN:PORT`, restarts the service and verifies the port with
//! and without SNI.

use std::pin::Pin;

use base64::Engine;
use certfleet_certkit::{self as certkit, Fingerprint, Purpose};
use certfleet_winhost::{BindingKey, Error as WinError, Host, SslBinding, Store};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{
    Bundle, Driver, Error, Exposure, FileWrite, Plan, Reach, Restart, VerifyAt, WindowsChange,
    reservation_url,
};
use crate::config::{AgentConfig, Sage300Target};
use crate::sage300::{APP_ID, ConnectorConfig, ServiceUri, discover};

/// One installation on the port, as read for this deployment.
#[derive(Debug)]
struct OnPort {
    target: Sage300Target,
    config: ConnectorConfig,
}

#[derive(Debug)]
pub struct Sage300Driver {
    port: u16,
    installations: Vec<OnPort>,
    host: Host,
}

impl Sage300Driver {
    /// The driver for `sage300:PORT`: every configured installation whose `ServiceUri`
    /// names that port.
    pub fn find(config: &AgentConfig, host: &Host, endpoint: &str) -> Result<Self, Error> {
        let port: u16 = endpoint
            .strip_prefix("sage300:")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| {
                Error::NotConfigured(format!("{endpoint:?} is not a Sage 300 port endpoint"))
            })?;
        let mut installations = Vec::new();
        // One that cannot be read is on no port we can name: it does not stop the others
        // (the inventory reports it), and is named if no installation answers for `port`.
        let mut unreadable = Vec::new();
        for target in &discover::installations(&config.sage300, host) {
            let config = match ConnectorConfig::read(&target.config) {
                Ok(config) => config,
                Err(e) => {
                    unreadable.push(e.to_string());
                    continue;
                }
            };
            if config.service_uri().port == port {
                installations.push(OnPort {
                    target: target.clone(),
                    config,
                });
            }
        }
        if installations.is_empty() {
            let also = if unreadable.is_empty() {
                String::new()
            } else {
                format!(" (unreadable: {})", unreadable.join("; "))
            };
            return Err(Error::NotConfigured(format!(
                "no [[sage300]] installation in the agent's configuration listens on port \
                 {port} any more: rescan the host and plan the rollout again{also}"
            )));
        }
        Ok(Sage300Driver {
            port,
            installations,
            host: host.clone(),
        })
    }

    fn first(&self) -> &OnPort {
        &self.installations[0]
    }

    /// The name clients use: `fqdn` when configured, else the `ServiceUri` host.
    fn fqdn(&self) -> String {
        let first = self.first();
        first
            .target
            .fqdn
            .clone()
            .unwrap_or_else(|| first.config.service_uri().host.clone())
            .to_ascii_lowercase()
    }

    fn service_uri(&self) -> ServiceUri {
        self.first().config.service_uri().as_https(&self.fqdn())
    }

    fn bindings(&self) -> Result<Vec<SslBinding>, Error> {
        match self.host.http.ssl_bindings() {
            Ok(all) => Ok(all
                .into_iter()
                .filter(|b| b.key.port() == self.port)
                .collect()),
            Err(e @ WinError::Unsupported { .. }) => Err(Error::Windows(format!(
                "this host has no HTTP.sys to bind a certificate with: {e}"
            ))),
            Err(e) => Err(Error::Windows(format!(
                "cannot read the HTTP.sys bindings: {e}"
            ))),
        }
    }

    /// Every installation's service on the port, once each, in configuration order.
    fn restart(&self) -> Restart {
        let mut services: Vec<String> = Vec::new();
        for i in &self.installations {
            let name = i.target.service();
            if !services.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                services.push(name.to_owned());
            }
        }
        match services.len() {
            1 => Restart::Service {
                service: services.remove(0),
            },
            _ => Restart::Services { services },
        }
    }

    fn verify_at(&self) -> VerifyAt {
        let fqdn = self.fqdn();
        VerifyAt {
            address: self
                .first()
                .target
                .address
                .clone()
                .unwrap_or_else(|| format!("{fqdn}:{}", self.port)),
            server_name: Some(fqdn),
            without_sni: Some(format!("127.0.0.1:{}", self.port)),
        }
    }

    /// The leaf the port's clients get now, by SHA-256, when it can be read.
    fn current_sha256(&self, bindings: &[SslBinding]) -> Option<String> {
        let refs: Vec<&SslBinding> = bindings.iter().collect();
        let chosen = discover::selected(&refs, &self.fqdn(), self.port)?;
        let store = Store::parse(&chosen.store)?;
        let stored = self.host.stores.find(store, &chosen.thumbprint).ok()??;
        Some(Fingerprint::of(&stored.der).to_string())
    }
}

impl Driver for Sage300Driver {
    fn preflight<'a>(
        &'a self,
        bundle: &'a Bundle,
        now: OffsetDateTime,
    ) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'a>> {
        Box::pin(async move {
            bundle.judge(Some(&self.fqdn()), Purpose::Sage300, now)?;
            // Every installation on the port serves what is deployed: each one's list holds.
            for installation in &self.installations {
                bundle.check_issuers(&installation.target.allowed_issuers)?;
            }
            for binding in self.bindings()? {
                if !binding.app_id.eq_ignore_ascii_case(APP_ID) {
                    return Err(Error::PortTaken {
                        address: format!("port {}", self.port),
                        why: format!(
                            "{} is bound for the application {}, not the Sage 300 connector \
                             ({APP_ID}); certfleet does not replace another program's binding: \
                             move one of them to another port",
                            binding.key, binding.app_id
                        ),
                    });
                }
                if Store::parse(&binding.store).is_none() {
                    return Err(Error::Endpoint(format!(
                        "{} uses the certificate store {:?}, which certfleet does not manage: \
                         bind from LocalMachine\\My",
                        binding.key, binding.store
                    )));
                }
            }
            Ok(())
        })
    }

    fn plan(&self, bundle: &Bundle) -> Result<Plan, Error> {
        let material = certkit::read(bundle.chain_pem.as_bytes(), None)
            .map_err(|e| Error::Bundle(format!("the chain sent by the console: {e}")))?;
        let leaf = material
            .certificates
            .first()
            .ok_or_else(|| Error::Bundle("the console sent no certificate".into()))?;
        let thumbprint = leaf.facts().thumbprint;
        let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
        let mut windows = vec![WindowsChange::Import {
            thumbprint: thumbprint.to_string(),
        }];
        // The connector's procedure trusts a self-signed certificate on the server itself;
        // an issuing CA's root only when the installation asks for it.
        let root = if leaf.facts().self_signed {
            Some(leaf)
        } else if self.installations.iter().any(|i| i.target.import_root) {
            material
                .certificates
                .last()
                .filter(|c| c.facts().self_signed)
        } else {
            None
        };
        if let Some(root) = root {
            windows.push(WindowsChange::Trust {
                thumbprint: root.facts().thumbprint.to_string(),
                der_base64: b64(root.der()),
            });
        }
        windows.push(WindowsChange::Reserve {
            url: reservation_url(self.port),
        });
        let bindings = self.bindings()?;
        let stale: Vec<&SslBinding> = bindings
            .iter()
            .filter(|b| b.thumbprint != thumbprint)
            .collect();
        for binding in &stale {
            windows.push(WindowsChange::Bind {
                key: binding.key.to_string(),
                thumbprint: thumbprint.to_string(),
                app_id: binding.app_id.clone(),
            });
        }
        if bindings.is_empty() {
            windows.push(WindowsChange::Bind {
                key: BindingKey::IpPort(std::net::SocketAddr::from(([0, 0, 0, 0], self.port)))
                    .to_string(),
                thumbprint: thumbprint.to_string(),
                app_id: APP_ID.into(),
            });
        }
        let uri = self.service_uri();
        let files = self
            .installations
            .iter()
            .filter(|i| *i.config.service_uri() != uri)
            .map(|i| FileWrite {
                path: i.target.config.clone(),
                contents: Zeroizing::new(i.config.with_service_uri(&uri)),
                exposure: Exposure::Kept,
            })
            .collect();
        Ok(Plan {
            files,
            removes: Vec::new(),
            probe: None,
            windows,
            reach: self.reach()?,
            old_sha256: self.current_sha256(&bindings),
            private_readers: None,
        })
    }

    fn reach(&self) -> Result<Reach, Error> {
        Ok(Reach {
            files: self
                .installations
                .iter()
                .map(|i| i.target.config.clone())
                .collect(),
            windows_port: Some(self.port),
            check: None,
            restart: Some(self.restart()),
            error_log: None,
            verify: Some(self.verify_at()),
            ..Reach::default()
        })
    }
}

//! The `apache` driver (the eSync case): the new certificate, key (decrypted: Apache on
//! Windows cannot prompt) and chain replace the files the virtual host names, owner-only;
//! the configuration test runs before any restart; a failed restart brings the new lines
//! of error.log into the result.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use certfleet_certkit::Purpose;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{Bundle, CommandLine, Driver, FileWrite, Plan, VerifyAt, check_port, configured_leaf};
use crate::config::ApacheTarget;
use crate::inventory::apache::{self, VirtualHost};

pub struct ApacheDriver {
    target: ApacheTarget,
    host: VirtualHost,
    server_root: PathBuf,
}

impl ApacheDriver {
    /// The driver for the virtual host the console names by `endpoint` (its inventory key).
    pub fn find(target: &ApacheTarget, endpoint: &str) -> Result<Self, String> {
        let parsed = apache::parse(&target.config, target.server_root.as_deref())
            .map_err(|e| e.to_string())?;
        let host = parsed
            .tls_hosts
            .into_iter()
            .find(|h| h.endpoint_key() == endpoint)
            .ok_or_else(|| {
                format!(
                    "{} has no TLS virtual host {endpoint:?} any more: rescan the host and plan \
                     the rollout again",
                    target.config.display()
                )
            })?;
        Ok(ApacheDriver {
            target: target.clone(),
            host,
            server_root: parsed.server_root,
        })
    }

    fn verify_at(&self) -> Option<VerifyAt> {
        self.host.probe_address().map(|address| VerifyAt {
            address,
            server_name: self.host.server_name.clone(),
        })
    }

    fn config_test(&self) -> CommandLine {
        CommandLine(self.target.config_test.clone().unwrap_or_else(|| {
            if cfg!(windows) {
                vec![
                    self.server_root
                        .join("bin")
                        .join("httpd.exe")
                        .display()
                        .to_string(),
                    "-t".into(),
                    "-f".into(),
                    self.target.config.display().to_string(),
                ]
            } else {
                vec!["apache2ctl".into(), "-t".into()]
            }
        }))
    }

    fn restart(&self) -> CommandLine {
        CommandLine(self.target.restart.clone().unwrap_or_else(|| {
            if cfg!(windows) {
                vec![
                    "powershell.exe".into(),
                    "-NoProfile".into(),
                    "-Command".into(),
                    "Restart-Service -DisplayName 'eSync Apache Web Server'".into(),
                ]
            } else {
                vec!["apache2ctl".into(), "graceful".into()]
            }
        }))
    }

    fn error_log(&self) -> PathBuf {
        self.target.error_log.clone().unwrap_or_else(|| {
            if cfg!(windows) {
                self.server_root.join("logs").join("error.log")
            } else {
                Path::new("/var/log/apache2/error.log").to_path_buf()
            }
        })
    }
}

impl Driver for ApacheDriver {
    fn preflight<'a>(
        &'a self,
        bundle: &'a Bundle,
        now: OffsetDateTime,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let where_ = format!("{}:{}", self.host.file.display(), self.host.line);
            if self.host.certificate_file.is_none() || self.host.key_file.is_none() {
                return Err(format!(
                    "the virtual host at {where_} names no SSLCertificateFile or \
                     SSLCertificateKeyFile to replace: add both (any path) and deploy again"
                ));
            }
            bundle.judge(self.host.server_name.as_deref(), Purpose::Apache, now)?;
            if let Some(at) = self.verify_at() {
                let configured = self
                    .host
                    .certificate_file
                    .as_deref()
                    .and_then(configured_leaf);
                check_port(&at, configured.as_deref(), &bundle.sha256).await?;
            }
            Ok(())
        })
    }

    fn plan(&self, bundle: &Bundle) -> Result<Plan, String> {
        let (leaf, issuers) = bundle.split_chain()?;
        let certificate_file = self
            .host
            .certificate_file
            .clone()
            .ok_or("no SSLCertificateFile")?;
        let key_file = self
            .host
            .key_file
            .clone()
            .ok_or("no SSLCertificateKeyFile")?;
        let mut files = Vec::new();
        // With a chain file, the issuers go there; without, Apache 2.4.8+ reads them from
        // the certificate file after the leaf.
        let certificate = match &self.host.chain_file {
            Some(chain) if !issuers.is_empty() => {
                files.push(FileWrite {
                    path: chain.clone(),
                    contents: Zeroizing::new(issuers.into_bytes()),
                });
                leaf
            }
            // No issuers (a leaf straight from a root): the chain file stays as it is.
            Some(_) => leaf,
            None => bundle.chain_pem.clone(),
        };
        files.insert(
            0,
            FileWrite {
                path: certificate_file.clone(),
                contents: Zeroizing::new(certificate.into_bytes()),
            },
        );
        files.push(FileWrite {
            path: key_file,
            contents: Zeroizing::new(bundle.key_pem.as_bytes().to_vec()),
        });
        Ok(Plan {
            files,
            check: Some(self.config_test()),
            restart: Some(self.restart()),
            error_log: Some(self.error_log()),
            verify: self.verify_at(),
            old_sha256: configured_leaf(&certificate_file),
        })
    }
}

//! The `apache` driver (the eSync case). Two ways to a site:
//! - an existing TLS virtual host: the new certificate, key (decrypted: Apache on Windows
//!   cannot prompt) and chain replace the files it names;
//! - a managed site (`[[apache.managed]]`): certfleet writes the files under its own folder
//!   and keeps a marked block in the main configuration file (Listen, mod_ssl, the
//!   VirtualHost), leaving the rest of the file as it was.
//!
//! Either way every file is written owner-only and atomically, the configuration test runs
//! before any restart, and a failed restart brings the new lines of error.log into the
//! result.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use certfleet_certkit::Purpose;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{
    Bundle, CommandLine, Driver, Error, Exposure, FileWrite, Plan, Reach, Restart, VerifyAt,
    check_port, configured_leaf, managed,
};

/// The Windows service of an eSync installation's Apache.
pub const ESYNC_SERVICE: &str = "eSync Apache Web Server";
use certfleet_winhost::Host;

use crate::config::{ApacheTarget, ManagedSite};
use crate::inventory::apache::{self, VirtualHost};

#[derive(Debug)]
enum Site {
    /// A virtual host of the configuration, by the files it names.
    Existing(VirtualHost),
    /// A site of the managed block (which may not exist yet).
    Managed(ManagedSite),
}

#[derive(Debug)]
pub struct ApacheDriver {
    target: ApacheTarget,
    site: Site,
    server_root: PathBuf,
    /// `Listen` ports of the configuration outside the managed block.
    listening: Vec<u16>,
    /// The account the Apache service runs as (from the SCM): it alone, besides SYSTEM and
    /// Administrators, may read the key files.
    service_account: Option<String>,
}

fn port_of(listen: &str) -> Option<u16> {
    listen.rsplit(':').next()?.trim().parse().ok()
}

impl ApacheDriver {
    /// The driver for the site the console names by `endpoint` (its inventory key).
    pub fn find(target: &ApacheTarget, endpoint: &str) -> Result<Self, Error> {
        let parsed = apache::parse(&target.config, target.server_root.as_deref())
            .map_err(|e| Error::Endpoint(e.to_string()))?;
        // The block's own Listen lines do not count: it is rewritten whole.
        let text = std::fs::read_to_string(&target.config).unwrap_or_default();
        let mut listening: Vec<u16> = parsed.listens.iter().filter_map(|l| port_of(l)).collect();
        if let (Some(b), Some(e)) = (text.find(managed::BEGIN), text.find(managed::END)) {
            for line in text[b..e.max(b)].lines() {
                if let Some(port) = line.trim().strip_prefix("Listen ").and_then(port_of)
                    && let Some(i) = listening.iter().position(|p| *p == port)
                {
                    listening.remove(i);
                }
            }
        }
        let site = if let Some(site) = target.managed.iter().find(|s| s.endpoint_key() == endpoint)
        {
            Site::Managed(site.clone())
        } else {
            Site::Existing(
                parsed
                    .tls_hosts
                    .into_iter()
                    .find(|h| h.endpoint_key() == endpoint)
                    .ok_or_else(|| {
                        Error::NotConfigured(format!(
                            "{} has no TLS virtual host {endpoint:?} any more: rescan the host \
                             and plan the rollout again",
                            target.config.display()
                        ))
                    })?,
            )
        };
        Ok(ApacheDriver {
            target: target.clone(),
            site,
            server_root: parsed.server_root,
            listening,
            service_account: None,
        })
    }

    /// Asks the service control manager which account the Apache service runs as, when
    /// Apache is restarted as a service: its key files are then readable by that account,
    /// SYSTEM and Administrators only (an explicit ACL, never the folder's).
    pub fn with_service_account(mut self, host: &Host) -> Self {
        if let Restart::Service { service } = self.restart() {
            self.service_account = host.services.config(&service).ok().map(|c| c.account);
        }
        self
    }

    fn managed_dir(&self) -> PathBuf {
        self.target
            .managed_dir
            .clone()
            .unwrap_or_else(|| self.server_root.join("conf").join("certfleet"))
    }

    fn ssl_module(&self) -> PathBuf {
        self.target.ssl_module.clone().unwrap_or_else(|| {
            if cfg!(windows) {
                PathBuf::from("modules/mod_ssl.so")
            } else {
                PathBuf::from("/usr/lib/apache2/modules/mod_ssl.so")
            }
        })
    }

    fn server_name(&self) -> Option<&str> {
        match &self.site {
            Site::Existing(host) => host.server_name.as_deref(),
            Site::Managed(site) => Some(&site.server_name),
        }
    }

    /// The files the site's certificate lives in: certificate, key, chain.
    fn files(&self) -> Result<(PathBuf, PathBuf, Option<PathBuf>), Error> {
        match &self.site {
            Site::Existing(host) => {
                let where_ = format!("{}:{}", host.file.display(), host.line);
                match (&host.certificate_file, &host.key_file) {
                    (Some(cert), Some(key)) => {
                        Ok((cert.clone(), key.clone(), host.chain_file.clone()))
                    }
                    _ => Err(Error::Endpoint(format!(
                        "the virtual host at {where_} names no SSLCertificateFile or \
                         SSLCertificateKeyFile to replace: add both (any path) and deploy again"
                    ))),
                }
            }
            Site::Managed(site) => {
                let (cert, key, chain) = managed::site_files(&self.managed_dir(), site);
                Ok((cert, key, Some(chain)))
            }
        }
    }

    fn verify_at(&self) -> Option<VerifyAt> {
        match &self.site {
            Site::Existing(host) => host.probe_address().map(|address| VerifyAt {
                address,
                server_name: host.server_name.clone(),
                without_sni: None,
            }),
            Site::Managed(site) => Some(VerifyAt {
                address: format!("127.0.0.1:{}", site.port),
                server_name: Some(site.server_name.clone()),
                without_sni: None,
            }),
        }
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

    fn restart(&self) -> Restart {
        if let Some(command) = &self.target.restart {
            return Restart::Command(CommandLine(command.clone()));
        }
        match (&self.target.service, cfg!(windows)) {
            (Some(service), _) => Restart::Service {
                service: service.clone(),
            },
            (None, true) => Restart::Service {
                service: ESYNC_SERVICE.into(),
            },
            (None, false) => {
                Restart::Command(CommandLine(vec!["apache2ctl".into(), "graceful".into()]))
            }
        }
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

    /// The main configuration with the managed block for every managed site that has its
    /// files (or is `this` one, about to get them).
    fn managed_config(&self, this: &ManagedSite) -> Result<Vec<u8>, Error> {
        let dir = self.managed_dir();
        let sites: Vec<ManagedSite> = self
            .target
            .managed
            .iter()
            .filter(|s| {
                s.endpoint_key() == this.endpoint_key() || managed::site_files(&dir, s).0.exists()
            })
            .cloned()
            .collect();
        let text = self.read_config()?;
        // The challenge alias, once added, stays for the next order.
        let challenges = self.challenge_dir();
        let alias = text
            .contains(&managed::challenge_alias(&challenges))
            .then_some(challenges.as_path());
        let block = managed::render(&sites, &dir, &self.ssl_module(), &self.listening, alias);
        Ok(managed::replace(&text, &block)?.into_bytes())
    }

    fn read_config(&self) -> Result<String, Error> {
        std::fs::read_to_string(&self.target.config).map_err(|source| Error::File {
            action: "read",
            path: self.target.config.clone(),
            source,
        })
    }

    /// The folder Apache serves at `/.well-known/acme-challenge/` once the alias is in.
    pub fn challenge_dir(&self) -> PathBuf {
        self.managed_dir().join("acme-challenge")
    }

    /// Answers an ACME HTTP-01 challenge through this Apache, for when it holds port 80:
    /// the key authorization goes into the challenge folder, and the first time the alias
    /// goes into the managed block (configuration test, then a restart; the file is put
    /// back as it was if either fails). The alias stays, so later orders need no restart.
    pub async fn serve_challenge(
        &self,
        host: &Host,
        token: &str,
        key_authorization: &str,
        timeout: Duration,
    ) -> Result<PathBuf, Error> {
        let dir = self.challenge_dir();
        std::fs::create_dir_all(&dir).map_err(|source| Error::File {
            action: "create",
            path: dir.clone(),
            source,
        })?;
        #[cfg(unix)]
        {
            // Apache's workers (www-data) read it; a key authorization is public.
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755));
        }
        forget_old_challenges(&dir);
        let file = dir.join(token);
        super::files::replace_public(&file, key_authorization.as_bytes()).map_err(|source| {
            Error::File {
                action: "write",
                path: file.clone(),
                source,
            }
        })?;
        let text = self.read_config()?;
        if text.contains(&managed::challenge_alias(&dir)) {
            return Ok(file);
        }
        let dir_of_sites = self.managed_dir();
        let sites: Vec<ManagedSite> = self
            .target
            .managed
            .iter()
            .filter(|s| managed::site_files(&dir_of_sites, s).0.exists())
            .cloned()
            .collect();
        let block = managed::render(
            &sites,
            &dir_of_sites,
            &self.ssl_module(),
            &self.listening,
            Some(&dir),
        );
        let new = managed::replace(&text, &block)?;
        let config = &self.target.config;
        let write = |bytes: &[u8]| {
            super::files::replace_kept(config, bytes).map_err(|source| Error::File {
                action: "write",
                path: config.clone(),
                source,
            })
        };
        write(new.as_bytes())?;
        if let Err(e) = self.config_test().run(timeout).await {
            write(text.as_bytes())?;
            return Err(e);
        }
        let restart = self.restart();
        if let Err(e) = restart.run(&host.services, timeout).await {
            // Whatever state the failed restart left, load the configuration as it was.
            write(text.as_bytes())?;
            let _ = restart.run(&host.services, timeout).await;
            return Err(e);
        }
        tracing::info!(config = %config.display(), "added the ACME challenge alias to the managed block");
        Ok(file)
    }
}

/// Challenge files no order ended (a console that went away mid-order): an ACME order
/// lives minutes, so anything older than a day is nobody's.
fn forget_old_challenges(dir: &Path) {
    const DAY: std::time::Duration = std::time::Duration::from_secs(86_400);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > DAY);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl Driver for ApacheDriver {
    fn preflight<'a>(
        &'a self,
        bundle: &'a Bundle,
        now: OffsetDateTime,
    ) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'a>> {
        Box::pin(async move {
            let (cert, _, _) = self.files()?;
            bundle.judge(self.server_name(), Purpose::Apache, now)?;
            bundle.check_issuers(&self.target.allowed_issuers)?;
            if let Site::Managed(site) = &self.site {
                // Fails early on damaged markers, before anything is staged.
                self.managed_config(site)?;
            }
            if let Some(at) = self.verify_at() {
                let configured = configured_leaf(&cert);
                // A managed site that does not exist yet owns nothing on its port: whatever
                // answers there belongs to another program.
                let ours_or_absent = match &self.site {
                    Site::Managed(_) => configured.is_some(),
                    Site::Existing(_) => true,
                };
                check_port(&at, configured.as_deref(), &bundle.sha256, ours_or_absent).await?;
            }
            Ok(())
        })
    }

    fn plan(&self, bundle: &Bundle) -> Result<Plan, Error> {
        let (leaf, issuers) = bundle.split_chain()?;
        let (certificate_file, key_file, chain_file) = self.files()?;
        let mut files = Vec::new();
        let mut certificate = leaf.clone();
        match (&chain_file, &self.site) {
            // No issuers (a leaf straight from a root): an existing chain file stays as it
            // is; a managed one (which the block names) gets the leaf, never nothing.
            (Some(_), Site::Existing(_)) if issuers.is_empty() => {}
            (Some(chain), _) => files.push(FileWrite {
                path: chain.clone(),
                contents: Zeroizing::new(
                    if issuers.is_empty() { leaf } else { issuers }.into_bytes(),
                ),
                exposure: Exposure::Private,
            }),
            // Without a chain file, Apache 2.4.8+ reads the issuers after the leaf.
            (None, _) => certificate = bundle.chain_pem.clone(),
        }
        files.insert(
            0,
            FileWrite {
                path: certificate_file.clone(),
                contents: Zeroizing::new(certificate.into_bytes()),
                exposure: Exposure::Private,
            },
        );
        files.push(FileWrite {
            path: key_file,
            contents: Zeroizing::new(bundle.key_pem.as_bytes().to_vec()),
            exposure: Exposure::Private,
        });
        if let Site::Managed(site) = &self.site {
            std::fs::create_dir_all(self.managed_dir()).map_err(|source| Error::File {
                action: "create",
                path: self.managed_dir(),
                source,
            })?;
            files.push(FileWrite {
                path: self.target.config.clone(),
                contents: Zeroizing::new(self.managed_config(site)?),
                exposure: Exposure::Kept,
            });
        }
        Ok(Plan {
            files,
            removes: Vec::new(),
            probe: None,
            windows: Vec::new(),
            reach: self.reach()?,
            old_sha256: configured_leaf(&certificate_file),
            private_readers: match self.restart() {
                Restart::Service { .. } | Restart::Services { .. } => {
                    Some(self.service_account.iter().cloned().collect())
                }
                Restart::Command(_) => None,
            },
        })
    }

    fn reach(&self) -> Result<Reach, Error> {
        let (certificate_file, key_file, chain_file) = self.files()?;
        let mut files = vec![certificate_file, key_file];
        files.extend(chain_file);
        if let Site::Managed(_) = &self.site {
            files.push(self.target.config.clone());
        }
        Ok(Reach {
            files,
            windows_port: None,
            check: Some(self.config_test()),
            restart: Some(self.restart()),
            error_log: Some(self.error_log()),
            verify: self.verify_at(),
            ..Reach::default()
        })
    }
}

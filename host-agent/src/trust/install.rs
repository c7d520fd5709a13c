//! Putting what a client machine must trust into its trust store, and taking out again only
//! what certfleet put there. What a console may make a client trust is narrow, so a console
//! that was taken over cannot plant a root on every client: only for an endpoint of this
//! agent's own `[[trust]]` list, and only a self-signed end-entity certificate whose names
//! cover that endpoint's host (trusting it trusts that one certificate), or a CA certificate
//! the target pins in `allowed_issuers`.
//!
//! On Linux the certificate becomes a file in the target's `bundle_dir` and its
//! `update_command` rebuilds the bundle; on Windows it goes into LocalMachine\Root. Each
//! addition is recorded in the ledger (`trust-installed.json` in the data folder) before the
//! command runs, so a removal never touches an entry someone else made.

use std::path::{Path, PathBuf};

use certfleet_certkit::{self as certkit, Certificate, Fingerprint, HostName};
use certfleet_winhost::{Host, Store};
use serde::{Deserialize, Serialize};

use crate::config::TrustTarget;
use crate::deploy::CommandLine;

/// Why a certificate was not installed or removed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "refused: {endpoint} is not in this machine's [[trust]] list; add it to agent.toml if \
         this machine must trust it"
    )]
    NotInList { endpoint: String },
    #[error(
        "refused: the self-signed certificate \"{subject}\" names {names}, not {host}, which \
         this machine connects to"
    )]
    NotForHost {
        subject: String,
        names: String,
        host: String,
    },
    #[error(
        "refused: \"{subject}\" ({sha256}) is a CA certificate that the [[trust]] table of \
         {endpoint} does not pin; add its SHA-256 to allowed_issuers on this machine if it \
         should be trusted"
    )]
    NotPinned {
        subject: String,
        sha256: String,
        endpoint: String,
    },
    #[error(
        "refused: \"{subject}\" is neither self-signed nor a CA certificate; a client trusts \
         a server's self-signed certificate or the CA that issued it"
    )]
    NotAnAnchor { subject: String },
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Command(String),
    #[error("{0}")]
    Store(String),
}

/// The target of `endpoint` in this machine's list, and whether `cert` may be trusted for it.
pub fn admit<'a>(
    targets: &'a [TrustTarget],
    endpoint: &str,
    cert: &Certificate,
) -> Result<&'a TrustTarget, Error> {
    let target = targets
        .iter()
        .find(|t| t.endpoint.eq_ignore_ascii_case(endpoint))
        .ok_or_else(|| Error::NotInList {
            endpoint: endpoint.to_owned(),
        })?;
    let facts = cert.facts();
    let pinned = target
        .allowed_issuers
        .iter()
        .filter_map(|p| Fingerprint::parse(p).ok())
        .any(|p| p == facts.sha256);
    if pinned {
        return Ok(target);
    }
    if cert.is_ca() {
        return Err(Error::NotPinned {
            subject: facts.subject.clone(),
            sha256: facts.sha256.to_string(),
            endpoint: target.endpoint.clone(),
        });
    }
    if !facts.self_signed {
        return Err(Error::NotAnAnchor {
            subject: facts.subject.clone(),
        });
    }
    let host = target.server_name();
    let covered = HostName::parse(&host)
        .is_ok_and(|h| certkit::covers(&facts.dns_names, &facts.ip_addresses, &h));
    if !covered {
        let mut names: Vec<String> = facts.dns_names.clone();
        names.extend(facts.ip_addresses.iter().map(|ip| ip.to_string()));
        return Err(Error::NotForHost {
            subject: facts.subject.clone(),
            names: if names.is_empty() {
                "no name".into()
            } else {
                names.join(", ")
            },
            host,
        });
    }
    Ok(target)
}

/// Where an installed certificate went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "in", deny_unknown_fields)]
pub enum Place {
    /// A file of the bundle folder.
    File { path: PathBuf },
    /// LocalMachine\Root, by thumbprint.
    Root { thumbprint: String },
}

/// One certificate certfleet made this machine trust.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Installed {
    pub endpoint: String,
    pub sha256: String,
    pub place: Place,
}

/// What certfleet installed, kept owner-only in the data folder.
#[derive(Debug, Clone)]
pub struct Ledger {
    path: PathBuf,
}

impl Ledger {
    pub fn at(data_dir: &Path) -> Self {
        Ledger {
            path: data_dir.join("trust-installed.json"),
        }
    }

    pub fn entries(&self) -> Vec<Installed> {
        std::fs::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save(&self, entries: &[Installed]) -> Result<(), Error> {
        let json = serde_json::to_vec_pretty(entries).unwrap_or_default();
        certfleet_files::replace_owner_only(&self.path, &json).map_err(|e| Error::File {
            action: "write",
            path: self.path.clone(),
            source: std::io::Error::new(e.io().kind(), e.to_string()),
        })
    }
}

const DEFAULT_BUNDLE_DIR: &str = "/usr/local/share/ca-certificates";

fn update_command(target: &TrustTarget) -> CommandLine {
    CommandLine(
        target
            .update_command
            .clone()
            .unwrap_or_else(|| vec!["update-ca-certificates".into()]),
    )
}

/// Makes this machine trust `cert` for `target` (already admitted), recording it first.
/// Installing what is already installed changes nothing; `None` when the machine's store
/// had the certificate before certfleet (it is then never certfleet's to remove).
pub async fn install(
    target: &TrustTarget,
    cert: &Certificate,
    host: &Host,
    ledger: &Ledger,
) -> Result<Option<Installed>, Error> {
    let sha256 = cert.facts().sha256.to_string();
    let mut entries = ledger.entries();
    if let Some(done) = entries
        .iter()
        .find(|e| e.sha256 == sha256 && e.endpoint == target.endpoint)
    {
        return Ok(Some(done.clone()));
    }
    let place = if cfg!(windows) && target.bundle_dir.is_none() {
        let thumbprint = cert.facts().thumbprint;
        let there = host
            .stores
            .find(Store::Root, &thumbprint)
            .map_err(|e| Error::Store(format!("reading {}: {e}", Store::Root)))?;
        if there.is_some() {
            return Ok(None);
        }
        Place::Root {
            thumbprint: thumbprint.to_string(),
        }
    } else {
        let dir = target
            .bundle_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_BUNDLE_DIR));
        // update-ca-certificates reads `*.crt` files only.
        Place::File {
            path: dir.join(format!(
                "certfleet-{}.crt",
                &sha256[..16].to_ascii_lowercase()
            )),
        }
    };
    let entry = Installed {
        endpoint: target.endpoint.clone(),
        sha256,
        place,
    };
    entries.push(entry.clone());
    ledger.save(&entries)?;
    match &entry.place {
        Place::File { path } => {
            let pem = certkit::write::pem_chain(std::slice::from_ref(cert));
            // Public: the system's TLS clients read the bundle built from it.
            let access = certfleet_files::Access {
                owner: None,
                mode: 0o644,
            };
            certfleet_files::write_new(path, pem.as_bytes(), access).map_err(|e| Error::File {
                action: "write",
                path: path.clone(),
                source: std::io::Error::new(e.io().kind(), e.to_string()),
            })?;
            update_command(target)
                .run()
                .await
                .map_err(|e| Error::Command(format!("{e}; the file {} stays", path.display())))?;
        }
        Place::Root { .. } => {
            host.stores
                .add(Store::Root, cert.der())
                .map_err(|e| Error::Store(format!("adding to {}: {e}", Store::Root)))?;
        }
    }
    Ok(Some(entry))
}

/// Takes out an entry certfleet installed (and only such an entry), then forgets it.
pub async fn remove(
    target: &TrustTarget,
    sha256: &str,
    host: &Host,
    ledger: &Ledger,
) -> Result<bool, Error> {
    let mut entries = ledger.entries();
    let Some(i) = entries
        .iter()
        .position(|e| e.sha256 == sha256 && e.endpoint == target.endpoint)
    else {
        return Ok(false);
    };
    // Another endpoint may need the same certificate: then it stays in the store.
    let shared = entries
        .iter()
        .enumerate()
        .any(|(j, e)| j != i && e.sha256 == sha256);
    let entry = entries.remove(i);
    if !shared {
        match &entry.place {
            Place::File { path } => {
                match std::fs::remove_file(path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(Error::File {
                            action: "remove",
                            path: path.clone(),
                            source: e,
                        });
                    }
                    _ => {}
                }
                update_command(target)
                    .run()
                    .await
                    .map_err(|e| Error::Command(e.to_string()))?;
            }
            Place::Root { thumbprint } => {
                let t = certkit::Thumbprint::parse(thumbprint)
                    .map_err(|e| Error::Store(format!("the ledger's thumbprint: {e}")))?;
                host.stores
                    .remove(Store::Root, &t)
                    .map_err(|e| Error::Store(format!("removing from {}: {e}", Store::Root)))?;
            }
        }
    }
    ledger.save(&entries)?;
    Ok(true)
}

#[cfg(all(test, unix))]
mod tests {
    use certfleet_e2e::listener::serve_tls;
    use certfleet_e2e::pki::TestCa;
    use certfleet_proto::TrustVerdict;
    use time::OffsetDateTime;

    use super::*;
    use crate::trust::{Anchors, check};

    fn target(endpoint: &str, name: &str) -> TrustTarget {
        TrustTarget {
            endpoint: endpoint.into(),
            server_name: Some(name.into()),
            bundle_dir: None,
            update_command: None,
            ca_file: None,
            allowed_issuers: Vec::new(),
        }
    }

    fn self_signed(names: &[&str], ca: bool) -> (Certificate, String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0]);
        if ca {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        let cert = params.self_signed(&key).expect("sign");
        (
            Certificate::from_der(cert.der()).expect("read"),
            cert.pem(),
            key.serialize_pem(),
        )
    }

    fn read(pem: &str) -> Certificate {
        certkit::read(pem.as_bytes(), None)
            .expect("pem")
            .certificates[0]
            .clone()
    }

    #[test]
    fn only_a_self_signed_certificate_for_the_host_or_a_pinned_ca_is_admitted() {
        let sage = target("sage01.example.test:4207", "sage01.example.test");
        let targets = vec![sage.clone()];
        let (own, _, _) = self_signed(&["sage01.example.test"], false);
        admit(&targets, "SAGE01.example.test:4207", &own).expect("its own certificate");
        let err = admit(&targets, "other.example.test:4207", &own).expect_err("not listed");
        assert!(matches!(err, Error::NotInList { .. }), "{err}");
        let (foreign, _, _) = self_signed(&["www.bank.example"], false);
        let err = admit(&targets, &sage.endpoint, &foreign).expect_err("another host");
        assert!(matches!(err, Error::NotForHost { .. }), "{err}");
        assert!(err.to_string().contains("www.bank.example"), "{err}");
        // A self-signed CA that names the host would anchor anything: pinned, or refused.
        let (root, _, _) = self_signed(&["sage01.example.test"], true);
        let err = admit(&targets, &sage.endpoint, &root).expect_err("a CA not pinned");
        assert!(matches!(err, Error::NotPinned { .. }), "{err}");
        assert!(err.to_string().contains("allowed_issuers"), "{err}");
        let pinned = TrustTarget {
            allowed_issuers: vec![root.facts().sha256.to_string()],
            ..sage.clone()
        };
        admit(std::slice::from_ref(&pinned), &sage.endpoint, &root).expect("pinned CA");
        // A leaf from a CA is no trust anchor.
        let ca = TestCa::new("Issuing CA");
        let leaf = read(&ca.server(&["sage01.example.test"], 30).cert_pem);
        let err = admit(&targets, &sage.endpoint, &leaf).expect_err("a leaf");
        assert!(matches!(err, Error::NotAnAnchor { .. }), "{err}");
    }

    /// The real update-ca-certificates, on folders of the test's own.
    #[tokio::test]
    async fn installed_the_machines_bundle_trusts_the_server_and_removed_it_does_not_again() {
        let dir = tempfile::tempdir().expect("dir");
        let [certs, local, etc, hooks] = ["certs", "local", "etc", "hooks"].map(|d| {
            let path = dir.path().join(d);
            std::fs::create_dir_all(&path).expect("dir");
            path
        });
        let conf = dir.path().join("ca-certificates.conf");
        std::fs::write(&conf, "").expect("conf");
        // A machine's bundle always holds other roots (and update-ca-certificates keeps the
        // old bundle when no certificate at all is left to build one from).
        std::fs::write(
            local.join("some-public-root.crt"),
            TestCa::new("Some Public Root").pem,
        )
        .expect("another root");
        let update = ["update-ca-certificates", "--fresh", "--certsconf"]
            .iter()
            .map(|s| s.to_string())
            .chain([conf.display().to_string()])
            .chain(["--certsdir".into(), certs.display().to_string()])
            .chain(["--localcertsdir".into(), local.display().to_string()])
            .chain(["--etccertsdir".into(), etc.display().to_string()])
            .chain(["--hooksdir".into(), hooks.display().to_string()])
            .collect();
        let (cert, cert_pem, key_pem) = self_signed(&["sage01.example.test"], false);
        let served = certfleet_e2e::pki::ServerCert {
            cert_pem,
            key_pem,
            sha256: cert.facts().sha256.to_string(),
        };
        let address = serve_tls(&served, "");
        let bundle = etc.join("ca-certificates.crt");
        let target = TrustTarget {
            bundle_dir: Some(local.clone()),
            update_command: Some(update),
            ca_file: Some(bundle.clone()),
            ..target(&address, "sage01.example.test")
        };
        let host = Host::native();
        let ledger = Ledger::at(dir.path());
        let now = OffsetDateTime::now_utc();
        let anchors = Anchors::for_target(&target);
        // Before: the machine's (empty) bundle closes nothing.
        let (before, _) = check(&target, &anchors, &host, now).await;
        assert_ne!(before.verdict, TrustVerdict::Trusted, "{before:?}");

        let admitted = admit(std::slice::from_ref(&target), &address, &cert).expect("admit");
        let entry = install(admitted, &cert, &host, &ledger)
            .await
            .expect("install")
            .expect("added");
        assert!(matches!(&entry.place, Place::File { path } if path.starts_with(&local)));
        assert_eq!(ledger.entries(), vec![entry.clone()]);
        let (after, _) = check(&target, &anchors, &host, now).await;
        assert_eq!(after.verdict, TrustVerdict::Trusted, "{after:?}");
        // Again: nothing more.
        install(admitted, &cert, &host, &ledger)
            .await
            .expect("again");
        assert_eq!(ledger.entries().len(), 1);

        // Something certfleet did not add is not its to remove.
        let (other, _, _) = self_signed(&["other.example.test"], false);
        let sha = other.facts().sha256.to_string();
        assert!(
            !remove(&target, &sha, &host, &ledger)
                .await
                .expect("not ours")
        );
        assert!(
            remove(&target, &entry.sha256, &host, &ledger)
                .await
                .expect("remove")
        );
        assert!(ledger.entries().is_empty());
        let (removed, _) = check(&target, &anchors, &host, now).await;
        assert_eq!(removed.verdict, TrustVerdict::UnknownRoot, "{removed:?}");
    }
}

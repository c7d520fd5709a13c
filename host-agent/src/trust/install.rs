//! Putting what a client machine must trust into its trust store, and taking out again only
//! what certfleet put there. What a console may make a client trust is narrow, so a console
//! that was taken over cannot plant a root on every client: only for an endpoint of this
//! agent's own `[[trust]]` list, and only a self-signed end-entity certificate whose names
//! cover that endpoint's host (trusting it trusts that one certificate), or a CA certificate
//! the target pins in `allowed_issuers`.
//!
//! On Linux the certificate becomes a file in the target's `bundle_dir` and its
//! `update_command` rebuilds the bundle; on Windows it goes into LocalMachine\Root (the
//! deploy driver `deploy::trust` does both, journaled). Each addition certfleet made is
//! recorded in the ledger (`trust-installed.json` in the data folder) once verified, so a
//! removal never touches an entry someone else made.

use std::path::{Path, PathBuf};

use certfleet_certkit::{self as certkit, Certificate, Fingerprint, HostName};
use serde::{Deserialize, Serialize};

use crate::config::TrustTarget;

/// Why a certificate may not be trusted for an endpoint.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
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
}

/// The target of `endpoint` in this machine's list, and whether `cert` may be trusted for it.
pub fn admit<'a>(
    targets: &'a [TrustTarget],
    endpoint: &str,
    cert: &Certificate,
) -> Result<&'a TrustTarget, Refusal> {
    let target = targets
        .iter()
        .find(|t| t.endpoint.eq_ignore_ascii_case(endpoint))
        .ok_or_else(|| Refusal::NotInList {
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
        return Err(Refusal::NotPinned {
            subject: facts.subject.clone(),
            sha256: facts.sha256.to_string(),
            endpoint: target.endpoint.clone(),
        });
    }
    if !facts.self_signed {
        return Err(Refusal::NotAnAnchor {
            subject: facts.subject.clone(),
        });
    }
    let host = target.server_name();
    let covered = HostName::parse(&host)
        .is_ok_and(|h| certkit::covers(&facts.dns_names, &facts.ip_addresses, &h));
    if !covered {
        let mut names: Vec<String> = facts.dns_names.clone();
        names.extend(facts.ip_addresses.iter().map(|ip| ip.to_string()));
        return Err(Refusal::NotForHost {
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

    pub fn save(&self, entries: &[Installed]) -> Result<(), certfleet_files::Error> {
        let json = serde_json::to_vec_pretty(entries).unwrap_or_default();
        certfleet_files::replace_owner_only(&self.path, &json)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Debian's folder for local CAs, which `update-ca-certificates` reads.
pub const DEFAULT_BUNDLE_DIR: &str = "/usr/local/share/ca-certificates";

impl TrustTarget {
    /// Where certfleet puts the certificates it installs for this endpoint (Linux).
    pub fn bundle_dir(&self) -> PathBuf {
        self.bundle_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_BUNDLE_DIR))
    }

    /// What rebuilds the system bundle after a change (Linux).
    pub fn update_command(&self) -> Vec<String> {
        self.update_command
            .clone()
            .unwrap_or_else(|| vec!["update-ca-certificates".into()])
    }

    /// Whether this machine's trust store is LocalMachine\Root (Windows, no bundle folder).
    pub fn uses_root_store(&self) -> bool {
        cfg!(windows) && self.bundle_dir.is_none()
    }
}

/// The file a certificate is installed as: `update-ca-certificates` reads `*.crt` only.
pub fn file_for(dir: &Path, sha256: &str) -> PathBuf {
    dir.join(format!(
        "certfleet-{}.crt",
        sha256.get(..16).unwrap_or(sha256).to_ascii_lowercase()
    ))
}

#[cfg(all(test, unix))]
pub(crate) mod tests {
    use certfleet_e2e::pki::TestCa;

    use super::*;

    pub(crate) fn target(endpoint: &str, name: &str) -> TrustTarget {
        TrustTarget {
            endpoint: endpoint.into(),
            server_name: Some(name.into()),
            bundle_dir: None,
            update_command: None,
            ca_file: None,
            allowed_issuers: Vec::new(),
            revocation: Default::default(),
        }
    }

    pub(crate) fn self_signed(names: &[&str], ca: bool) -> (Certificate, String, String) {
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
        assert!(matches!(err, Refusal::NotInList { .. }), "{err}");
        let (foreign, _, _) = self_signed(&["www.bank.example"], false);
        let err = admit(&targets, &sage.endpoint, &foreign).expect_err("another host");
        assert!(matches!(err, Refusal::NotForHost { .. }), "{err}");
        assert!(err.to_string().contains("www.bank.example"), "{err}");
        // A self-signed CA that names the host would anchor anything: pinned, or refused.
        let (root, _, _) = self_signed(&["sage01.example.test"], true);
        let err = admit(&targets, &sage.endpoint, &root).expect_err("a CA not pinned");
        assert!(matches!(err, Refusal::NotPinned { .. }), "{err}");
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
        assert!(matches!(err, Refusal::NotAnAnchor { .. }), "{err}");
    }
}

//! The inventory: every configured target read and judged, every live port probed, as one
//! snapshot for the console.

pub mod apache;
pub mod config_files;
mod probe;
pub mod stores;

use std::path::{Path, PathBuf};

use certfleet_certkit::{self as certkit, Certificate, HostName, Policy, Purpose};
use certfleet_proto::{CertificateInfo, Endpoint, EndpointKind, Finding, Severity, Snapshot};
use time::OffsetDateTime;

use certfleet_winhost::Host;

use crate::config::AgentConfig;

pub use probe::{ProbeError, served_chain, served_leaf};

pub(crate) fn finding(code: &str, severity: Severity, message: String) -> Finding {
    Finding {
        code: code.into(),
        severity,
        message,
        certificate: None,
    }
}

/// certkit's finding as the wire carries it.
pub(crate) fn reported(f: &certkit::Finding) -> Finding {
    Finding {
        code: f.code.to_string(),
        severity: match f.severity {
            certkit::Severity::Error => Severity::Error,
            certkit::Severity::Warning => Severity::Warning,
            certkit::Severity::Info => Severity::Info,
        },
        message: f.message.clone(),
        certificate: f.certificate.clone(),
    }
}

/// One place certificates are used, as the configuration describes it.
struct Source {
    key: String,
    kind: EndpointKind,
    name: String,
    host: Option<String>,
    purpose: Purpose,
    certificate: Option<PathBuf>,
    key_file: Option<PathBuf>,
    chain: Option<PathBuf>,
    address: Option<String>,
    config_path: Option<PathBuf>,
}

fn read_file(
    path: &Path,
    errors: &mut Vec<String>,
    findings: &mut Vec<Finding>,
) -> Option<certkit::Material> {
    let bytes = match std::fs::read(path) {
        Ok(b) => zeroize::Zeroizing::new(b),
        Err(e) => {
            errors.push(format!("cannot read {}: {e}", path.display()));
            return None;
        }
    };
    match certkit::read(&bytes, None) {
        Ok(material) => Some(material),
        Err(certkit::Error::PasswordRequired { .. }) => {
            findings.push(finding(
                "key_encrypted",
                Severity::Error,
                format!(
                    "{} is protected by a pass phrase; Apache on Windows cannot prompt for it and \
                     will not start: store the key decrypted, readable only by the service",
                    path.display()
                ),
            ));
            None
        }
        Err(e) => {
            errors.push(format!("{}: {e}", path.display()));
            None
        }
    }
}

async fn endpoint(
    source: Source,
    now: OffsetDateTime,
    certificates: &mut Vec<CertificateInfo>,
) -> Endpoint {
    let mut errors = Vec::new();
    let mut findings = Vec::new();
    let mut material: Option<certkit::Material> = None;
    for path in [&source.certificate, &source.key_file, &source.chain]
        .into_iter()
        .flatten()
    {
        if let Some(m) = read_file(path, &mut errors, &mut findings) {
            match material.as_mut() {
                Some(all) => all.merge(m),
                None => material = Some(m),
            }
        }
    }
    let mut configured = None;
    if let Some(material) = &material {
        let mut policy = Policy::new(now);
        policy.purpose = Some(source.purpose);
        policy.host = source.host.as_deref().and_then(|h| HostName::parse(h).ok());
        let report = certkit::judge(material, &policy);
        findings.extend(report.findings.iter().map(reported));
        if let Some(leaf) = report.leaf()
            && let Some(cert) = material
                .certificates
                .iter()
                .find(|c| c.facts().sha256 == leaf.sha256)
        {
            configured = Some(cert.clone());
        }
    }

    let mut served = None;
    if let Some(address) = &source.address {
        match served_leaf(address, source.host.as_deref()).await {
            Ok(der) => match Certificate::from_der(&der) {
                Ok(cert) => served = Some(cert),
                Err(e) => errors.push(format!("{address} serves an unreadable certificate: {e}")),
            },
            Err(e) => {
                errors.push(format!("{e:#}"));
                findings.push(finding(
                    "probe_failed",
                    Severity::Warning,
                    format!("could not read what {address} serves: {e:#}; is the server running?"),
                ));
            }
        }
    }
    if let (Some(configured), Some(served)) = (&configured, &served)
        && configured.facts().sha256 != served.facts().sha256
    {
        findings.push(Finding {
            code: "served_mismatch".into(),
            severity: Severity::Error,
            message: format!(
                "the live port {} serves \"{}\" (thumbprint {}), not the configured certificate \
                 (thumbprint {}): the files changed but the server was not restarted; restart or \
                 reload it",
                source.address.as_deref().unwrap_or(""),
                served.facts().subject,
                served.facts().thumbprint,
                configured.facts().thumbprint
            ),
            certificate: Some(served.facts().subject.clone()),
        });
    }
    for cert in [&configured, &served].into_iter().flatten() {
        let info = CertificateInfo::of(cert);
        if !certificates.iter().any(|c| c.sha256 == info.sha256) {
            certificates.push(info);
        }
    }
    Endpoint {
        key: source.key,
        kind: source.kind,
        name: source.name,
        address: source.address,
        config_path: source.config_path.map(|p| p.display().to_string()),
        configured_sha256: configured.map(|c| c.facts().sha256.to_string()),
        served_sha256: served.map(|c| c.facts().sha256.to_string()),
        errors,
        findings,
    }
}

/// Reads every target in the configuration and probes every live port.
pub async fn collect(config: &AgentConfig, host: &Host, now: OffsetDateTime) -> Snapshot {
    collect_with(config, &[], host, now).await
}

/// With the servers the console says this machine must also trust (`attached`), checked and
/// reported with origin `console`.
pub async fn collect_with(
    config: &AgentConfig,
    attached: &[crate::config::TrustTarget],
    host: &Host,
    now: OffsetDateTime,
) -> Snapshot {
    let mut endpoints = Vec::new();
    let mut certificates = Vec::new();
    for target in &config.apache {
        match apache::parse(&target.config, target.server_root.as_deref()) {
            Ok(parsed) => {
                tracing::debug!(
                    config = %target.config.display(),
                    server_root = %parsed.server_root.display(),
                    files = parsed.files.len(),
                    listens = ?parsed.listens,
                    "read the Apache configuration"
                );
                for host in parsed.tls_hosts {
                    let address = host.probe_address();
                    let name = host.display_name();
                    let source = Source {
                        key: host.endpoint_key(),
                        kind: EndpointKind::Apache,
                        host: host.server_name.clone(),
                        name,
                        purpose: Purpose::Apache,
                        certificate: host.certificate_file.clone(),
                        key_file: host.key_file.clone(),
                        chain: host.chain_file.clone(),
                        address,
                        config_path: Some(host.file.clone()),
                    };
                    let mut e = endpoint(source, now, &mut certificates).await;
                    if e.configured_sha256.is_none() && host.certificate_file.is_none() {
                        e.errors.push(format!(
                            "{}:{}: SSLEngine is on but no SSLCertificateFile is set",
                            host.file.display(),
                            host.line
                        ));
                    }
                    endpoints.push(e);
                }
                // Managed sites whose block is not written yet: listed, so the console can
                // roll a certificate out to them.
                for site in &target.managed {
                    let key = site.endpoint_key();
                    if endpoints.iter().any(|e: &Endpoint| e.key == key) {
                        continue;
                    }
                    endpoints.push(Endpoint {
                        key,
                        kind: EndpointKind::Apache,
                        name: site.server_name.clone(),
                        address: Some(format!("127.0.0.1:{}", site.port)),
                        config_path: Some(target.config.display().to_string()),
                        configured_sha256: None,
                        served_sha256: None,
                        errors: Vec::new(),
                        findings: vec![finding(
                            "not_deployed",
                            Severity::Info,
                            format!(
                                "certfleet manages this site but has not written it yet: roll a \
                                 certificate for {} out to it",
                                site.server_name
                            ),
                        )],
                    });
                }
                if !parsed.problems.is_empty() {
                    tracing::warn!(config = %target.config.display(), "{}", parsed.problems.join("; "));
                }
            }
            Err(e) => endpoints.push(Endpoint {
                key: format!("apache:{}", target.config.display()),
                kind: EndpointKind::Apache,
                name: target.config.display().to_string(),
                address: None,
                config_path: Some(target.config.display().to_string()),
                configured_sha256: None,
                served_sha256: None,
                errors: vec![e.to_string()],
                findings: Vec::new(),
            }),
        }
    }
    for target in &config.pem {
        let source = Source {
            key: format!("pem:{}", target.name),
            kind: EndpointKind::Pem,
            name: target.name.clone(),
            host: Some(target.host.clone().unwrap_or_else(|| target.name.clone())),
            purpose: Purpose::Pem,
            certificate: Some(target.certificate.clone()),
            key_file: target.key.clone(),
            chain: target.chain.clone(),
            address: target.address.clone(),
            config_path: None,
        };
        endpoints.push(endpoint(source, now, &mut certificates).await);
    }
    crate::sage300::discover::collect(
        &config.sage300,
        host,
        now,
        &mut endpoints,
        &mut certificates,
    )
    .await;
    stores::collect(&*host.stores, now, &mut endpoints, &mut certificates);
    let mut trust = crate::trust::check_all(&config.trust, host, now, &mut certificates).await;
    let mut from_console = crate::trust::check_all(attached, host, now, &mut certificates).await;
    for check in &mut from_console {
        check.origin = certfleet_proto::TrustOrigin::Console;
    }
    trust.extend(from_console);
    endpoints.sort_by(|a, b| a.key.cmp(&b.key));
    certificates.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    trust.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
    Snapshot {
        endpoints,
        certificates,
        trust,
    }
}

//! What a Sage 300 server looks like, read-only: each installation's `ServiceUri`, then per
//! port every HTTP.sys SSL binding that can answer there, the one a client of the
//! `ServiceUri` host gets, its certificate in its store (key associated? in Root?), the URL
//! reservation, and what the live port serves. One endpoint per port; findings say what
//! is wrong and how to fix it. Where HTTP.sys cannot be read (not Windows), the endpoint
//! says so and nothing is inferred from the silence.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use certfleet_certkit::{self as certkit, Certificate, HostName, Policy, Purpose, Thumbprint};
use certfleet_proto::{CertificateInfo, Endpoint, EndpointKind, Finding, Severity};
use certfleet_winhost::{BindingKey, Error as WinError, Host, PrivateKey, SslBinding, Store};
use time::OffsetDateTime;

use super::{APP_ID, ConnectorConfig, Scheme, ServiceUri};
use crate::config::Sage300Target;
use crate::inventory::{finding, reported, served_leaf};

/// The endpoint key of a Sage 300 port.
pub fn endpoint_key(port: u16) -> String {
    format!("sage300:{port}")
}

/// One installation as read.
#[derive(Debug)]
pub struct Installation<'a> {
    pub target: &'a Sage300Target,
    pub read: Result<ConnectorConfig, super::ConfigError>,
}

/// The configured installations, plus the default one the service manager knows of when
/// it is not configured (its executable's folder holds the `.exe.config`), so a
/// non-default install folder is found.
pub fn installations(configured: &[Sage300Target], host: &Host) -> Vec<Sage300Target> {
    let mut all = configured.to_vec();
    let service = match host.services.config(super::DEFAULT_SERVICE) {
        Ok(service) => service,
        Err(e) => {
            tracing::debug!("no Sage 300 connector known to the service manager: {e}");
            return all;
        }
    };
    let Some(exe) = executable(&service.command_line) else {
        tracing::debug!(command_line = %service.command_line, "the connector's service names no program");
        return all;
    };
    tracing::debug!(command_line = %service.command_line, "the service manager knows a Sage 300 connector");
    let config = std::path::PathBuf::from(format!("{exe}.config"));
    let same = |a: &std::path::Path| {
        a.to_string_lossy()
            .eq_ignore_ascii_case(&config.to_string_lossy())
    };
    if !all.iter().any(|t| same(&t.config)) {
        all.push(Sage300Target {
            config,
            service: None,
            address: None,
            fqdn: None,
            import_root: false,
            allowed_issuers: Vec::new(),
        });
    }
    all
}

/// The program a service's command line starts: quoted, or up to `.exe`.
fn executable(command_line: &str) -> Option<String> {
    let line = command_line.trim();
    if let Some(rest) = line.strip_prefix('"') {
        return rest.split_once('"').map(|(exe, _)| exe.to_owned());
    }
    let lower = line.to_ascii_lowercase();
    match lower.find(".exe") {
        Some(i) => Some(line[..i + 4].to_owned()),
        None => line.split_whitespace().next().map(str::to_owned),
    }
    .filter(|exe| !exe.is_empty())
}

pub fn read_installations(targets: &[Sage300Target]) -> Vec<Installation<'_>> {
    targets
        .iter()
        .map(|target| Installation {
            target,
            read: ConnectorConfig::read(&target.config),
        })
        .collect()
}

/// Every binding that can answer on `port`.
pub fn bindings_on(all: &[SslBinding], port: u16) -> Vec<&SslBinding> {
    all.iter().filter(|b| b.key.port() == port).collect()
}

/// The binding a client that connects to `host:port` gets: a host-name (SNI) binding for
/// that name first, then an IP:port binding for the address when `host` is one, then
/// `0.0.0.0:port` (which also answers IPv6 unless `[::]:port` exists), then `[::]:port`.
pub fn selected<'b>(on_port: &[&'b SslBinding], host: &str, port: u16) -> Option<&'b SslBinding> {
    let by = |key: &BindingKey| on_port.iter().copied().find(|b| b.key == *key);
    on_port
        .iter()
        .copied()
        .find(|b| match &b.key {
            BindingKey::Sni { host: h, port: p } => h.eq_ignore_ascii_case(host) && *p == port,
            BindingKey::IpPort(_) => false,
        })
        .or_else(|| {
            host.parse::<IpAddr>()
                .ok()
                .and_then(|ip| by(&BindingKey::IpPort(SocketAddr::new(ip, port))))
        })
        .or_else(|| {
            by(&BindingKey::IpPort(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                port,
            )))
        })
        .or_else(|| {
            by(&BindingKey::IpPort(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                port,
            )))
        })
}

/// Who gets a binding, in words, for findings.
fn clients_of(key: &BindingKey) -> String {
    match key {
        BindingKey::Sni { host, .. } => format!("clients that ask for {host} by name (SNI)"),
        BindingKey::IpPort(addr) if addr.ip().is_unspecified() && addr.is_ipv6() => {
            "clients over IPv6".into()
        }
        BindingKey::IpPort(addr) if addr.ip().is_unspecified() => {
            "clients without SNI (and over IPv6 unless [::] is bound)".into()
        }
        BindingKey::IpPort(addr) => format!("clients connecting to {}", addr.ip()),
    }
}

fn store_of(binding: &SslBinding) -> Option<Store> {
    Store::parse(&binding.store)
}

/// Every port any installation uses, as endpoints.
pub async fn collect(
    targets: &[Sage300Target],
    host: &Host,
    now: OffsetDateTime,
    endpoints: &mut Vec<Endpoint>,
    certificates: &mut Vec<CertificateInfo>,
) {
    let targets = installations(targets, host);
    let installations = read_installations(&targets);
    let bindings = host.http.ssl_bindings();
    let mut by_port: BTreeMap<u16, Vec<(&Installation, &ServiceUri)>> = BTreeMap::new();
    for installation in &installations {
        match &installation.read {
            Ok(config) => by_port
                .entry(config.service_uri().port)
                .or_default()
                .push((installation, config.service_uri())),
            Err(e) => endpoints.push(Endpoint {
                key: format!("sage300:{}", installation.target.config.display()),
                kind: EndpointKind::Sage300,
                name: installation.target.service().to_owned(),
                address: None,
                config_path: Some(installation.target.config.display().to_string()),
                configured_sha256: None,
                served_sha256: None,
                errors: vec![e.to_string()],
                findings: Vec::new(),
            }),
        }
    }
    for (port, users) in by_port {
        endpoints.push(port_endpoint(port, &users, host, &bindings, now, certificates).await);
    }
}

async fn port_endpoint(
    port: u16,
    users: &[(&Installation<'_>, &ServiceUri)],
    host: &Host,
    bindings: &certfleet_winhost::Result<Vec<SslBinding>>,
    now: OffsetDateTime,
    certificates: &mut Vec<CertificateInfo>,
) -> Endpoint {
    let mut errors = Vec::new();
    let mut findings = Vec::new();
    // The name clients use: the first https installation's, else the first one's.
    let (first, uri) = users
        .iter()
        .find(|(_, u)| u.scheme == Scheme::Https)
        .or(users.first())
        .copied()
        .expect("a port has at least one installation");
    let https = users.iter().any(|(_, u)| u.scheme == Scheme::Https);
    for (installation, u) in users {
        let who = format!(
            "{} ({})",
            installation.target.service(),
            installation.target.config.display()
        );
        findings.push(match u.scheme {
            Scheme::Http => finding(
                "sage_http_only",
                if https {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                format!(
                    "{who} still listens on http ({u}): roll a certificate out to this endpoint \
                     to switch it to https"
                ),
            ),
            Scheme::Https => finding(
                "sage_installation",
                Severity::Info,
                format!("{who} listens on {u}"),
            ),
        });
    }
    // The host name alone, as for every other endpoint: the console matches renewals by it.
    let name = uri.host.clone();
    let mut configured = None;
    let mut served = None;
    match bindings {
        Err(WinError::Unsupported { .. }) => errors.push(
            "the HTTP.sys configuration could not be read here (it needs Windows): the port's \
             bindings are unknown, not absent"
                .into(),
        ),
        Err(e) => errors.push(format!("cannot read the HTTP.sys bindings: {e}")),
        Ok(all) => {
            let on_port = bindings_on(all, port);
            match selected(&on_port, &uri.host, port) {
                None if https => findings.push(finding(
                    "sage_no_binding",
                    Severity::Error,
                    format!(
                        "ServiceUri is https but no certificate is bound to port {port}: roll a \
                         certificate out to this endpoint (or `netsh http add sslcert \
                         ipport=0.0.0.0:{port} certhash=THUMBPRINT appid={APP_ID}`)"
                    ),
                )),
                None => {}
                Some(chosen) => {
                    for binding in &on_port {
                        let gets = if binding.key == chosen.key {
                            format!("{uri} clients get this one")
                        } else {
                            clients_of(&binding.key)
                        };
                        findings.push(finding(
                            "sage_binding",
                            Severity::Info,
                            format!(
                                "{} binds {} from {} for {} ({gets})",
                                binding.key, binding.thumbprint, binding.store, binding.app_id
                            ),
                        ));
                    }
                    configured = bound_certificate(host, chosen, &mut findings, &mut errors);
                    if !chosen.app_id.eq_ignore_ascii_case(APP_ID) {
                        findings.push(finding(
                            "sage_other_application",
                            Severity::Warning,
                            format!(
                                "port {port} is bound for another application ({}), not the \
                                 connector ({APP_ID}): certfleet will not replace another \
                                 program's binding; move one of them to another port",
                                chosen.app_id
                            ),
                        ));
                    }
                    for other in on_port.iter().filter(|b| b.key != chosen.key) {
                        if other.thumbprint != chosen.thumbprint {
                            findings.push(finding(
                                "sage_binding_conflict",
                                Severity::Warning,
                                format!(
                                    "{} on port {port} serves another certificate ({}) than the \
                                     one {uri} clients get ({}): {} see it; a renewal replaces \
                                     both",
                                    other.key,
                                    other.thumbprint,
                                    chosen.thumbprint,
                                    clients_of(&other.key)
                                ),
                            ));
                        }
                    }
                }
            }
            let reservation = format!("https://+:{port}/");
            match host.http.url_acl(&reservation) {
                Ok(None) if https => findings.push(finding(
                    "sage_no_url_reservation",
                    Severity::Warning,
                    format!(
                        "no URL reservation for {reservation}: the connector may fail to listen; \
                         `netsh http add urlacl url={reservation} user=EVERYONE` (a deployment \
                         adds it)"
                    ),
                )),
                Ok(_) => {}
                Err(e) => errors.push(format!("cannot read the URL reservation: {e}")),
            }
        }
    }
    if let Some(cert) = &configured {
        let material = certkit::Material {
            certificates: vec![cert.clone()],
            ..Default::default()
        };
        let mut policy = Policy::new(now);
        policy.purpose = Some(Purpose::Sage300);
        policy.host = HostName::parse(&uri.host).ok();
        let report = certkit::judge(&material, &policy);
        findings.extend(
            report
                .findings
                .iter()
                // The key is in the store; the binding's check above says whether it is there.
                .filter(|f| f.code != certkit::Code::KeyMissing)
                .map(reported),
        );
    }
    let address = first
        .target
        .address
        .clone()
        .unwrap_or_else(|| format!("{}:{port}", uri.host));
    if https {
        match served_leaf(&address, Some(&uri.host)).await {
            Ok(der) => match Certificate::from_der(&der) {
                Ok(cert) => served = Some(cert),
                Err(e) => errors.push(format!("{address} serves an unreadable certificate: {e}")),
            },
            Err(e) => findings.push(finding(
                "probe_failed",
                Severity::Warning,
                format!(
                    "could not read what {address} serves: {e:#}; is the \"{}\" service running?",
                    first.target.service()
                ),
            )),
        }
    }
    if let (Some(c), Some(s)) = (&configured, &served)
        && c.facts().sha256 != s.facts().sha256
    {
        findings.push(finding(
            "served_mismatch",
            Severity::Error,
            format!(
                "{address} serves thumbprint {}, not the bound certificate {}: restart the \"{}\" \
                 service, or look for another binding that answers there",
                s.facts().thumbprint,
                c.facts().thumbprint,
                first.target.service()
            ),
        ));
    }
    for cert in [&configured, &served].into_iter().flatten() {
        let info = CertificateInfo::of(cert);
        if !certificates.iter().any(|c| c.sha256 == info.sha256) {
            certificates.push(info);
        }
    }
    Endpoint {
        key: endpoint_key(port),
        kind: EndpointKind::Sage300,
        name,
        address: Some(address),
        config_path: Some(
            users
                .iter()
                .map(|(i, _)| i.target.config.display().to_string())
                .collect::<Vec<_>>()
                .join("; "),
        ),
        configured_sha256: configured.map(|c| c.facts().sha256.to_string()),
        served_sha256: served.map(|c| c.facts().sha256.to_string()),
        errors,
        findings,
    }
}

/// The binding's certificate from its store, with findings when it is missing, keyless, or
/// (self-signed) not trusted on the server itself.
fn bound_certificate(
    host: &Host,
    binding: &SslBinding,
    findings: &mut Vec<Finding>,
    errors: &mut Vec<String>,
) -> Option<Certificate> {
    let Some(store) = store_of(binding) else {
        errors.push(format!(
            "{} names the store {:?}, which certfleet does not read",
            binding.key, binding.store
        ));
        return None;
    };
    let stored = match host.stores.find(store, &binding.thumbprint) {
        Ok(found) => found,
        Err(e) => {
            errors.push(format!("cannot read {store}: {e}"));
            return None;
        }
    };
    let Some(stored) = stored else {
        findings.push(finding(
            "sage_certificate_missing",
            Severity::Error,
            format!(
                "{} names certificate {} but it is not in {store} (netsh would say 1312): \
                 import the PFX into {store}, or roll a certificate out to this endpoint",
                binding.key, binding.thumbprint
            ),
        ));
        return None;
    };
    if stored.private_key == PrivateKey::None {
        findings.push(finding(
            "sage_key_missing",
            Severity::Error,
            format!(
                "certificate {} in {store} has no private key (netsh would say 1312): import \
                 the PFX (with its key) rather than the .cer",
                binding.thumbprint
            ),
        ));
    }
    let cert = Certificate::from_der(&stored.der).ok()?;
    if cert.facts().self_signed && !in_root(host, &binding.thumbprint) {
        findings.push(finding(
            "sage_not_in_root",
            Severity::Warning,
            format!(
                "the self-signed certificate {} is not in LocalMachine\\Root: the connector's \
                 procedure trusts it there too (a deployment adds it)",
                binding.thumbprint
            ),
        ));
    }
    Some(cert)
}

fn in_root(host: &Host, thumbprint: &Thumbprint) -> bool {
    matches!(host.stores.find(Store::Root, thumbprint), Ok(Some(_)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use certfleet_e2e::pki::{ServerCert, TestCa};
    use certfleet_winhost::fake::FakeStores;
    use certfleet_winhost::{CertStores, UrlAcl, Usable};

    use super::*;

    const KEYED: PrivateKey = PrivateKey::Associated {
        usable: Usable::Yes,
    };

    fn der_of(cert: &ServerCert) -> Vec<u8> {
        certkit::read(cert.cert_pem.as_bytes(), None)
            .unwrap()
            .certificates[0]
            .der()
            .to_vec()
    }

    fn thumbprint_of(cert: &ServerCert) -> Thumbprint {
        Thumbprint::of(&der_of(cert))
    }

    /// An installation whose ServiceUri is `uri`, in its own folder.
    fn installation(dir: &std::path::Path, name: &str, uri: &str) -> Sage300Target {
        let path = dir.join(format!("{name}.exe.config"));
        std::fs::write(
            &path,
            format!(
                "<?xml version=\"1.0\"?>\r\n<configuration><appSettings><add key=\"ServiceUri\" \
                 value=\"{uri}\"/></appSettings></configuration>\r\n"
            ),
        )
        .unwrap();
        Sage300Target {
            config: path,
            service: None,
            address: Some("127.0.0.1:9".into()),
            fqdn: None,
            import_root: false,
            allowed_issuers: Vec::new(),
        }
    }

    async fn scan(targets: &[Sage300Target], host: &Host) -> Vec<Endpoint> {
        let (mut endpoints, mut certificates) = (Vec::new(), Vec::new());
        collect(
            targets,
            host,
            OffsetDateTime::now_utc(),
            &mut endpoints,
            &mut certificates,
        )
        .await;
        endpoints
    }

    fn codes(e: &Endpoint) -> Vec<&str> {
        e.findings.iter().map(|f| f.code.as_str()).collect()
    }

    fn bind(host: &Host, key: BindingKey, cert: &ServerCert) {
        host.http
            .add_ssl_binding(&SslBinding::new(key, thumbprint_of(cert), APP_ID))
            .unwrap();
    }

    fn any(port: u16) -> BindingKey {
        BindingKey::IpPort(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))
    }

    #[tokio::test]
    async fn installations_sharing_a_port_are_one_endpoint_and_http_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (host, _, _) = Host::fake();
        let targets = [
            installation(dir.path(), "a", "http://sage01.example.test:4207"),
            installation(dir.path(), "b", "http://sage01.example.test:4207"),
            installation(dir.path(), "c", "http://sage01.example.test:4300"),
        ];
        let endpoints = scan(&targets, &host).await;
        assert_eq!(endpoints.len(), 2, "{endpoints:?}");
        assert_eq!(endpoints[0].key, "sage300:4207");
        assert_eq!(endpoints[0].name, "sage01.example.test");
        assert_eq!(
            endpoints[0].address.as_deref(),
            Some("127.0.0.1:9"),
            "the configured probe address"
        );
        assert_eq!(
            codes(&endpoints[0]),
            ["sage_http_only", "sage_http_only"],
            "HTTP-only: nothing else is asked of it"
        );
        assert_eq!(endpoints[1].key, "sage300:4300");
    }

    #[tokio::test]
    async fn https_without_a_binding_or_reservation_says_what_to_run() {
        let dir = tempfile::tempdir().unwrap();
        let (host, _, _) = Host::fake();
        let targets = [installation(
            dir.path(),
            "a",
            "https://sage01.example.test:4207",
        )];
        let endpoints = scan(&targets, &host).await;
        let e = &endpoints[0];
        assert!(codes(e).contains(&"sage_no_binding"), "{:?}", e.findings);
        assert!(
            codes(e).contains(&"sage_no_url_reservation"),
            "{:?}",
            e.findings
        );
        assert!(e.configured_sha256.is_none());
        let installed = &e.findings[0];
        assert_eq!(installed.code, "sage_installation");
        assert!(
            installed
                .message
                .contains("https://sage01.example.test:4207")
        );
        let text = &e.findings[1].message;
        assert!(
            text.contains("netsh http add sslcert ipport=0.0.0.0:4207"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn the_bound_certificate_is_judged_for_the_service_uri_host() {
        let dir = tempfile::tempdir().unwrap();
        let (host, stores, _) = Host::fake();
        let ca = TestCa::new("Sage CA");
        let wrong_name = ca.server(&["other.example.test"], 90);
        stores.insert(Store::My, &der_of(&wrong_name), KEYED);
        bind(&host, any(4207), &wrong_name);
        host.http
            .add_url_acl(&UrlAcl {
                url: "https://+:4207/".into(),
                sddl: certfleet_winhost::httpsys::EVERYONE_MAY_LISTEN.into(),
            })
            .unwrap();
        let targets = [installation(
            dir.path(),
            "a",
            "https://sage01.example.test:4207",
        )];
        let e = &scan(&targets, &host).await[0];
        assert_eq!(
            e.configured_sha256.as_deref(),
            Some(wrong_name.sha256.as_str())
        );
        assert!(codes(e).contains(&"name_not_covered"), "{:?}", e.findings);
        // The connector's set-up asks for Client Authentication; a Server-only certificate
        // is told so.
        assert!(codes(e).contains(&"eku_missing"), "{:?}", e.findings);
        assert!(
            !codes(e).contains(&"sage_no_url_reservation"),
            "{:?}",
            e.findings
        );
    }

    #[tokio::test]
    async fn a_binding_that_names_the_web_hosting_store_is_read_from_there() {
        let dir = tempfile::tempdir().unwrap();
        let (host, stores, _) = Host::fake();
        let ca = TestCa::new("Sage CA");
        let cert = ca.connector(&["sage01.example.test"], 90);
        stores.insert(Store::WebHosting, &der_of(&cert), KEYED);
        // The fake, as Windows, checks the named store: bound from WebHosting.
        let mut binding = SslBinding::new(any(4207), thumbprint_of(&cert), APP_ID);
        binding.store = "WebHosting".into();
        host.http.add_ssl_binding(&binding).unwrap();
        let targets = [installation(
            dir.path(),
            "a",
            "https://sage01.example.test:4207",
        )];
        let e = &scan(&targets, &host).await[0];
        assert_eq!(e.configured_sha256.as_deref(), Some(cert.sha256.as_str()));
        assert!(e.errors.is_empty(), "{:?}", e.errors);
    }

    #[tokio::test]
    async fn a_certificate_gone_from_the_store_or_without_its_key_is_1312_before_netsh() {
        let dir = tempfile::tempdir().unwrap();
        let (host, stores, _) = Host::fake();
        let ca = TestCa::new("Sage CA");
        let cert = ca.server(&["sage01.example.test"], 90);
        stores.insert(Store::My, &der_of(&cert), KEYED);
        bind(&host, any(4207), &cert);
        let targets = [installation(
            dir.path(),
            "a",
            "https://sage01.example.test:4207",
        )];
        stores.remove(Store::My, &thumbprint_of(&cert)).unwrap();
        let e = &scan(&targets, &host).await[0];
        let missing = e
            .findings
            .iter()
            .find(|f| f.code == "sage_certificate_missing")
            .expect("missing");
        assert!(missing.message.contains("1312"), "{}", missing.message);

        let keyless = Arc::new(FakeStores::new());
        keyless.insert(Store::My, &der_of(&cert), PrivateKey::None);
        let host = Host {
            stores: keyless,
            ..host
        };
        let e = &scan(&targets, &host).await[0];
        assert!(codes(e).contains(&"sage_key_missing"), "{:?}", e.findings);
    }

    #[tokio::test]
    async fn a_second_binding_serving_another_certificate_is_named_with_who_gets_it() {
        let dir = tempfile::tempdir().unwrap();
        let (host, stores, _) = Host::fake();
        let ca = TestCa::new("Sage CA");
        let new = ca.server(&["sage01.example.test"], 90);
        let old = ca.server(&["sage01.example.test"], 10);
        stores.insert(Store::My, &der_of(&new), KEYED);
        stores.insert(Store::My, &der_of(&old), KEYED);
        bind(&host, any(4207), &new);
        bind(
            &host,
            BindingKey::Sni {
                host: "sage01.example.test".into(),
                port: 4207,
            },
            &old,
        );
        let targets = [installation(
            dir.path(),
            "a",
            "https://sage01.example.test:4207",
        )];
        let e = &scan(&targets, &host).await[0];
        // SNI wins for a client that names the ServiceUri host.
        assert_eq!(e.configured_sha256.as_deref(), Some(old.sha256.as_str()));
        let listed: Vec<&str> = e
            .findings
            .iter()
            .filter(|f| f.code == "sage_binding")
            .map(|f| f.message.as_str())
            .collect();
        assert_eq!(listed.len(), 2, "both bindings listed: {listed:?}");
        assert!(
            listed
                .iter()
                .any(|m| m.starts_with("hostnameport=") && m.contains("clients get this one")),
            "{listed:?}"
        );
        let conflict = e
            .findings
            .iter()
            .find(|f| f.code == "sage_binding_conflict")
            .expect("conflict");
        assert!(
            conflict.message.contains("without SNI"),
            "{}",
            conflict.message
        );
    }

    #[tokio::test]
    async fn an_installation_the_service_manager_knows_is_found_without_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("D Drive").join("Sage Connector");
        std::fs::create_dir_all(&folder).unwrap();
        let configured = installation(&folder, "Sage300IntegrationService", "http://sage01:4207");
        let (host, _, scm) = Host::fake();
        let exe = folder.join("Sage300IntegrationService.exe");
        scm.install(
            super::super::DEFAULT_SERVICE,
            "LocalSystem",
            &format!("\"{}\" -service", exe.display()),
            certfleet_winhost::fake::Behaviour::Normal { pending_polls: 0 },
        );
        let found = installations(&[], &host);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].config, configured.config);
        assert_eq!(found[0].service(), super::super::DEFAULT_SERVICE);
        let endpoints = scan(&[], &host).await;
        assert_eq!(endpoints.len(), 1, "{endpoints:?}");
        assert_eq!(endpoints[0].key, "sage300:4207");
        assert_eq!(
            installations(std::slice::from_ref(&configured), &host).len(),
            1,
            "configured and discovered are one installation"
        );
        assert_eq!(
            executable("C:\\Sage\\Agent.EXE /run").as_deref(),
            Some("C:\\Sage\\Agent.EXE")
        );
    }

    #[test]
    fn the_binding_a_client_gets_follows_sni_then_ip_then_the_wildcards() {
        let t = Thumbprint::of(b"x");
        let b = |key| SslBinding::new(key, t, APP_ID);
        let v6 = b(BindingKey::IpPort("[::]:4207".parse().unwrap()));
        let v4 = b(any(4207));
        let ip = b(BindingKey::IpPort("10.0.0.5:4207".parse().unwrap()));
        let sni = b(BindingKey::Sni {
            host: "sage01.example.test".into(),
            port: 4207,
        });
        let all = [&v6, &v4, &ip, &sni];
        assert_eq!(selected(&all, "SAGE01.example.test", 4207), Some(&sni));
        assert_eq!(selected(&all, "10.0.0.5", 4207), Some(&ip));
        assert_eq!(selected(&all, "other.example.test", 4207), Some(&v4));
        assert_eq!(selected(&[&v6], "other.example.test", 4207), Some(&v6));
        assert_eq!(selected(&all, "sage01.example.test", 4300), None);
    }

    #[tokio::test]
    async fn without_http_sys_the_bindings_are_unknown_not_absent() {
        let dir = tempfile::tempdir().unwrap();
        let targets = [installation(
            dir.path(),
            "a",
            "https://sage01.example.test:4207",
        )];
        let e = &scan(&targets, &Host::native()).await[0];
        assert!(
            e.errors.iter().any(|m| m.contains("could not be read")),
            "{:?}",
            e.errors
        );
        assert!(!codes(e).contains(&"sage_no_binding"), "{:?}", e.findings);
    }
}

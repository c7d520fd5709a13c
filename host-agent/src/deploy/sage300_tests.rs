//! The `sage300` driver end to end on the Windows layer's fakes, with a fake HTTP.sys that
//! serves TLS for real from its bindings: first-time enablement, a renewal that replaces a
//! stale SNI binding too, a port that keeps serving the old certificate (rolled back and
//! verified), and what preflight refuses.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use certfleet_e2e::pki::{ServerCert, TestCa};
use certfleet_winhost::fake::{Behaviour, FakeHttpConfig, FakeMachine, FakeServices, FakeStores};
use certfleet_winhost::{BindingKey, CertStores, Host, HttpConfig, SslBinding, Store};

use super::*;
use crate::config::{AgentConfig, Sage300Target};
use crate::sage300::fake_listener::{self, FakeHttpSys};
use crate::sage300::{APP_ID, ConnectorConfig, DEFAULT_SERVICE};

pub(super) const FQDN: &str = "sage01.example.test";

pub(super) struct Server {
    pub(super) host: Host,
    pub(super) stores: Arc<FakeStores>,
    pub(super) http: Arc<FakeHttpConfig>,
    pub(super) services: Arc<FakeServices>,
    pub(super) listener: FakeHttpSys,
    pub(super) config: PathBuf,
    pub(super) agent: AgentConfig,
    pub(super) journal: Journal,
    _dir: tempfile::TempDir,
}

fn exe_config(uri: &str) -> Vec<u8> {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<configuration>\r\n  <!-- the \
             installer's -->\r\n  <appSettings>\r\n    <add key=\"ServiceUri\" value=\"{uri}\" \
             />\r\n    <add key=\"Other\" value=\"kept\" />\r\n  </appSettings>\r\n\
             </configuration>\r\n"
        )
        .as_bytes(),
    );
    bytes
}

/// A Sage server whose connector's ServiceUri is `scheme://FQDN:PORT`, PORT being the fake
/// HTTP.sys's loopback port.
pub(super) async fn server(scheme: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let FakeMachine {
        host,
        stores,
        services,
        http,
        ..
    } = FakeMachine::new();
    services.install(
        DEFAULT_SERVICE,
        "LocalSystem",
        "Sage300IntegrationService.exe",
        Behaviour::Normal { pending_polls: 1 },
    );
    let listener = fake_listener::serve(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        http.clone(),
        stores.clone(),
    );
    let port = listener.address.port();
    let config = dir.path().join("Sage300IntegrationService.exe.config");
    std::fs::write(&config, exe_config(&format!("{scheme}://{FQDN}:{port}"))).unwrap();
    let agent = AgentConfig {
        server: None,
        rescan_secs: 300,
        command_timeout_secs: 120,
        groups: Vec::new(),
        apache: Vec::new(),
        pem: Vec::new(),
        sage300: vec![Sage300Target {
            config: config.clone(),
            service: None,
            // FQDN does not resolve here: the port is checked on loopback, with SNI.
            address: Some(format!("127.0.0.1:{port}")),
            fqdn: None,
            import_root: false,
            allowed_issuers: Vec::new(),
        }],
        trust: Vec::new(),
        acme_http_listen: None,
    };
    Server {
        host,
        stores,
        http,
        services,
        listener,
        config,
        agent,
        journal: Journal::open(&dir.path().join("journal")).unwrap(),
        _dir: dir,
    }
}

impl Server {
    pub(super) fn port(&self) -> u16 {
        self.listener.address.port()
    }

    pub(super) fn any(&self) -> BindingKey {
        BindingKey::IpPort(SocketAddr::from(([0, 0, 0, 0], self.port())))
    }

    pub(super) fn sni(&self) -> BindingKey {
        BindingKey::Sni {
            host: FQDN.into(),
            port: self.port(),
        }
    }

    /// `cert` in My with its key, bound at `key` the way netsh would.
    pub(super) fn bind(&self, key: BindingKey, cert: &ServerCert) {
        let (der, pkcs8) = der_and_key(cert);
        self.stores.insert_with_key(&der, &pkcs8);
        self.http
            .add_ssl_binding(&SslBinding::new(key, Thumbprint::of(&der), APP_ID))
            .unwrap();
    }

    pub(super) async fn deploy(&self, job: &str, ca: &TestCa, cert: &ServerCert) -> Outcome {
        self.deploy_into(&self.journal, job, ca, cert).await
    }

    /// `deploy`, journaled in `journal`.
    pub(super) async fn deploy_into(
        &self,
        journal: &Journal,
        job: &str,
        ca: &TestCa,
        cert: &ServerCert,
    ) -> Outcome {
        execute(
            &self.host,
            journal,
            job,
            &self.endpoint(),
            &self.driver(),
            &bundle(ca, cert),
            timing(),
            &mut |_: certfleet_proto::DeployStep, _: &str| {},
        )
        .await
    }

    pub(super) fn endpoint(&self) -> String {
        format!("sage300:{}", self.port())
    }

    pub(super) fn driver(&self) -> sage300::Sage300Driver {
        sage300::Sage300Driver::find(&self.agent, &self.host, &self.endpoint()).unwrap()
    }

    pub(super) async fn served(&self, sni: Option<&str>) -> String {
        let der = crate::inventory::served_leaf(&self.listener.address.to_string(), sni)
            .await
            .expect("the port answers");
        Fingerprint::of(&der).to_string()
    }

    pub(super) fn service_uri(&self) -> String {
        ConnectorConfig::read(&self.config)
            .unwrap()
            .service_uri()
            .to_string()
    }
}

use certfleet_certkit::{Fingerprint, Thumbprint};

/// Verification bounded for tests: a port that does not switch is judged within 2 s.
pub(super) fn timing() -> Timing {
    Timing {
        verify_for: std::time::Duration::from_secs(2),
        poll_every: std::time::Duration::from_millis(100),
        ..Timing::default()
    }
}

pub(super) fn der_and_key(cert: &ServerCert) -> (Vec<u8>, Vec<u8>) {
    let mut m = certkit::read(cert.cert_pem.as_bytes(), None).unwrap();
    m.merge(certkit::read(cert.key_pem.as_bytes(), None).unwrap());
    (
        m.certificates[0].der().to_vec(),
        m.keys[0].pkcs8_der().to_vec(),
    )
}

pub(super) fn bundle(ca: &TestCa, cert: &ServerCert) -> Bundle {
    Bundle {
        chain_pem: format!("{}{}", cert.cert_pem, ca.pem),
        key_pem: Zeroizing::new(cert.key_pem.clone()),
        sha256: cert.sha256.clone(),
    }
}

pub(super) fn thumbprint(cert: &ServerCert) -> Thumbprint {
    Thumbprint::of(&der_and_key(cert).0)
}

#[tokio::test]
async fn first_time_https_for_an_http_only_connector() {
    let s = server("http").await;
    let ca = TestCa::new("Sage CA");
    let cert = ca.connector(&[FQDN], 90);
    let before = std::fs::read(&s.config).unwrap();
    let outcome = s.deploy("sage-first", &ca, &cert).await;
    assert!(outcome.committed(), "{outcome:?}");
    let port = s.port();
    assert_eq!(s.service_uri(), format!("https://{FQDN}:{port}"));
    let after = std::fs::read(&s.config).unwrap();
    assert_eq!(
        after,
        String::from_utf8(before)
            .unwrap()
            .replace(&format!("http://{FQDN}"), &format!("https://{FQDN}"))
            .into_bytes(),
        "only the scheme changed: BOM, CRLF, comment and the other key are as they were"
    );
    let binding = s.http.ssl_binding(&s.any()).unwrap().expect("bound");
    assert_eq!(binding.thumbprint, thumbprint(&cert));
    assert_eq!(binding.app_id, APP_ID);
    assert!(
        s.http
            .url_acl(&format!("https://+:{port}/"))
            .unwrap()
            .is_some()
    );
    assert_eq!(s.served(Some(FQDN)).await, cert.sha256);
    assert_eq!(s.services.requests(DEFAULT_SERVICE), (1, 0));
}

#[tokio::test]
async fn a_renewal_replaces_every_binding_that_would_keep_the_old_certificate() {
    let s = server("https").await;
    let ca = TestCa::new("Sage CA");
    let old = ca.connector(&[FQDN], 10);
    let stale = ca.connector(&[FQDN], 5);
    let new = ca.connector(&[FQDN], 90);
    s.bind(s.any(), &old);
    s.bind(s.sni(), &stale);
    assert_eq!(s.served(Some(FQDN)).await, stale.sha256, "SNI wins");
    let outcome = s.deploy("sage-renew", &ca, &new).await;
    assert!(outcome.committed(), "{outcome:?}");
    for key in [s.any(), s.sni()] {
        assert_eq!(
            s.http.ssl_binding(&key).unwrap().expect("bound").thumbprint,
            thumbprint(&new),
            "{key}"
        );
    }
    assert_eq!(s.served(Some(FQDN)).await, new.sha256);
    assert_eq!(s.served(None).await, new.sha256);
    assert!(
        s.stores
            .find(Store::My, &thumbprint(&old))
            .unwrap()
            .is_some(),
        "the old certificate stays in My: removing it is not this job's business"
    );
}

#[tokio::test]
async fn a_port_that_keeps_serving_the_old_certificate_is_rolled_back_and_verified() {
    let s = server("https").await;
    let ca = TestCa::new("Sage CA");
    let old = ca.connector(&[FQDN], 10);
    let new = ca.connector(&[FQDN], 90);
    s.bind(s.any(), &old);
    let config_before = std::fs::read(&s.config).unwrap();
    let binding_before = s.http.ssl_binding(&s.any()).unwrap();
    assert_eq!(s.served(Some(FQDN)).await, old.sha256);
    s.listener.freeze();
    let outcome = s.deploy("sage-stuck", &ca, &new).await;
    assert_eq!(outcome.phase, Phase::RolledBack, "{outcome:?}");
    assert!(
        outcome.detail.contains("did not serve the new certificate"),
        "{}",
        outcome.detail
    );
    assert!(
        outcome.detail.contains("serves the old certificate again"),
        "verified after the rollback: {}",
        outcome.detail
    );
    assert_eq!(s.http.ssl_binding(&s.any()).unwrap(), binding_before);
    assert_eq!(std::fs::read(&s.config).unwrap(), config_before);
    assert!(
        s.stores
            .find(Store::My, &thumbprint(&new))
            .unwrap()
            .is_none(),
        "nothing binds the new certificate: it left My"
    );
    s.listener.thaw();
    assert_eq!(s.served(Some(FQDN)).await, old.sha256);
}

#[tokio::test]
async fn preflight_refuses_another_applications_port_and_a_certificate_without_the_host() {
    let s = server("https").await;
    let ca = TestCa::new("Sage CA");
    let other = ca.connector(&["other.example.test"], 90);
    let endpoint = format!("sage300:{}", s.port());
    let driver = sage300::Sage300Driver::find(&s.agent, &s.host, &endpoint).unwrap();
    let refused = driver
        .preflight(&bundle(&ca, &other), OffsetDateTime::now_utc())
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::Misfit { misfits } if misfits.iter().any(|(c, _)| *c == certkit::Code::NameNotCovered)),
        "{refused:?}"
    );
    let server_only = ca.server(&[FQDN], 90);
    let refused = driver
        .preflight(&bundle(&ca, &server_only), OffsetDateTime::now_utc())
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::Misfit { misfits } if misfits.iter().any(|(c, _)| *c == certkit::Code::EkuMissing)),
        "Client Authentication is required: {refused:?}"
    );
    let iis = ca.connector(&[FQDN], 90);
    let (der, pkcs8) = der_and_key(&iis);
    s.stores.insert_with_key(&der, &pkcs8);
    s.http
        .add_ssl_binding(&SslBinding::new(
            s.any(),
            Thumbprint::of(&der),
            "{4DC3E181-E14B-4A21-B022-59FC669B0914}",
        ))
        .unwrap();
    let good = ca.connector(&[FQDN], 90);
    let refused = driver
        .preflight(&bundle(&ca, &good), OffsetDateTime::now_utc())
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::PortTaken { .. }), "{refused:?}");
    assert!(refused.to_string().contains("4DC3E181"), "{refused}");
}

#[test]
fn an_installation_on_another_port_is_not_this_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("a.exe.config");
    std::fs::write(&config, exe_config("https://sage01.example.test:4300")).unwrap();
    let agent =
        AgentConfig::parse(&format!("[[sage300]]\nconfig = '{}'\n", config.display())).unwrap();
    let (host, _, _) = Host::fake();
    let err = sage300::Sage300Driver::find(&agent, &host, "sage300:4207").unwrap_err();
    assert!(matches!(err, Error::NotConfigured(_)), "{err:?}");
    assert!(sage300::Sage300Driver::find(&agent, &host, "sage300:4300").is_ok());
}

#[tokio::test]
async fn two_installations_sharing_the_port_are_switched_and_each_service_restarted() {
    let mut s = server("http").await;
    let second = s
        .config
        .with_file_name("Second.Sage300IntegrationService.exe.config");
    std::fs::write(&second, exe_config(&format!("http://{FQDN}:{}", s.port()))).unwrap();
    s.services.install(
        "Sage 300 Connector Agent 2",
        "LocalSystem",
        "Second.exe",
        Behaviour::Normal { pending_polls: 0 },
    );
    s.agent.sage300.push(Sage300Target {
        config: second.clone(),
        service: Some("Sage 300 Connector Agent 2".into()),
        address: None,
        fqdn: None,
        import_root: false,
        allowed_issuers: Vec::new(),
    });
    let ca = TestCa::new("Sage CA");
    let cert = ca.connector(&[FQDN], 90);
    let outcome = s.deploy("sage-two", &ca, &cert).await;
    assert!(outcome.committed(), "{outcome:?}");
    let https = format!("https://{FQDN}:{}", s.port());
    assert_eq!(s.service_uri(), https);
    assert_eq!(
        ConnectorConfig::read(&second)
            .unwrap()
            .service_uri()
            .to_string(),
        https
    );
    assert_eq!(s.services.requests(DEFAULT_SERVICE).0, 1);
    assert_eq!(s.services.requests("Sage 300 Connector Agent 2").0, 1);
}

fn ca_sha256(ca: &TestCa) -> String {
    certkit::read(ca.pem.as_bytes(), None).unwrap().certificates[0]
        .facts()
        .sha256
        .to_string()
}

#[tokio::test]
async fn a_certificate_from_a_ca_the_target_does_not_allow_is_refused_in_preflight() {
    let mut s = server("https").await;
    let ours = TestCa::new("Our CA");
    let theirs = TestCa::new("A CA the console was tricked into trusting");
    // As an admin pastes it: lower case, with colons.
    let pasted = ca_sha256(&ours)
        .to_ascii_lowercase()
        .as_bytes()
        .chunks(2)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect::<Vec<_>>()
        .join(":");
    s.agent.sage300[0].allowed_issuers = vec![pasted];
    let endpoint = format!("sage300:{}", s.port());
    let driver = sage300::Sage300Driver::find(&s.agent, &s.host, &endpoint).unwrap();
    let foreign = theirs.connector(&[FQDN], 90);
    let refused = driver
        .preflight(&bundle(&theirs, &foreign), OffsetDateTime::now_utc())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, Error::IssuerNotAllowed { .. }),
        "{refused:?}"
    );
    assert!(
        refused.to_string().contains("A CA the console was tricked"),
        "{refused}"
    );
    let good = ours.connector(&[FQDN], 90);
    driver
        .preflight(&bundle(&ours, &good), OffsetDateTime::now_utc())
        .await
        .expect("our CA is allowed");
    // A leaf sent without its issuer cannot prove where it comes from.
    let bare = Bundle {
        chain_pem: good.cert_pem.clone(),
        key_pem: Zeroizing::new(good.key_pem.clone()),
        sha256: good.sha256.clone(),
    };
    assert!(matches!(
        driver.preflight(&bare, OffsetDateTime::now_utc()).await,
        Err(Error::IssuerNotAllowed { .. })
    ));
}

#[test]
fn an_allowed_issuer_that_is_not_a_sha256_is_refused_at_load() {
    let err = AgentConfig::parse(
        "[[pem]]\nname = \"www\"\ncertificate = \"/a.pem\"\nallowed_issuers = [\"0A1B\"]\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("not a SHA-256"), "{err}");
}

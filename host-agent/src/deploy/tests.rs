//! The executor against real TLS: a rustls server in the test that loads its certificate
//! files at every handshake (what a reloaded nginx does), and Debian's apache2 for the
//! apache driver. Commands are real processes (`true`, `false`, apache2 itself).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use certfleet_winhost::Host;

use certfleet_e2e::pki::{ServerCert, TestCa};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;

use super::*;
use crate::config::{ApacheTarget, PemTarget};

/// Serves whatever `cert` / `key` hold at the moment of each handshake.
#[derive(Debug)]
struct FilesResolver {
    cert: PathBuf,
    key: PathBuf,
}

impl ResolvesServerCert for FilesResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let certs: Vec<_> = rustls_pki_types::pem::PemObject::pem_file_iter(&self.cert)
            .ok()?
            .collect::<Result<_, _>>()
            .ok()?;
        let key: rustls_pki_types::PrivateKeyDer<'static> =
            rustls_pki_types::pem::PemObject::from_pem_file(&self.key).ok()?;
        let signing = rustls::crypto::ring::sign::any_supported_type(&key).ok()?;
        Some(Arc::new(CertifiedKey::new(certs, signing)))
    }
}

async fn file_server(cert: &Path, key: &Path) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(FilesResolver {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        }));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    address
}

fn bundle(ca: &TestCa, cert: &ServerCert) -> Bundle {
    Bundle {
        chain_pem: format!("{}{}", cert.cert_pem, ca.pem),
        key_pem: Zeroizing::new(cert.key_pem.clone()),
        sha256: cert.sha256.clone(),
    }
}

/// A deployment whose progress nobody watches.
async fn deploy(
    journal: &Journal,
    job_id: &str,
    endpoint: &str,
    driver: &dyn Driver,
    bundle: &Bundle,
    timing: Timing,
) -> Outcome {
    execute(
        &Host::native(),
        journal,
        job_id,
        endpoint,
        driver,
        bundle,
        timing,
        &mut |_: certfleet_proto::DeployStep, _: &str| {},
    )
    .await
}

fn quick() -> Timing {
    Timing {
        verify_for: Duration::from_secs(3),
        poll_every: Duration::from_millis(100),
        ..Timing::default()
    }
}

struct PemSetup {
    _dir: tempfile::TempDir,
    journal: Journal,
    ca: TestCa,
    old: ServerCert,
    target: PemTarget,
}

async fn pem_setup(check: &[&str], reload: &[&str]) -> PemSetup {
    let dir = tempfile::tempdir().expect("dir");
    let ca = TestCa::new("Deploy Test CA");
    let old = ca.server(&["www.example.test"], 30);
    let cert = dir.path().join("www.pem");
    let key = dir.path().join("www.key");
    std::fs::write(&cert, &old.cert_pem).expect("cert");
    std::fs::write(&key, &old.key_pem).expect("key");
    let address = file_server(&cert, &key).await;
    let words = |w: &[&str]| Some(w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let target = PemTarget {
        name: "www.example.test".into(),
        certificate: cert,
        key: Some(key),
        chain: None,
        address: Some(address),
        host: None,
        check: if check.is_empty() { None } else { words(check) },
        reload: if reload.is_empty() {
            None
        } else {
            words(reload)
        },
        allowed_issuers: Vec::new(),
    };
    PemSetup {
        journal: Journal::open(&dir.path().join("journal")).expect("journal"),
        _dir: dir,
        ca,
        old,
        target,
    }
}

impl PemSetup {
    /// The reach recovery gets from an agent configured with this target alone.
    fn reach_of(&self) -> impl Fn(&str) -> Result<Reach> + Sync + use<> {
        let config = crate::config::AgentConfig {
            server: None,
            rescan_secs: 300,
            command_timeout_secs: 120,
            groups: Vec::new(),
            apache: Vec::new(),
            pem: vec![self.target.clone()],
            sage300: Vec::new(),
            trust: Vec::new(),
            acme_http_listen: None,
        };
        let ledger = crate::trust::install::Ledger::at(self._dir.path());
        move |endpoint| jobs::reach_for(&config, &Host::native(), &ledger, endpoint)
    }
}

async fn served(address: &str) -> String {
    let der = crate::inventory::served_leaf(address, Some("www.example.test"))
        .await
        .expect("served");
    certkit::read(&der, None).expect("read").certificates[0]
        .facts()
        .sha256
        .to_string()
}

#[tokio::test]
async fn a_pem_deployment_verifies_on_the_live_port_and_commits() {
    let s = pem_setup(&["true"], &["true"]).await;
    let new = s.ca.server(&["www.example.test"], 365);
    let driver = pem::PemDriver {
        target: s.target.clone(),
    };
    let mut steps = Vec::new();
    let outcome = execute(
        &Host::native(),
        &s.journal,
        "job-1",
        "pem:www.example.test",
        &driver,
        &bundle(&s.ca, &new),
        quick(),
        &mut |step: certfleet_proto::DeployStep, _: &str| steps.push(step.as_str().to_owned()),
    )
    .await;
    assert!(outcome.committed(), "{outcome:?}");
    assert_eq!(
        steps,
        [
            "preflight",
            "stage",
            "apply",
            "check",
            "restart",
            "verify",
            "committed"
        ]
    );
    let address = s.target.address.as_deref().expect("address");
    assert_eq!(served(address).await, new.sha256);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = s.target.key.as_ref().expect("key");
        let mode = std::fs::metadata(key).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key is owner-only");
    }
    // No staged or backup files are left behind; the journal says committed.
    let dir = s.target.certificate.parent().expect("dir");
    let names: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("certfleet")), "{names:?}");
    assert!(!s.journal.backup_dir("job-1").exists());
    assert_eq!(
        s.journal.load("job-1").expect("record").phase,
        Phase::Committed
    );

    // The same job id again changes nothing and answers with the first result.
    let newer = s.ca.server(&["www.example.test"], 400);
    let again = deploy(
        &s.journal,
        "job-1",
        "pem:www.example.test",
        &driver,
        &bundle(&s.ca, &newer),
        quick(),
    )
    .await;
    assert!(again.detail.contains("replay"), "{again:?}");
    assert_eq!(served(address).await, new.sha256);
}

#[tokio::test]
async fn a_failed_reload_rolls_back_and_the_old_certificate_is_served_again() {
    let s = pem_setup(&[], &["false"]).await;
    let new = s.ca.server(&["www.example.test"], 365);
    let driver = pem::PemDriver {
        target: s.target.clone(),
    };
    let outcome = deploy(
        &s.journal,
        "job-2",
        "pem:www.example.test",
        &driver,
        &bundle(&s.ca, &new),
        quick(),
    )
    .await;
    assert_eq!(outcome.phase, Phase::RolledBack, "{outcome:?}");
    assert!(
        outcome.detail.contains("`false` failed"),
        "{}",
        outcome.detail
    );
    assert!(
        outcome.detail.contains("serves the old certificate again"),
        "{}",
        outcome.detail
    );
    assert_eq!(
        std::fs::read_to_string(&s.target.certificate).expect("cert"),
        s.old.cert_pem
    );
    assert_eq!(
        std::fs::read_to_string(s.target.key.as_ref().expect("key")).expect("key"),
        s.old.key_pem
    );
    assert_eq!(
        served(s.target.address.as_deref().expect("a")).await,
        s.old.sha256
    );
}

#[tokio::test]
async fn a_failed_configuration_test_puts_the_files_back_without_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let marker = dir.path().join("restarted");
    let s = pem_setup(&["false"], &["touch", marker.to_str().expect("utf8")]).await;
    let new = s.ca.server(&["www.example.test"], 365);
    let outcome = deploy(
        &s.journal,
        "job-3",
        "pem:www.example.test",
        &pem::PemDriver {
            target: s.target.clone(),
        },
        &bundle(&s.ca, &new),
        quick(),
    )
    .await;
    assert_eq!(outcome.phase, Phase::RolledBack);
    assert!(
        outcome.detail.contains("configuration test failed"),
        "{}",
        outcome.detail
    );
    assert!(!marker.exists(), "nothing was restarted");
    assert_eq!(
        std::fs::read_to_string(&s.target.certificate).expect("cert"),
        s.old.cert_pem
    );
}

#[tokio::test]
async fn preflight_refusals_change_nothing() {
    let s = pem_setup(&[], &["true"]).await;
    let other_name = s.ca.server(&["other.example.test"], 365);
    let mut mismatched = bundle(&s.ca, &s.ca.server(&["www.example.test"], 365));
    mismatched.key_pem = Zeroizing::new(s.old.key_pem.clone());
    let cases = [
        (bundle(&s.ca, &other_name), "name_not_covered"),
        (mismatched, "key_mismatch"),
    ];
    for (i, (bundle, expected)) in cases.into_iter().enumerate() {
        let outcome = deploy(
            &s.journal,
            &format!("refused-{i}"),
            "pem:www.example.test",
            &pem::PemDriver {
                target: s.target.clone(),
            },
            &bundle,
            quick(),
        )
        .await;
        assert_eq!(outcome.phase, Phase::Failed);
        assert!(outcome.detail.contains(expected), "{}", outcome.detail);
    }
    // The port held by a program serving some other certificate.
    let stranger = s.ca.server(&["www.example.test"], 10);
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&cert, &stranger.cert_pem).expect("w");
    std::fs::write(&key, &stranger.key_pem).expect("w");
    let mut target = s.target.clone();
    target.address = Some(file_server(&cert, &key).await);
    let outcome = deploy(
        &s.journal,
        "refused-port",
        "pem:www.example.test",
        &pem::PemDriver { target },
        &bundle(&s.ca, &s.ca.server(&["www.example.test"], 365)),
        quick(),
    )
    .await;
    assert_eq!(outcome.phase, Phase::Failed);
    assert!(
        outcome.detail.contains("taken by another program"),
        "{}",
        outcome.detail
    );
    assert_eq!(
        std::fs::read_to_string(&s.target.certificate).expect("cert"),
        s.old.cert_pem
    );
    // A job id that could escape the journal folder is refused outright.
    let outcome = deploy(
        &s.journal,
        "../../etc/x",
        "pem:www.example.test",
        &pem::PemDriver {
            target: s.target.clone(),
        },
        &bundle(&s.ca, &s.ca.server(&["www.example.test"], 365)),
        quick(),
    )
    .await;
    assert_eq!(outcome.phase, Phase::Failed);
}

#[tokio::test]
async fn a_crash_mid_apply_is_rolled_back_at_the_next_start() {
    let s = pem_setup(&[], &["true"]).await;
    let new = s.ca.server(&["www.example.test"], 365);
    // What the journal holds when the agent died after replacing the certificate file but
    // before the key: the certificate is new, the key still old, nothing restarted.
    let backups = s.journal.backup_dir("job-crash");
    std::fs::create_dir_all(&backups).expect("dir");
    std::fs::write(backups.join("0"), &s.old.cert_pem).expect("copy");
    std::fs::write(&s.target.certificate, &new.cert_pem).expect("new cert");
    let key = s.target.key.clone().expect("key");
    std::fs::write(files::staged_path(&key), &new.key_pem).expect("staged key");
    let record = Record {
        job_id: "job-crash".into(),
        endpoint: "pem:www.example.test".into(),
        new_sha256: new.sha256.clone(),
        old_sha256: Some(s.old.sha256.clone()),
        phase: Phase::Applying,
        files: vec![
            FileRecord {
                path: s.target.certificate.clone(),
                before: Before::Copy(backups.join("0")),
            },
            FileRecord {
                path: key.clone(),
                before: Before::NotReached,
            },
        ],
        windows: Vec::new(),
        restarted: false,
        detail: String::new(),
        reported: false,
    };
    s.journal.save(&record).expect("save");

    let finished = recover(&Host::native(), &s.journal, &s.reach_of(), quick()).await;
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0].phase, Phase::RolledBack, "{:?}", finished[0]);
    assert!(
        finished[0]
            .detail
            .contains("serves the old certificate again"),
        "{}",
        finished[0].detail
    );
    assert_eq!(
        std::fs::read_to_string(&s.target.certificate).expect("cert"),
        s.old.cert_pem
    );
    assert_eq!(std::fs::read_to_string(&key).expect("key"), s.old.key_pem);
    assert!(!files::staged_path(&key).exists());
    // A second start finds nothing left to do.
    assert!(
        recover(&Host::native(), &s.journal, &s.reach_of(), quick())
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn the_journal_forgets_only_old_reported_jobs() {
    let s = pem_setup(&[], &[]).await;
    let mut record = Record {
        job_id: "old-done".into(),
        endpoint: "pem:x".into(),
        new_sha256: "AB".into(),
        old_sha256: None,
        phase: Phase::Committed,
        files: Vec::new(),
        windows: Vec::new(),
        restarted: false,
        detail: String::new(),
        reported: true,
    };
    s.journal.save(&record).expect("save");
    record.job_id = "old-unreported".into();
    record.reported = false;
    s.journal.save(&record).expect("save");
    record.job_id = "running".into();
    record.phase = Phase::Applying;
    record.reported = true;
    s.journal.save(&record).expect("save");
    assert_eq!(
        s.journal.prune(Duration::from_secs(3600)),
        0,
        "nothing is old yet"
    );
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(s.journal.prune(Duration::from_millis(10)), 1);
    assert!(s.journal.load("old-done").is_none());
    assert!(s.journal.load("old-unreported").is_some());
    assert!(s.journal.load("running").is_some());
}

#[tokio::test]
async fn a_crash_after_verification_commits_and_one_before_apply_changes_nothing() {
    let s = pem_setup(&[], &[]).await;
    let mut verified = Record {
        job_id: "verified".into(),
        endpoint: "pem:www.example.test".into(),
        new_sha256: "AB".into(),
        old_sha256: None,
        phase: Phase::Verified,
        files: Vec::new(),
        windows: Vec::new(),
        restarted: true,
        detail: "verified".into(),
        reported: false,
    };
    s.journal.save(&verified).expect("save");
    verified.job_id = "staged".into();
    verified.phase = Phase::Staged;
    verified.files = vec![FileRecord {
        path: s.target.certificate.clone(),
        before: Before::NotReached,
    }];
    std::fs::write(files::staged_path(&s.target.certificate), "new").expect("staged");
    s.journal.save(&verified).expect("save");
    let finished = recover(&Host::native(), &s.journal, &s.reach_of(), quick()).await;
    let phase = |id: &str| finished.iter().find(|r| r.job_id == id).map(|r| r.phase);
    assert_eq!(phase("verified"), Some(Phase::Committed));
    assert_eq!(phase("staged"), Some(Phase::Failed));
    assert!(!files::staged_path(&s.target.certificate).exists());
    assert_eq!(
        std::fs::read_to_string(&s.target.certificate).expect("cert"),
        s.old.cert_pem
    );
}

// --- apache, for real ----------------------------------------------------------------------

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn apache_target(apache: &certfleet_e2e::apache::Apache) -> ApacheTarget {
    let conf = apache.config_path().display().to_string();
    ApacheTarget {
        config: apache.config_path(),
        server_root: Some(apache.dir.clone()),
        config_test: Some(vec![
            "/usr/sbin/apache2".into(),
            "-f".into(),
            conf.clone(),
            "-t".into(),
        ]),
        restart: Some(vec![
            "/usr/sbin/apache2".into(),
            "-f".into(),
            conf,
            "-k".into(),
            "graceful".into(),
        ]),
        service: None,
        error_log: Some(apache.dir.join("error.log")),
        managed: Vec::new(),
        managed_dir: None,
        ssl_module: None,
        allowed_issuers: Vec::new(),
    }
}

#[tokio::test]
async fn apache_serves_the_renewal_or_is_put_back_when_it_breaks() {
    if !certfleet_e2e::apache::Apache::available() {
        panic!("/usr/sbin/apache2 is missing: install Debian's apache2 (scripts/tools.sh does)");
    }
    let dir = tempfile::tempdir().expect("dir");
    let ca = TestCa::new("Apache Deploy CA");
    let old = ca.server(&["esync.example.test"], 20);
    let port = free_port();
    let apache = certfleet_e2e::apache::Apache::start(
        &dir.path().join("httpd"),
        port,
        "esync.example.test",
        &old,
        &ca.pem,
    )
    .expect("apache");
    let target = apache_target(&apache);
    let endpoint = format!("apache:127.0.0.1:{port}:esync.example.test");
    let journal = Journal::open(&dir.path().join("journal")).expect("journal");
    let timing = Timing {
        verify_for: Duration::from_secs(15),
        poll_every: Duration::from_millis(200),
        ..Timing::default()
    };
    let address = format!("127.0.0.1:{port}");
    let served_now = || async {
        let der = crate::inventory::served_leaf(&address, Some("esync.example.test"))
            .await
            .expect("served");
        certkit::read(&der, None).expect("read").certificates[0]
            .facts()
            .sha256
            .to_string()
    };

    let new = ca.server(&["esync.example.test"], 365);
    let driver = apache::ApacheDriver::find(&target, &endpoint).expect("driver");
    let outcome = deploy(
        &journal,
        "a-1",
        &endpoint,
        &driver,
        &bundle(&ca, &new),
        timing,
    )
    .await;
    assert!(outcome.committed(), "{outcome:?}");
    assert_eq!(served_now().await, new.sha256);
    assert_eq!(
        std::fs::read_to_string(apache.dir.join("ssl/chain.crt")).expect("chain"),
        certkit::write::pem_chain(
            &certkit::read(ca.pem.as_bytes(), None)
                .expect("ca")
                .certificates
        )
    );

    // A restart that does not make Apache load the new files (here: none at all): the
    // live port keeps the old certificate, so verification fails and the files go back.
    let mut lazy = target.clone();
    lazy.restart = Some(vec!["true".into()]);
    let newer = ca.server(&["esync.example.test"], 400);
    let driver = apache::ApacheDriver::find(&lazy, &endpoint).expect("driver");
    let quick_verify = Timing {
        verify_for: Duration::from_secs(2),
        poll_every: Duration::from_millis(200),
        ..Timing::default()
    };
    let outcome = deploy(
        &journal,
        "a-2",
        &endpoint,
        &driver,
        &bundle(&ca, &newer),
        quick_verify,
    )
    .await;
    assert_eq!(outcome.phase, Phase::RolledBack, "{outcome:?}");
    assert!(
        outcome.detail.contains("did not serve the new certificate"),
        "{}",
        outcome.detail
    );
    assert_eq!(
        served_now().await,
        new.sha256,
        "still serving the last good certificate"
    );
    assert_eq!(
        configured_leaf(&apache.cert_path()).as_deref(),
        Some(new.sha256.as_str())
    );

    // A leaf issued straight by a root: no issuers to write, so the chain file is left
    // as it is rather than emptied (Apache refuses an empty SSLCertificateChainFile).
    let chain_before = std::fs::read(apache.dir.join("ssl/chain.crt")).expect("chain");
    let direct = ca.server(&["esync.example.test"], 500);
    let mut leaf_only = bundle(&ca, &direct);
    leaf_only.chain_pem = direct.cert_pem.clone();
    let driver = apache::ApacheDriver::find(&target, &endpoint).expect("driver");
    let outcome = deploy(&journal, "a-3", &endpoint, &driver, &leaf_only, timing).await;
    assert!(outcome.committed(), "{outcome:?}");
    assert_eq!(served_now().await, direct.sha256);
    assert_eq!(
        std::fs::read(apache.dir.join("ssl/chain.crt")).expect("chain"),
        chain_before
    );
}

#[tokio::test]
async fn a_managed_site_is_written_into_httpd_conf_and_served() {
    if !certfleet_e2e::apache::Apache::available() {
        panic!("/usr/sbin/apache2 is missing: install Debian's apache2 (scripts/tools.sh does)");
    }
    let dir = tempfile::tempdir().expect("dir");
    let ca = TestCa::new("Managed CA");
    let existing = ca.server(&["esync.example.test"], 20);
    let port = free_port();
    let apache = certfleet_e2e::apache::Apache::start(
        &dir.path().join("httpd"),
        port,
        "esync.example.test",
        &existing,
        &ca.pem,
    )
    .expect("apache");
    let original = std::fs::read_to_string(apache.config_path()).expect("conf");
    let managed_port = free_port();
    let mut target = apache_target(&apache);
    target.managed = vec![
        crate::config::ManagedSite {
            server_name: "files.example.test".into(),
            port: managed_port,
            extra: vec!["# the application's own lines go here".into()],
        },
        // Its port is the existing vhost's: another program as far as this site goes.
        crate::config::ManagedSite {
            server_name: "other.example.test".into(),
            port,
            extra: vec![],
        },
    ];
    target.managed_dir = Some(apache.dir.join("certfleet"));
    let journal = Journal::open(&dir.path().join("journal")).expect("journal");
    let timing = Timing {
        verify_for: Duration::from_secs(15),
        poll_every: Duration::from_millis(200),
        ..Timing::default()
    };
    let address = format!("127.0.0.1:{managed_port}");
    let endpoint = format!("apache:*:{managed_port}:files.example.test");

    let first = ca.server(&["files.example.test"], 365);
    let driver = apache::ApacheDriver::find(&target, &endpoint).expect("driver");
    let outcome = deploy(
        &journal,
        "m-1",
        &endpoint,
        &driver,
        &bundle(&ca, &first),
        timing,
    )
    .await;
    assert!(outcome.committed(), "{outcome:?}");
    let der = crate::inventory::served_leaf(&address, Some("files.example.test"))
        .await
        .expect("served");
    assert_eq!(Fingerprint::of(&der).to_string(), first.sha256);
    let conf = std::fs::read_to_string(apache.config_path()).expect("conf");
    assert!(
        conf.starts_with(&original),
        "the rest of httpd.conf is as it was"
    );
    assert_eq!(conf.matches(managed::BEGIN).count(), 1);
    assert!(conf.contains(&format!("Listen {managed_port}")));
    assert!(
        !conf.contains("other.example.test"),
        "a site without files is not written"
    );

    // Renewed again: the block is replaced, not added twice, and the parser now finds the
    // site under the same endpoint key.
    let second = ca.server(&["files.example.test"], 400);
    let driver = apache::ApacheDriver::find(&target, &endpoint).expect("driver");
    let outcome = deploy(
        &journal,
        "m-2",
        &endpoint,
        &driver,
        &bundle(&ca, &second),
        timing,
    )
    .await;
    assert!(outcome.committed(), "{outcome:?}");
    let conf = std::fs::read_to_string(apache.config_path()).expect("conf");
    assert_eq!(conf.matches(managed::BEGIN).count(), 1);
    assert_eq!(conf.matches(&format!("Listen {managed_port}")).count(), 1);
    let parsed = crate::inventory::apache::parse(&target.config, target.server_root.as_deref())
        .expect("parse");
    assert!(
        parsed
            .tls_hosts
            .iter()
            .any(|h| h.endpoint_key() == endpoint)
    );

    // A new managed site on a port another site already serves is refused up front.
    let other = ca.server(&["other.example.test"], 365);
    let endpoint = format!("apache:*:{port}:other.example.test");
    let driver = apache::ApacheDriver::find(&target, &endpoint).expect("driver");
    let outcome = deploy(
        &journal,
        "m-3",
        &endpoint,
        &driver,
        &bundle(&ca, &other),
        timing,
    )
    .await;
    assert_eq!(outcome.phase, Phase::Failed, "{outcome:?}");
    assert!(
        outcome.detail.contains("taken by another program"),
        "{}",
        outcome.detail
    );
    assert_eq!(
        std::fs::read_to_string(apache.config_path()).expect("conf"),
        conf
    );
}

#[test]
fn apache_restarted_as_a_windows_service_keeps_its_keys_readable_by_the_service_account_only() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("httpd.conf");
    std::fs::write(
        &config,
        format!("ServerRoot \"{}\"\n", dir.path().display()),
    )
    .expect("conf");
    let target = ApacheTarget {
        config: config.clone(),
        server_root: Some(dir.path().to_path_buf()),
        config_test: None,
        restart: None,
        service: Some("eSync Apache Web Server".into()),
        error_log: None,
        managed: vec![crate::config::ManagedSite {
            server_name: "esync.example.test".into(),
            port: 443,
            extra: Vec::new(),
        }],
        managed_dir: None,
        ssl_module: None,
        allowed_issuers: Vec::new(),
    };
    let (host, _, scm) = Host::fake();
    scm.install(
        "eSync Apache Web Server",
        ".\\svc-esync",
        "httpd.exe -k runservice",
        certfleet_winhost::fake::Behaviour::Normal { pending_polls: 0 },
    );
    let ca = TestCa::new("ACL CA");
    let cert = ca.server(&["esync.example.test"], 90);
    let endpoint = "apache:*:443:esync.example.test";
    let plan = apache::ApacheDriver::find(&target, endpoint)
        .expect("driver")
        .with_service_account(&host)
        .plan(&bundle(&ca, &cert))
        .expect("plan");
    assert_eq!(plan.private_readers, Some(vec![".\\svc-esync".to_string()]));
    assert_eq!(
        plan.reach.restart,
        Some(Restart::Service {
            service: "eSync Apache Web Server".into()
        })
    );
    // A restart command instead of a service: the files keep what the folder gives.
    let command = ApacheTarget {
        service: None,
        restart: Some(vec!["true".into()]),
        ..target
    };
    let plan = apache::ApacheDriver::find(&command, endpoint)
        .expect("driver")
        .with_service_account(&host)
        .plan(&bundle(&ca, &cert))
        .expect("plan");
    assert_eq!(plan.private_readers, None);
}

/// What a local user on the host could try against the agent's files.
mod local_users;

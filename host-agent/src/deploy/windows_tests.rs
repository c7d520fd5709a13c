//! The executor's Windows changes against the Windows layer's fakes: imported, reserved and
//! bound on success; every one of them put back on a failure, after a failed add, and after
//! a crash.

use std::net::SocketAddr;

use base64::Engine;
use certfleet_e2e::pki::{ServerCert, TestCa};
use certfleet_winhost::fake::{Behaviour, FakeMachine};
use certfleet_winhost::{
    BindingKey, CertStores, Code, HttpConfig, PrivateKey, SslBinding, Store, Usable,
};

use super::*;

const APP: &str = "{A86AD080-2EC6-44FB-82E4-BB1E409AB93C}";
const SERVICE: &str = "Sage 300 Connector Agent";

type Machine = FakeMachine;

/// A Sage connector's machine: the fakes, with the connector's service installed.
fn machine() -> Machine {
    let m = FakeMachine::new();
    m.services.install(
        SERVICE,
        "LocalSystem",
        "Sage300IntegrationService.exe",
        Behaviour::Normal { pending_polls: 1 },
    );
    m
}

/// Every test's start: the port bound to an old certificate, a new one to deploy.
struct Scene {
    _dir: tempfile::TempDir,
    journal: Journal,
    m: Machine,
    ca: TestCa,
    old: ServerCert,
    new: ServerCert,
    before: SslBinding,
}

fn scene() -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    let m = machine();
    let ca = TestCa::new("Sage CA");
    let old = ca.server(&["sage01.example.test"], 10);
    let new = ca.server(&["sage01.example.test"], 90);
    let before = bound_to_old(&m, &old);
    Scene {
        _dir: dir,
        journal,
        m,
        ca,
        old,
        new,
        before,
    }
}

fn der(cert: &ServerCert) -> Vec<u8> {
    certkit::read(cert.cert_pem.as_bytes(), None)
        .unwrap()
        .certificates[0]
        .der()
        .to_vec()
}

fn thumbprint(cert: &ServerCert) -> certkit::Thumbprint {
    certkit::Thumbprint::of(&der(cert))
}

fn port_key() -> BindingKey {
    BindingKey::IpPort("0.0.0.0:4207".parse::<SocketAddr>().unwrap())
}

/// A driver that asks only for Windows changes and a service restart.
struct WindowsOnly {
    changes: Vec<WindowsChange>,
}

impl Driver for WindowsOnly {
    fn preflight<'a>(
        &'a self,
        _bundle: &'a Bundle,
        _now: OffsetDateTime,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(async { Ok(()) })
    }

    fn plan(&self, _bundle: &Bundle) -> Result<Plan> {
        Ok(Plan {
            files: Vec::new(),
            removes: Vec::new(),
            windows: self.changes.clone(),
            reach: self.reach()?,
            old_sha256: None,
            private_readers: None,
            probe: None,
        })
    }

    fn reach(&self) -> Result<Reach> {
        Ok(windows_reach())
    }
}

fn windows_reach() -> Reach {
    Reach {
        windows_port: Some(4207),
        restart: Some(Restart::Service {
            service: SERVICE.into(),
        }),
        ..Reach::default()
    }
}

fn changes_for(new: &ServerCert) -> Vec<WindowsChange> {
    let t = thumbprint(new).to_string();
    vec![
        WindowsChange::Import {
            thumbprint: t.clone(),
        },
        WindowsChange::Trust {
            thumbprint: t.clone(),
            der_base64: base64::engine::general_purpose::STANDARD.encode(der(new)),
        },
        WindowsChange::Reserve {
            url: "https://+:4207/".into(),
        },
        WindowsChange::Bind {
            key: port_key().to_string(),
            thumbprint: t,
            app_id: APP.into(),
        },
    ]
}

fn bundle(ca: &TestCa, cert: &ServerCert) -> Bundle {
    Bundle {
        chain_pem: format!("{}{}", cert.cert_pem, ca.pem),
        key_pem: Zeroizing::new(cert.key_pem.clone()),
        sha256: cert.sha256.clone(),
    }
}

/// The port bound to `old` the way an admin's netsh left it, with non-default fields a
/// replacement must keep.
fn bound_to_old(m: &Machine, old: &ServerCert) -> SslBinding {
    m.stores.insert(
        Store::My,
        &der(old),
        PrivateKey::Associated {
            usable: Usable::Yes,
        },
    );
    let mut binding = SslBinding::new(port_key(), thumbprint(old), APP);
    binding.flags = 0x4;
    binding.revocation_freshness_secs = 600;
    m.http.add_ssl_binding(&binding).unwrap();
    binding
}

async fn run(m: &Machine, journal: &Journal, job: &str, ca: &TestCa, new: &ServerCert) -> Outcome {
    let driver = WindowsOnly {
        changes: changes_for(new),
    };
    execute(
        &m.host,
        journal,
        job,
        "sage300:4207",
        &driver,
        &bundle(ca, new),
        Timing::default(),
        &mut |_: certfleet_proto::DeployStep, _: &str| {},
    )
    .await
}

#[tokio::test]
async fn the_new_certificate_is_imported_trusted_reserved_and_bound_keeping_the_old_fields() {
    let Scene {
        journal,
        m,
        ca,
        new,
        before,
        _dir: _held,
        ..
    } = scene();
    let outcome = run(&m, &journal, "job-1", &ca, &new).await;
    assert!(outcome.committed(), "{outcome:?}");
    let now = m.http.ssl_binding(&port_key()).unwrap().expect("bound");
    assert_eq!(now.thumbprint, thumbprint(&new));
    assert_eq!(
        SslBinding {
            thumbprint: before.thumbprint,
            ..now
        },
        before,
        "every other field carried over"
    );
    let mine = m
        .stores
        .find(Store::My, &thumbprint(&new))
        .unwrap()
        .expect("in My");
    assert!(mine.private_key.associated(), "imported with its key");
    assert!(
        m.stores
            .find(Store::Root, &thumbprint(&new))
            .unwrap()
            .is_some()
    );
    assert!(m.http.url_acl("https://+:4207/").unwrap().is_some());
    assert_eq!(m.services.requests(SERVICE), (1, 0), "restarted once");
}

async fn assert_put_back(m: &Machine, before: &SslBinding, new: &ServerCert) {
    assert_eq!(
        m.http.ssl_binding(&port_key()).unwrap().as_ref(),
        Some(before),
        "the old binding, every field"
    );
    assert!(
        m.stores
            .find(Store::My, &thumbprint(new))
            .unwrap()
            .is_none(),
        "the new certificate left My: nothing binds it"
    );
    assert!(
        m.stores
            .find(Store::Root, &thumbprint(new))
            .unwrap()
            .is_none()
    );
    assert!(
        m.http.url_acl("https://+:4207/").unwrap().is_none(),
        "the reservation certfleet added is gone"
    );
}

#[tokio::test]
async fn a_service_that_does_not_start_rolls_every_windows_change_back() {
    let Scene {
        journal,
        m,
        ca,
        new,
        before,
        _dir: _held,
        ..
    } = scene();
    m.services
        .set_behaviour(SERVICE, Behaviour::FailsToStart { exit_code: 1067 });
    let outcome = run(&m, &journal, "job-2", &ca, &new).await;
    assert_eq!(outcome.phase, Phase::RolledBack, "{outcome:?}");
    assert_put_back(&m, &before, &new).await;
}

#[tokio::test]
async fn an_add_that_fails_after_the_delete_puts_the_snapshot_back() {
    let Scene {
        journal,
        m,
        ca,
        new,
        before,
        _dir: _held,
        ..
    } = scene();
    m.http.fail_next_add(Code(1312));
    let outcome = run(&m, &journal, "job-3", &ca, &new).await;
    assert_eq!(outcome.phase, Phase::RolledBack, "{outcome:?}");
    assert!(outcome.detail.contains("1312"), "{}", outcome.detail);
    assert_put_back(&m, &before, &new).await;
    assert_eq!(
        m.services.requests(SERVICE),
        (0, 0),
        "nothing was restarted: the bind failed before the restart"
    );
}

#[tokio::test]
async fn an_import_that_fails_changes_nothing_else() {
    let Scene {
        journal,
        m,
        ca,
        new,
        before,
        _dir: _held,
        ..
    } = scene();
    m.stores.fail_next_import(Code(112));
    let outcome = run(&m, &journal, "job-import", &ca, &new).await;
    assert_eq!(outcome.phase, Phase::RolledBack, "{outcome:?}");
    assert!(outcome.detail.contains("112"), "{}", outcome.detail);
    assert_put_back(&m, &before, &new).await;
    assert_eq!(m.services.requests(SERVICE), (0, 0), "nothing restarted");
}

#[tokio::test]
async fn a_crash_after_each_change_is_undone_at_the_next_start() {
    for made in 1..=changes_for(&TestCa::new("x").server(&["a.test"], 1)).len() {
        crash_after(made).await;
    }
}

/// The agent died after `made` of the plan's Windows changes, before the restart.
async fn crash_after(made: usize) {
    let Scene {
        journal,
        m,
        ca,
        old,
        new,
        before,
        _dir: _held,
        ..
    } = scene();
    // What the journal held: the changes made, each with what was there; the rest not
    // reached.
    let mut windows = Vec::new();
    for (i, change) in changes_for(&new).into_iter().enumerate() {
        if i >= made {
            windows.push(WindowsRecord {
                change,
                before: WindowsBefore::NotReached,
            });
            continue;
        }
        let record = WindowsRecord {
            before: windows_changes::before(&m.host, &change).unwrap(),
            change,
        };
        windows_changes::apply(&m.host, &bundle(&ca, &new), &record).unwrap();
        windows.push(record);
    }
    let record = Record {
        job_id: format!("job-crash-{made}"),
        endpoint: "sage300:4207".into(),
        new_sha256: new.sha256.clone(),
        old_sha256: Some(old.sha256.clone()),
        phase: Phase::Applied,
        files: Vec::new(),
        windows,
        restarted: false,
        detail: String::new(),
        reported: false,
    };
    journal.save(&record).unwrap();
    let finished = recover(
        &m.host,
        &journal,
        &|_| Ok(windows_reach()),
        Timing::default(),
    )
    .await;
    assert_eq!(finished.len(), 1, "after {made}");
    assert_eq!(
        finished[0].phase,
        Phase::RolledBack,
        "after {made}: {:?}",
        finished[0]
    );
    assert_put_back(&m, &before, &new).await;
    assert_eq!(
        m.services.requests(SERVICE),
        (1, 0),
        "after {made}: restarted once with the old configuration"
    );
}

#[test]
fn a_journal_from_before_windows_changes_reads_with_none_and_its_commands_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    let text = r#"{"job_id":"j","endpoint":"pem:a","new_sha256":"AA","old_sha256":null,
        "phase":"committed","files":[],"check":null,"restart":["touch","/tmp/x"],
        "restarted":false,"error_log":null,"verify":null,"detail":"","reported":true}"#;
    std::fs::write(dir.path().join("j.json"), text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.path().join("j.json");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let record = journal.load("j").expect("an old journal still reads");
    assert!(record.windows.is_empty());
    journal.save(&record).unwrap();
    let again = std::fs::read_to_string(dir.path().join("j.json")).unwrap();
    assert!(!again.contains("touch"), "not written again: {again}");
}

#[tokio::test]
async fn a_binding_from_web_hosting_moves_to_my_and_comes_back_on_a_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    let m = machine();
    let ca = TestCa::new("Sage CA");
    let old = ca.server(&["sage01.example.test"], 10);
    let new = ca.server(&["sage01.example.test"], 90);
    m.stores.insert(
        Store::WebHosting,
        &der(&old),
        PrivateKey::Associated {
            usable: Usable::Yes,
        },
    );
    let mut before = SslBinding::new(port_key(), thumbprint(&old), APP);
    before.store = "WebHosting".into();
    m.http.add_ssl_binding(&before).unwrap();

    let outcome = run(&m, &journal, "job-web", &ca, &new).await;
    assert!(outcome.committed(), "{outcome:?}");
    let now = m.http.ssl_binding(&port_key()).unwrap().expect("bound");
    assert_eq!(now.store, "MY", "where the import put the new certificate");

    m.services
        .set_behaviour(SERVICE, Behaviour::FailsToStart { exit_code: 1067 });
    let newer = ca.server(&["sage01.example.test"], 120);
    let outcome = run(&m, &journal, "job-web-2", &ca, &newer).await;
    assert_eq!(outcome.phase, Phase::RolledBack, "{outcome:?}");
    assert_eq!(
        m.http.ssl_binding(&port_key()).unwrap(),
        Some(now),
        "the binding as it was before this job, store included"
    );
}

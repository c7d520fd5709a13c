//! The fault matrix's Sage 300 cells (RELIABILITY.md): a renewal deployed to a connector on
//! the Windows layer's fakes (certificate stores, HTTP.sys bindings, the service manager)
//! with a fake HTTP.sys that serves TLS from its bindings, the agent killed at each step.
//! HTTP.sys cannot run here, so the agent cannot be a separate process beside it; a kill is
//! the deploy dropped where it is held, which leaves what a SIGKILL leaves — the journal on
//! disk, and the machine's stores, bindings, `exe.config` and service as far as the deploy
//! got (they belong to the operating system, not the agent) — and then the next start's
//! recovery runs on them. Also the agent's disk full under a Sage 300 deploy.

use std::sync::Arc;

use certfleet_e2e::disk::SmallDisk;
use certfleet_e2e::pki::{ServerCert, TestCa};
use certfleet_winhost::{CertStores, HttpConfig, Store};
use tokio::sync::Notify;

use super::fault::{HOLD, Point};
use super::sage300_tests::{FQDN, Server, server, thumbprint, timing};
use super::*;

/// What recovery must make of a deploy killed at a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ends {
    /// Nothing on the machine had changed: failed, the old certificate serves.
    Untouched,
    /// Bindings or the configuration had changed: put back, the old certificate serves.
    RolledBack,
    /// Verified before the kill: committed, the new certificate serves.
    Verified,
}

struct Scene {
    server: Server,
    old: ServerCert,
    new: ServerCert,
    config_before: Vec<u8>,
}

/// Deploys `cert` to `server` and drops the deploy where it is held at `point`: the agent
/// died there.
async fn deploy_killed_at(server: &Server, point: Point, ca: &TestCa, cert: &ServerCert) {
    let reached = Arc::new(Notify::new());
    let deploy = HOLD.scope(
        (point, reached.clone()),
        server.deploy("sage-killed", ca, cert),
    );
    tokio::select! {
        () = reached.notified() => {}
        outcome = deploy => panic!("the deploy ended before {point}: {outcome:?}"),
    }
}

/// A live connector: its service runs.
fn start_service(server: &Server) {
    certfleet_winhost::services::start(
        server.host.services.as_ref(),
        crate::sage300::DEFAULT_SERVICE,
        certfleet_winhost::Wait::default(),
    )
    .unwrap();
}

/// The next start's recovery, which must find exactly the one deploy, and nothing the time
/// after.
async fn recovered(server: &Server) -> Record {
    let reach = server.driver().reach().unwrap();
    let mut finished = recover(
        &server.host,
        &server.journal,
        &|_| Ok(reach.clone()),
        timing(),
    )
    .await;
    assert_eq!(finished.len(), 1, "{finished:?}");
    let again = recover(
        &server.host,
        &server.journal,
        &|_| Ok(reach.clone()),
        timing(),
    )
    .await;
    assert!(again.is_empty(), "recovered twice: {again:?}");
    finished.remove(0)
}

fn assert_running(server: &Server, point: Point) {
    let service = server
        .host
        .services
        .status(crate::sage300::DEFAULT_SERVICE)
        .unwrap();
    assert_eq!(
        service.state,
        certfleet_winhost::ServiceState::Running,
        "at {point}"
    );
}

/// A connector serving `old` (10 days left) with its service running, and its renewal
/// `new` (90 days) from `ca`.
async fn renewal_scene(ca: &TestCa) -> Scene {
    let server = server("https").await;
    let old = ca.connector(&[FQDN], 10);
    let new = ca.connector(&[FQDN], 90);
    server.bind(server.any(), &old);
    start_service(&server);
    let config_before = std::fs::read(&server.config).unwrap();
    Scene {
        server,
        old,
        new,
        config_before,
    }
}

/// The renewal deployed and held at `point`, then dropped there.
async fn killed_at(point: Point) -> Scene {
    let ca = TestCa::new("Sage CA");
    let scene = renewal_scene(&ca).await;
    deploy_killed_at(&scene.server, point, &ca, &scene.new).await;
    scene
}

/// `switched`: whether the binding was already the new certificate's when the agent died.
async fn agent_killed_at(point: Point, switched: bool, ends: Ends) {
    let scene = killed_at(point).await;
    let s = &scene.server;
    // Where the kill landed: past the switch of the binding, or before it.
    let at_kill = s.http.ssl_binding(&s.any()).unwrap().expect("bound");
    assert_eq!(
        at_kill.thumbprint == thumbprint(&scene.new),
        switched,
        "at {point}: bound to {} when killed",
        at_kill.thumbprint
    );
    let record = recovered(s).await;
    let (phase, reason, serves) = match ends {
        Ends::Untouched => (
            Phase::Failed,
            "stopped before it changed anything",
            &scene.old,
        ),
        Ends::RolledBack => (Phase::RolledBack, "stopped mid-deployment", &scene.old),
        Ends::Verified => (Phase::Committed, "serves the new certificate", &scene.new),
    };
    assert_eq!(record.phase, phase, "at {point}: {record:?}");
    assert!(
        record.detail.contains(reason),
        "at {point}: {}",
        record.detail
    );
    let bound = s.http.ssl_binding(&s.any()).unwrap().expect("bound");
    assert_eq!(bound.thumbprint, thumbprint(serves), "at {point}");
    assert_eq!(s.served(Some(FQDN)).await, serves.sha256, "at {point}");
    assert_eq!(s.served(None).await, serves.sha256, "at {point}");
    if ends != Ends::Verified {
        assert_eq!(
            std::fs::read(&s.config).unwrap(),
            scene.config_before,
            "at {point}: the exe.config as it was"
        );
    }
    assert_running(s, point);
}

#[tokio::test]
async fn sage300_agent_killed_after_journal() {
    agent_killed_at(Point::AfterJournal, false, Ends::Untouched).await;
}

#[tokio::test]
async fn sage300_agent_killed_after_stage() {
    agent_killed_at(Point::AfterStage, false, Ends::Untouched).await;
}

/// "Replace" is the step for files (the `exe.config`, when it changes); the bindings switch
/// after it, so nothing on the machine had changed yet, but the journal says the deploy was
/// mid-way: it is rolled back (a no-op put back, verified).
#[tokio::test]
async fn sage300_agent_killed_after_replace() {
    agent_killed_at(Point::AfterReplace, false, Ends::RolledBack).await;
}

#[tokio::test]
async fn sage300_agent_killed_after_restart() {
    agent_killed_at(Point::AfterRestart, true, Ends::RolledBack).await;
}

#[tokio::test]
async fn sage300_agent_killed_during_verify() {
    agent_killed_at(Point::DuringVerify, true, Ends::RolledBack).await;
}

#[tokio::test]
async fn sage300_agent_killed_after_verify() {
    agent_killed_at(Point::AfterVerify, true, Ends::Verified).await;
}

/// A connector's first HTTPS (its `exe.config` said `http://`), the agent killed after the
/// file changed and again after the binding was made and the service restarted: recovery
/// puts the `exe.config` back byte for byte, removes the binding and the URL reservation it
/// added, and leaves the service running on HTTP.
async fn first_https_killed_at(point: Point, bound: bool) {
    let s = server("http").await;
    start_service(&s);
    let before = std::fs::read(&s.config).unwrap();
    let ca = TestCa::new("Sage CA");
    let cert = ca.connector(&[FQDN], 90);
    let acl = format!("https://+:{}/", s.port());
    deploy_killed_at(&s, point, &ca, &cert).await;
    assert_ne!(std::fs::read(&s.config).unwrap(), before, "at {point}");
    assert_eq!(s.http.ssl_binding(&s.any()).unwrap().is_some(), bound);
    let record = recovered(&s).await;
    assert_eq!(record.phase, Phase::RolledBack, "at {point}: {record:?}");
    assert!(
        record.detail.contains("stopped mid-deployment"),
        "{}",
        record.detail
    );
    assert_eq!(std::fs::read(&s.config).unwrap(), before, "at {point}");
    assert_eq!(s.http.ssl_binding(&s.any()).unwrap(), None, "at {point}");
    assert_eq!(s.http.url_acl(&acl).unwrap(), None, "at {point}");
    assert_running(&s, point);
}

#[tokio::test]
async fn sage300_first_https_killed_after_replace() {
    first_https_killed_at(Point::AfterReplace, false).await;
}

#[tokio::test]
async fn sage300_first_https_killed_after_restart() {
    first_https_killed_at(Point::AfterRestart, true).await;
}

/// The agent's data folder full (a 1 MiB tmpfs, filled) when a Sage 300 renewal arrives:
/// the journal cannot be written, so nothing on the machine is touched — no certificate
/// imported, no binding changed — and the refusal names the full disk. With space freed the
/// same renewal deploys.
#[tokio::test]
async fn sage300_agent_disk_full_changes_nothing_and_a_later_deploy_succeeds() {
    let ca = TestCa::new("Sage CA");
    let Scene {
        server: s,
        old,
        new,
        config_before,
    } = renewal_scene(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(&dir.path().join("journal"), 1 << 20).expect("a small disk");
    let journal = Journal::open(&disk.path).unwrap();
    disk.fill().unwrap();

    let outcome = s.deploy_into(&journal, "sage-full", &ca, &new).await;
    assert_eq!(outcome.phase, Phase::Failed, "{outcome:?}");
    assert!(
        outcome.detail.contains("the disk is full"),
        "{}",
        outcome.detail
    );
    let bound = s.http.ssl_binding(&s.any()).unwrap().expect("bound");
    assert_eq!(bound.thumbprint, thumbprint(&old));
    assert!(
        s.stores
            .find(Store::My, &thumbprint(&new))
            .unwrap()
            .is_none(),
        "nothing imported"
    );
    assert_eq!(std::fs::read(&s.config).unwrap(), config_before);
    assert_eq!(s.served(Some(FQDN)).await, old.sha256);

    disk.free().unwrap();
    let outcome = s.deploy_into(&journal, "sage-full-again", &ca, &new).await;
    assert!(outcome.committed(), "{outcome:?}");
    assert_eq!(s.served(Some(FQDN)).await, new.sha256);
}

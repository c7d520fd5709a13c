//! Alerts through a real SMTP listener (Debian's python3-aiosmtpd writing a Maildir), with
//! the console's clock moved by the test.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use certfleet_e2e::smtp::{SmtpListener, subject};
use certfleet_proto::Finding;
use certfleet_server::alerts::{
    self,
    settings::{AlertSettings, Security},
};
use certfleet_server::config::{Config, Overrides};
use time::OffsetDateTime;

const DAY: i64 = 86_400;
/// 2027-03-01 06:00 UTC: before an 08:00 digest.
const T0: i64 = 1_803_967_200;

fn free_port() -> u16 {
    certfleet_e2e::free_port().expect("a free port")
}

fn listener(dir: &std::path::Path, port: u16) -> SmtpListener {
    SmtpListener::start(dir, port).expect("aiosmtpd")
}

struct Harness {
    _dir: tempfile::TempDir,
    _prepared: certfleet_server::Prepared,
    state: certfleet_server::state::AppState,
    clock: Arc<AtomicI64>,
    settings: AlertSettings,
}

impl Harness {
    async fn new(smtp_port: u16, digest_at: &str) -> Self {
        certfleet_server::install_crypto_provider();
        let dir = tempfile::tempdir().expect("dir");
        let overrides = Overrides {
            data_dir: Some(dir.path().join("data")),
            ..Overrides::default()
        };
        let config = Config::load(None, Vec::new(), &overrides).expect("config");
        let prepared = certfleet_server::prepare(config).await.expect("prepare");
        let clock = Arc::new(AtomicI64::new(T0));
        let mut state = prepared.state.clone();
        let c = clock.clone();
        state.clock = certfleet_server::clock::Clock::new(move || {
            OffsetDateTime::from_unix_timestamp(c.load(Ordering::SeqCst)).expect("time")
        });
        let mut settings = AlertSettings::default();
        settings.smtp.host = "127.0.0.1".into();
        settings.smtp.port = smtp_port;
        settings.smtp.security = Security::None;
        settings.smtp.from = "certfleet@example.test".into();
        settings.recipients = vec!["ops@example.test".into()];
        settings
            .group_recipients
            .insert("esync".into(), vec!["esync-team@example.test".into()]);
        settings.digest_at = digest_at.into();
        settings.base_url = Some("https://console.example.test:8443".into());
        // The clock jumps days ahead while the agents stay quiet; only the offline test
        // wants to hear about that.
        settings.offline_after_minutes = 10 * 365 * 24 * 60;
        Harness {
            _dir: dir,
            _prepared: prepared,
            state,
            clock,
            settings,
        }
    }

    fn at(&self, t: i64) {
        self.clock.store(t, Ordering::SeqCst);
    }

    async fn tick(&self) -> usize {
        let now = self.clock.load(Ordering::SeqCst);
        alerts::check(&self.state.alerts(), &self.settings, now)
            .await
            .expect("check");
        alerts::send_due(&self.state.alerts(), &self.settings, now)
            .await
            .expect("send")
    }

    /// An enrolled agent with a host in `groups`; returns (agent id, host id).
    async fn host(&self, name: &str, groups: &[&str], seen: i64) -> (String, i64) {
        support::host(&self.state.store, name, groups, seen).await
    }

    async fn inventory(
        &self,
        agent: &str,
        host: i64,
        certs: &[(&str, i64)],
        findings: Vec<Finding>,
    ) {
        support::inventory(&self.state.store, agent, host, certs, findings).await
    }
}

#[tokio::test]
async fn each_threshold_alerts_exactly_once_as_the_clock_moves() {
    let dir = tempfile::tempdir().expect("dir");
    let smtp = listener(dir.path(), free_port());
    let h = Harness::new(smtp.port, "off").await;
    let (agent, host) = h.host("esync01", &[], T0).await;
    let expiry = T0 + 40 * DAY;
    h.inventory(&agent, host, &[("esync.example.test", expiry)], vec![])
        .await;

    let mut expected = Vec::new();
    for (at, left) in [
        (T0, None),
        (T0 + 11 * DAY, Some("29 days left")),
        (T0 + 12 * DAY, None),
        (T0 + 27 * DAY, Some("13 days left")),
        (T0 + 34 * DAY, Some("6 days left")),
        (T0 + 39 * DAY + 3600, Some("expires today")),
        (T0 + 39 * DAY + 7200, None),
        (T0 + 41 * DAY, Some("expired")),
        (T0 + 42 * DAY, None),
    ] {
        h.at(at);
        h.tick().await;
        h.tick().await;
        if let Some(left) = left {
            expected.push(left);
        }
        assert_eq!(
            smtp.messages().len(),
            expected.len(),
            "at day {}",
            (at - T0) / DAY
        );
    }
    let messages = smtp.messages();
    for (message, left) in messages.iter().zip(&expected) {
        assert!(
            subject(message).contains(left) || subject(message).contains("expired"),
            "{}",
            subject(message)
        );
        assert!(message.contains("To: ops@example.test"), "{message}");
        assert!(message.contains("esync01"), "the host is named");
        assert!(
            message.contains("https://console.example.test:8443/certificates/"),
            "a link to the certificate"
        );
        assert!(message.contains("Message-ID: <"), "{message}");
        assert!(
            message.contains("Content-Type: text/html"),
            "an HTML part too"
        );
    }
    // A replaced certificate stops alerting: swap it out and move past another threshold.
    let h2_expiry = T0 + 400 * DAY;
    h.inventory(
        &agent,
        host,
        &[("esync.example.test-renewed", h2_expiry)],
        vec![],
    )
    .await;
    h.at(T0 + 45 * DAY);
    h.tick().await;
    assert_eq!(smtp.messages().len(), expected.len());
}

#[tokio::test]
async fn the_digest_groups_by_urgency_and_by_recipients() {
    let dir = tempfile::tempdir().expect("dir");
    let smtp = listener(dir.path(), free_port());
    let h = Harness::new(smtp.port, "08:00").await;
    let (a, host_a) = h.host("esync01", &["esync"], T0).await;
    let (b, host_b) = h.host("sage01", &[], T0).await;
    h.inventory(
        &a,
        host_a,
        &[
            ("a-soon.example.test", T0 + 5 * DAY),
            ("a-later.example.test", T0 + 20 * DAY),
        ],
        vec![],
    )
    .await;
    h.inventory(
        &b,
        host_b,
        &[("b-later.example.test", T0 + 25 * DAY)],
        vec![],
    )
    .await;

    // 06:00: crossings are recorded, nothing is sent before the digest time.
    h.tick().await;
    assert!(smtp.messages().is_empty());
    // 08:05: one digest per set of recipients.
    h.at(T0 + 2 * 3600 + 300);
    h.tick().await;
    h.tick().await;
    let messages = smtp.messages();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    let to_team = messages
        .iter()
        .find(|m| m.contains("esync-team@example.test"))
        .expect("the esync digest");
    assert!(
        to_team.contains("ops@example.test"),
        "group recipients come on top of the global ones"
    );
    let soon = to_team.find("a-soon.example.test").expect("soon listed");
    let later = to_team.find("a-later.example.test").expect("later listed");
    assert!(soon < later, "most urgent first");
    assert!(to_team.contains("Within 7 days") && to_team.contains("Within 30 days"));
    assert!(
        !to_team.contains("b-later"),
        "another group's host stays out"
    );
    assert!(
        subject(to_team).contains("2 certificates expiring, soonest: 4 days left"),
        "{}",
        subject(to_team)
    );
    let to_ops = messages
        .iter()
        .find(|m| !m.contains("esync-team"))
        .expect("the other digest");
    assert!(to_ops.contains("b-later.example.test"));
    // Later the same day: no second digest.
    h.at(T0 + 10 * 3600);
    h.tick().await;
    assert_eq!(smtp.messages().len(), 2);
}

#[tokio::test]
async fn smtp_down_means_retried_and_delivered_once_when_it_is_back() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let h = Harness::new(port, "off").await;
    let (agent, host) = h.host("esync01", &[], T0).await;
    h.inventory(
        &agent,
        host,
        &[("esync.example.test", T0 + 10 * DAY)],
        vec![],
    )
    .await;
    assert_eq!(h.tick().await, 0, "nothing listens yet");
    let outbox = h.state.store.outbox(10).await.expect("outbox");
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].attempts, 1);
    assert!(
        outbox[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("could not be reached"),
        "{:?}",
        outbox[0].last_error
    );

    let smtp = listener(dir.path(), port);
    // Not yet due again.
    h.at(T0 + 5);
    assert_eq!(h.tick().await, 0);
    h.at(T0 + 31);
    assert_eq!(h.tick().await, 1);
    h.at(T0 + 3600);
    assert_eq!(h.tick().await, 0);
    assert_eq!(smtp.messages().len(), 1);
}

#[tokio::test]
async fn error_findings_and_silent_agents_alert_at_once_and_again_after_a_fix() {
    let dir = tempfile::tempdir().expect("dir");
    let smtp = listener(dir.path(), free_port());
    let mut h = Harness::new(smtp.port, "off").await;
    h.settings.offline_after_minutes = 30;
    let (agent, host) = h.host("esync01", &[], T0).await;
    let mismatch = Finding {
        code: "served_mismatch".into(),
        severity: certfleet_proto::Severity::Error,
        message: "the live port serves another certificate: restart Apache".into(),
        certificate: None,
    };
    let far = T0 + 300 * DAY;
    h.inventory(
        &agent,
        host,
        &[("esync.example.test", far)],
        vec![mismatch.clone()],
    )
    .await;
    h.tick().await;
    h.tick().await;
    assert_eq!(smtp.messages().len(), 1);
    assert!(subject(&smtp.messages()[0]).contains("served_mismatch"));
    assert!(
        smtp.messages()[0].contains("restart Apache"),
        "the fix text"
    );
    // Fixed, then broken again: a second alert.
    h.inventory(&agent, host, &[("esync.example.test", far)], vec![])
        .await;
    h.at(T0 + 60);
    h.tick().await;
    h.at(T0 + 120);
    h.inventory(&agent, host, &[("esync.example.test", far)], vec![mismatch])
        .await;
    h.tick().await;
    assert_eq!(smtp.messages().len(), 2);

    // Silent for longer than 30 minutes: one email for this silence.
    h.at(T0 + 31 * 60);
    h.tick().await;
    h.at(T0 + 90 * 60);
    h.tick().await;
    let messages = smtp.messages();
    assert_eq!(messages.len(), 3);
    // Maildir names do not sort by arrival within a second: find it by subject.
    let offline = messages
        .iter()
        .filter(|m| subject(m).contains("agent offline: esync01"))
        .count();
    assert_eq!(offline, 1, "{messages:#?}");
}

#[tokio::test]
async fn bad_smtp_settings_say_what_is_wrong() {
    let h = Harness::new(free_port(), "off").await;
    let mut settings = h.settings.clone();
    certfleet_server::alerts::save(&h.state.alerts(), &settings, None)
        .await
        .expect("valid settings");
    let err = alerts::test_email(&h.state.alerts(), "ops@example.test")
        .await
        .unwrap_err();
    assert!(err.contains("refused or could not be reached"), "{err}");
    settings.smtp.from = "not an address".into();
    let err = certfleet_server::alerts::save(&h.state.alerts(), &settings, None)
        .await
        .unwrap_err();
    assert!(err.contains("not an email address"), "{err}");
    settings.smtp.from = "certfleet@example.test".into();
    settings.digest_at = "8 o'clock".into();
    let err = certfleet_server::alerts::save(&h.state.alerts(), &settings, None)
        .await
        .unwrap_err();
    assert!(err.contains("HH:MM"), "{err}");
    // A saved password is sealed, and used.
    settings.digest_at = "off".into();
    certfleet_server::alerts::save(&h.state.alerts(), &settings, Some("s3cret-smtp"))
        .await
        .expect("save");
    let stored = h
        .state
        .store
        .setting("alerts.smtp_password")
        .await
        .expect("q")
        .expect("stored");
    assert!(!stored.contains("s3cret"), "sealed at rest");
    let effective = alerts::effective(&h.state.alerts()).await;
    assert_eq!(
        alerts::password(&h.state.alerts(), &effective)
            .await
            .as_deref()
            .map(String::as_str),
        Some("s3cret-smtp")
    );
}

#[tokio::test]
async fn a_changed_smtp_host_drops_the_saved_password() {
    let h = Harness::new(free_port(), "off").await;
    let alerts_ = h.state.alerts();
    let mut settings = h.settings.clone();
    certfleet_server::alerts::save(&alerts_, &settings, Some("s3cret-smtp"))
        .await
        .expect("save");
    // Saved again unchanged, without the password: it stays.
    certfleet_server::alerts::save(&alerts_, &settings, None)
        .await
        .expect("save");
    let effective = alerts::effective(&alerts_).await;
    assert!(alerts::password(&alerts_, &effective).await.is_some());
    // Another relay: the password is not carried over to it.
    settings.smtp.host = "relay.elsewhere.example".into();
    certfleet_server::alerts::save(&alerts_, &settings, None)
        .await
        .expect("save");
    assert!(
        h.state
            .store
            .setting("alerts.smtp_password")
            .await
            .expect("q")
            .is_none(),
        "cleared"
    );
    let effective = alerts::effective(&alerts_).await;
    assert!(alerts::password(&alerts_, &effective).await.is_none());
    // Given again with the change, it is kept for the new relay.
    settings.smtp.port += 1;
    certfleet_server::alerts::save(&alerts_, &settings, Some("n3w-secret"))
        .await
        .expect("save");
    let effective = alerts::effective(&alerts_).await;
    assert_eq!(
        alerts::password(&alerts_, &effective)
            .await
            .as_deref()
            .map(String::as_str),
        Some("n3w-secret")
    );
}

#[tokio::test]
async fn a_test_email_reports_the_servers_answer() {
    let dir = tempfile::tempdir().expect("dir");
    let smtp = listener(dir.path(), free_port());
    let h = Harness::new(smtp.port, "off").await;
    certfleet_server::alerts::save(&h.state.alerts(), &h.settings, None)
        .await
        .expect("save");
    let answer = alerts::test_email(&h.state.alerts(), "someone@example.test")
        .await
        .expect("sent");
    assert!(answer.starts_with("250"), "{answer}");
    assert_eq!(smtp.messages().len(), 1);
    assert!(subject(&smtp.messages()[0]).contains("test email"));
    // Rendered like every alert: the renderer's footer is there.
    assert!(
        smtp.messages()[0].contains("-- certfleet"),
        "{}",
        smtp.messages()[0]
    );
}

#[tokio::test]
async fn a_hosts_new_findings_come_in_one_email_each_with_its_fix() {
    let dir = tempfile::tempdir().expect("dir");
    let smtp = listener(dir.path(), free_port());
    let h = Harness::new(smtp.port, "off").await;
    let (agent, host) = h.host("esync01", &[], T0).await;
    let finding = |code: &str, fix: &str| Finding {
        code: code.into(),
        severity: certfleet_proto::Severity::Error,
        message: fix.into(),
        certificate: None,
    };
    h.inventory(
        &agent,
        host,
        &[("esync.example.test", T0 + 300 * DAY)],
        vec![
            finding(
                "name_not_covered",
                "get a certificate that names esync.example.test",
            ),
            finding("weak_rsa_key", "use a key of at least 2048 bits"),
        ],
    )
    .await;
    h.tick().await;
    h.tick().await;
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert!(
        subject(&messages[0]).contains("2 problems on esync01: name_not_covered, weak_rsa_key"),
        "{}",
        subject(&messages[0])
    );
    assert!(messages[0].contains("names esync.example.test"));
    assert!(messages[0].contains("at least 2048 bits"));
}

#[tokio::test]
async fn a_client_that_does_not_trust_a_server_alerts_once_per_loss_of_trust() {
    use certfleet_proto::{Inventory, Revocation, Snapshot, TrustCheck, TrustOrigin, TrustVerdict};
    let dir = tempfile::tempdir().expect("dir");
    let smtp = listener(dir.path(), free_port());
    let h = Harness::new(smtp.port, "off").await;
    let (agent, host) = h.host("bpa01", &[], T0).await;
    let report = |verdict: TrustVerdict, at: i64| {
        let store = h.state.store.clone();
        let agent = agent.clone();
        async move {
            let check = TrustCheck {
                endpoint: "sage01.example.test:4207".into(),
                server_name: "sage01.example.test".into(),
                origin: TrustOrigin::Config,
                verdict,
                reason: "no root in the bundle closes the chain: trust its CA".into(),
                chain: vec![],
                store: "/etc/ssl/certs/ca-certificates.crt".into(),
                revocation: Revocation::NotChecked,
            };
            let snapshot = Snapshot {
                trust: vec![check],
                ..Snapshot::default()
            };
            store
                .ingest_inventory(&agent, host, &Inventory::of(snapshot), at)
                .await
                .expect("ingest");
        }
    };
    report(TrustVerdict::Trusted, T0).await;
    h.tick().await;
    assert!(smtp.messages().is_empty(), "trusted: nothing to say");

    report(TrustVerdict::UnknownRoot, T0 + 60).await;
    h.at(T0 + 60);
    h.tick().await;
    h.at(T0 + 120);
    h.tick().await;
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert!(
        subject(&messages[0]).contains("bpa01 does not trust sage01.example.test"),
        "{}",
        subject(&messages[0])
    );
    assert!(messages[0].contains("trust its CA"), "the reason travels");

    // Trusted again, then lost again: a second email.
    report(TrustVerdict::Trusted, T0 + 180).await;
    h.at(T0 + 180);
    h.tick().await;
    report(TrustVerdict::UnknownRoot, T0 + 240).await;
    h.at(T0 + 240);
    h.tick().await;
    assert_eq!(smtp.messages().len(), 2);
    // An unreachable server is the server's own alert, not the client's.
    report(TrustVerdict::Unreachable, T0 + 300).await;
    h.at(T0 + 300);
    h.tick().await;
    assert_eq!(smtp.messages().len(), 2);
}

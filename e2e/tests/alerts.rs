//! Alert emails end to end: a console configured through its environment, an agent watching
//! a real Apache whose certificate is inside the 30-day window, and a real SMTP server that
//! is down at first. The email waits in the outbox, survives a console crash, arrives once
//! when SMTP is back, and a further restart sends nothing again.

use std::time::Duration;

use certfleet_e2e::apache::Apache;
use certfleet_e2e::api::Api;
use certfleet_e2e::pki::TestCa;
use certfleet_e2e::smtp::{SmtpListener, header, subject};
use certfleet_e2e::{Agent, Console, free_port, wait_for};
use serde_json::Value;

fn outbox(api: &Api) -> Option<Vec<Value>> {
    let reply = api.get("/api/v1/alerts/outbox").ok()?;
    (reply.status == 200).then(|| reply.body.as_array().cloned().unwrap_or_default())
}

#[test]
fn an_expiring_certificate_is_mailed_once_across_smtp_outages_and_console_crashes()
-> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let ca = TestCa::new("Test eSync CA");
    let expiring = ca.server(&["esync.example.test"], 20);
    let _apache = Apache::start(
        &temp.path().join("apache"),
        free_port()?,
        "esync.example.test",
        &expiring,
        &ca.pem,
    )?;
    let smtp_port = free_port()?.to_string();
    let mut console = Console::start_with_env(
        &temp.path().join("console"),
        &[
            ("CERTFLEET_ALERTS__SMTP__HOST", "127.0.0.1"),
            ("CERTFLEET_ALERTS__SMTP__PORT", &smtp_port),
            ("CERTFLEET_ALERTS__SMTP__SECURITY", "none"),
            ("CERTFLEET_ALERTS__SMTP__FROM", "certfleet@example.test"),
            ("CERTFLEET_ALERTS__RECIPIENTS", r#"["ops@example.test"]"#),
            ("CERTFLEET_ALERTS__DIGEST_AT", "off"),
            ("CERTFLEET_ALERTS__CHECK_SECS", "1"),
            ("CERTFLEET_ALERTS__SEND_SECS", "1"),
            (
                "CERTFLEET_ALERTS__BASE_URL",
                "https://console.example.test:8443",
            ),
        ],
    )?;
    let api = Api::admin(&console)?;
    let agent_config = format!(
        "rescan_secs = 2\n[[apache]]\nconfig = \"{}\"\n",
        _apache.config_path().display()
    );
    let _agent = Agent::start(&console, &temp.path().join("agent"), &agent_config)?;

    // Nothing listens for SMTP yet: the email is queued and its first try fails.
    let queued = wait_for("a failed first try", Duration::from_secs(60), || {
        let rows = outbox(&api)?;
        rows.iter()
            .any(|r| r["attempts"].as_i64() >= Some(1))
            .then_some(rows)
    })?;
    assert_eq!(queued.len(), 1, "{queued:#?}");
    assert!(queued[0]["sent_at"].is_null());
    let error = queued[0]["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("refused or could not be reached"), "{error}");

    // The console crashes with the email still unsent; SMTP comes back; the console restarts.
    console.kill();
    let smtp = SmtpListener::start(temp.path(), smtp_port.parse()?)?;
    console.restart()?;
    let messages = wait_for("the email", Duration::from_secs(90), || {
        let m = smtp.messages();
        (!m.is_empty()).then_some(m)
    })?;
    let message = &messages[0];
    let subject = subject(message);
    assert!(
        subject.contains("1 certificate expiring, soonest: 19 days left")
            || subject.contains("1 certificate expiring, soonest: 20 days left"),
        "{subject}"
    );
    assert!(message.contains("To: ops@example.test"), "{message}");
    assert!(
        message.contains("esync.example.test"),
        "the certificate's name"
    );
    assert!(
        message.contains("https://console.example.test:8443/certificates/"),
        "a link to the certificate: {message}"
    );
    let message_id = header(message, "Message-ID").unwrap_or_default();
    assert!(message_id.ends_with("@certfleet>"), "{message_id}");
    let sent = wait_for("the outbox to say sent", Duration::from_secs(10), || {
        let rows = outbox(&api)?;
        rows.iter().all(|r| r["sent_at"].is_i64()).then_some(rows)
    })?;
    assert_eq!(sent.len(), 1);

    // Another restart, a few check rounds with the agent back: still one email.
    console.restart()?;
    wait_for("the agent connected again", Duration::from_secs(30), || {
        let reply = api.get("/api/v1/agents").ok()?;
        reply
            .body
            .as_array()?
            .iter()
            .any(|a| a["connected"] == Value::Bool(true))
            .then_some(())
    })?;
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(smtp.messages().len(), 1, "{:#?}", smtp.messages());
    assert_eq!(outbox(&api).map(|r| r.len()), Some(1));
    Ok(())
}

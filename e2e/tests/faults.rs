//! The fault matrix (RELIABILITY.md): real console, agent and Apache processes on loopback,
//! one fault per test. The agent SIGKILLed at each step of a deploy — held there by
//! `CERTFLEET_PAUSE_AT`, so the kill lands at the exact step — and started again: each
//! ends with the target rolled back (or, past verification, verified), the certificate a
//! TLS handshake sees the expected one, the file on disk the same, and the reason on the
//! rollout. The console SIGKILLed while an agent is at a step: the rollout still ends
//! verified, the job not sent twice.

use std::net::SocketAddr;
use std::time::Duration;

use certfleet_e2e::apache::Apache;
use certfleet_e2e::api::{Api, served_sha256};
use certfleet_e2e::pki::TestCa;
use certfleet_e2e::{Agent, Console, free_port, wait_for};
use serde_json::json;

const NAME: &str = "esync.example.test";

/// What the restarted agent must make of a deploy killed at a point.
enum Ends {
    /// Nothing live had changed: the target fails, the old certificate serves.
    Untouched,
    /// The live files had changed: they are put back, the old certificate serves.
    RolledBack,
    /// Verified before the kill: committed, the new certificate serves.
    Verified,
}

fn agent_killed_at(point: &str, live_before_kill: bool, ends: Ends) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let ca = TestCa::new("Fault CA");
    let old = ca.server(&[NAME], 20);
    let console = Console::start(&temp.path().join("console"))?;
    let api = Api::admin(&console)?;
    let apache = Apache::start(
        &temp.path().join("apache"),
        free_port()?,
        NAME,
        &old,
        &ca.pem,
    )?;
    let address = SocketAddr::from(([127, 0, 0, 1], apache.port));
    let agent_dir = temp.path().join("agent");
    let mut agent = Agent::start_with(
        &console,
        &agent_dir,
        &apache.agent_config(None),
        &[("CERTFLEET_PAUSE_AT", point)],
    )?;
    wait_for("the endpoint", Duration::from_secs(30), || {
        let hosts = api.get("/api/v1/hosts").ok()?.body;
        (hosts.as_array()?.len() == 1).then_some(())
    })?;

    let new = ca.server(&[NAME], 365);
    let renewal = api.upload_renewal(&ca, &new)?;
    let id = api
        .post("/api/v1/rollouts", json!({"renewal_id": renewal}))?
        .body["id"]
        .as_i64()
        .unwrap_or_default();
    let paused = format!("deploy paused at {point}");
    wait_for(&paused, Duration::from_secs(30), || {
        agent.log_text().contains(&paused).then_some(())
    })
    .map_err(|e| anyhow::anyhow!("{e}\n{}", agent.log_text()))?;
    // Where the deploy was held: the new certificate already on the wire (a graceful
    // restart takes a moment), or not yet.
    if live_before_kill {
        wait_for(
            "the restarted Apache to serve the new certificate",
            Duration::from_secs(15),
            || (served_sha256(address, NAME, &ca.pem).ok()? == new.sha256).then_some(()),
        )?;
    } else {
        assert_eq!(
            served_sha256(address, NAME, &ca.pem)?,
            old.sha256,
            "at {point}"
        );
    }
    let first_log = agent.log_text();
    agent.kill();
    let agent = Agent::run(&agent_dir)?;

    let done = api
        .wait_for_rollout(id, &["succeeded", "failed"], 90)
        .map_err(|e| {
            anyhow::anyhow!(
                "{e}\nconsole:\n{}\nagent before the kill:\n{first_log}\nafter:\n{}",
                console.log_text(),
                agent.log_text()
            )
        })?;
    let target = &done["targets"][0];
    let detail = target["detail"].as_str().unwrap_or_default();
    let (state, reason, serves) = match ends {
        Ends::Untouched => ("failed", "stopped before it changed anything", &old),
        Ends::RolledBack => ("rolled_back", "stopped mid-deployment", &old),
        Ends::Verified => ("verified", "serves the new certificate", &new),
    };
    assert_eq!(target["state"], state, "{done}");
    assert!(detail.contains(reason), "{done}");
    assert_eq!(
        done["state"],
        if matches!(ends, Ends::Verified) {
            "succeeded"
        } else {
            "failed"
        },
        "{done}"
    );
    assert_eq!(
        std::fs::read_to_string(apache.cert_path())?,
        serves.cert_pem
    );
    wait_for(
        "the expected certificate on the wire",
        Duration::from_secs(20),
        || (served_sha256(address, NAME, &ca.pem).ok()? == serves.sha256).then_some(()),
    )?;
    Ok(())
}

#[test]
fn agent_killed_after_journal() -> anyhow::Result<()> {
    agent_killed_at("after_journal", false, Ends::Untouched)
}

#[test]
fn agent_killed_after_stage() -> anyhow::Result<()> {
    agent_killed_at("after_stage", false, Ends::Untouched)
}

#[test]
fn agent_killed_after_replace() -> anyhow::Result<()> {
    agent_killed_at("after_replace", false, Ends::RolledBack)
}

#[test]
fn agent_killed_after_restart() -> anyhow::Result<()> {
    agent_killed_at("after_restart", true, Ends::RolledBack)
}

#[test]
fn agent_killed_during_verify() -> anyhow::Result<()> {
    agent_killed_at("during_verify", true, Ends::RolledBack)
}

#[test]
fn agent_killed_after_verify() -> anyhow::Result<()> {
    agent_killed_at("after_verify", true, Ends::Verified)
}

/// The console SIGKILLed while the agent's deploy is at `point` (held there `hold` seconds),
/// and started again either at once (`early`: the agent finishes while it is back) or after
/// the agent finished (its result waits in the agent's journal): the rollout succeeds, the
/// new certificate is served, and nothing runs twice.
fn console_killed_while_agent_at(point: &str, early: bool) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let ca = TestCa::new("Fault CA");
    let old = ca.server(&[NAME], 20);
    let mut console = Console::start(&temp.path().join("console"))?;
    let api = Api::admin(&console)?;
    let apache = Apache::start(
        &temp.path().join("apache"),
        free_port()?,
        NAME,
        &old,
        &ca.pem,
    )?;
    let address = SocketAddr::from(([127, 0, 0, 1], apache.port));
    let hold = format!("{point}:4");
    let agent = Agent::start_with(
        &console,
        &temp.path().join("agent"),
        &apache.agent_config(None),
        &[("CERTFLEET_PAUSE_AT", hold.as_str())],
    )?;
    wait_for("the endpoint", Duration::from_secs(30), || {
        let hosts = api.get("/api/v1/hosts").ok()?.body;
        (hosts.as_array()?.len() == 1).then_some(())
    })?;

    let new = ca.server(&[NAME], 365);
    let renewal = api.upload_renewal(&ca, &new)?;
    let id = api
        .post("/api/v1/rollouts", json!({"renewal_id": renewal}))?
        .body["id"]
        .as_i64()
        .unwrap_or_default();
    let paused = format!("deploy paused at {point}");
    wait_for(&paused, Duration::from_secs(30), || {
        agent.log_text().contains(&paused).then_some(())
    })
    .map_err(|e| anyhow::anyhow!("{e}\n{}", agent.log_text()))?;
    console.kill();
    if !early {
        wait_for("the agent to finish alone", Duration::from_secs(30), || {
            (served_sha256(address, NAME, &ca.pem).ok()? == new.sha256).then_some(())
        })?;
    }
    console.restart()?;
    let done = api
        .wait_for_rollout(id, &["succeeded", "failed"], 90)
        .map_err(|e| {
            anyhow::anyhow!(
                "{e}\nconsole:\n{}\nagent:\n{}",
                console.log_text(),
                agent.log_text()
            )
        })?;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["targets"][0]["state"], "verified", "{done}");
    assert_eq!(served_sha256(address, NAME, &ca.pem)?, new.sha256);
    // One deploy: the job was not sent again after the console's restart.
    assert_eq!(
        agent.log_text().matches(&paused).count(),
        1,
        "{}",
        agent.log_text()
    );
    Ok(())
}

#[test]
fn console_killed_while_the_agent_starts_a_deploy() -> anyhow::Result<()> {
    console_killed_while_agent_at("after_journal", false)
}

#[test]
fn console_killed_and_back_while_the_agent_replaces_files() -> anyhow::Result<()> {
    console_killed_while_agent_at("after_replace", true)
}

#[test]
fn console_killed_while_the_agent_verifies() -> anyhow::Result<()> {
    console_killed_while_agent_at("during_verify", false)
}

//! Rollouts for real: two Debian apache2 instances on loopback, each watched by its own
//! agent process, one console process. An independent TLS client (trusting only the test
//! CA) checks what each port serves.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use certfleet_e2e::apache::Apache;
use certfleet_e2e::api::{Api, served_sha256};
use certfleet_e2e::pki::{ServerCert, TestCa};
use certfleet_e2e::{Agent, Console, free_port, wait_for};
use serde_json::{Value, json};

const NAME: &str = "esync.example.test";

struct Site {
    apache: Apache,
    agent: Agent,
}

impl Site {
    fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.apache.port))
    }
}

fn site(
    console: &Console,
    dir: &Path,
    ca: &TestCa,
    old: &ServerCert,
    restart: Option<Vec<String>>,
) -> anyhow::Result<Site> {
    let apache = Apache::start(&dir.join("apache"), free_port()?, NAME, old, &ca.pem)?;
    let agent = Agent::start(console, &dir.join("agent"), &apache.agent_config(restart))?;
    Ok(Site { apache, agent })
}

/// The sites here share one certificate: the first host to report it owns its name, and an
/// operator accepts each other host's endpoint once before a renewal goes to it.
fn accept_shared_sites(api: &Api, renewal: i64) -> anyhow::Result<usize> {
    let plan = api.get(&format!("/api/v1/renewals/{renewal}/plan"))?.body;
    let mut accepted = 0;
    for p in plan.as_array().cloned().unwrap_or_default() {
        if p["contested_by"].is_string() {
            let reply = api.post(
                &format!("/api/v1/hosts/{}/endpoints/accept", p["host_id"]),
                json!({"endpoint_key": p["endpoint_key"]}),
            )?;
            anyhow::ensure!(reply.status == 200, "accept: {}", reply.body);
            accepted += 1;
        }
    }
    Ok(accepted)
}

fn wait_for_endpoints(api: &Api, n: usize) -> anyhow::Result<()> {
    wait_for(
        "every endpoint in the inventory",
        Duration::from_secs(30),
        || {
            let hosts = api.get("/api/v1/hosts").ok()?.body;
            (hosts.as_array()?.len() == n).then_some(())
        },
    )?;
    Ok(())
}

fn logs(console: &Console, sites: &[&Site]) -> String {
    let mut text = format!("console log:\n{}", console.log_text());
    for s in sites {
        text.push_str(&format!("\nagent log:\n{}", s.agent.log_text()));
    }
    text
}

#[test]
fn one_click_renews_both_apaches_and_each_serves_the_new_certificate() -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let ca = TestCa::new("Rollout CA");
    let old = ca.server(&[NAME], 20);
    let console = Console::start(&temp.path().join("console"))?;
    let api = Api::admin(&console)?;
    let one = site(&console, &temp.path().join("one"), &ca, &old, None)?;
    let two = site(&console, &temp.path().join("two"), &ca, &old, None)?;
    wait_for_endpoints(&api, 2)?;
    assert_eq!(served_sha256(one.address(), NAME, &ca.pem)?, old.sha256);

    // A renewal whose key does not match is refused at upload.
    let new = ca.server(&[NAME], 365);
    let other = ca.server(&[NAME], 365);
    let refused = api.post(
        "/api/v1/renewals",
        json!({"certificate_pem": new.cert_pem, "key_pem": other.key_pem, "chain_pem": ca.pem}),
    )?;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.to_string().contains("key_mismatch"));

    let renewal = api.upload_renewal(&ca, &new)?;
    assert_eq!(accept_shared_sites(&api, renewal)?, 1);
    let plan = api.get(&format!("/api/v1/renewals/{renewal}/plan"))?.body;
    let proposed: Vec<&Value> = plan
        .as_array()
        .map(|a| a.iter().filter(|p| p["proposed"] == true).collect())
        .unwrap_or_default();
    assert_eq!(proposed.len(), 2, "{plan}");
    assert!(
        proposed.iter().all(|p| p["problems"] == json!([])),
        "{plan}"
    );

    // The hosts' own preflight, before anything runs: both pass, nothing changes.
    let checks = api.post(&format!("/api/v1/renewals/{renewal}/preflight"), json!({}))?;
    assert_eq!(checks.status, 200, "{}", checks.body);
    let verdicts: Vec<&str> = checks
        .body
        .as_array()
        .map(|a| a.iter().filter_map(|v| v["verdict"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(verdicts, ["passed", "passed"], "{}", checks.body);
    assert_eq!(served_sha256(one.address(), NAME, &ca.pem)?, old.sha256);

    let created = api.post("/api/v1/rollouts", json!({"renewal_id": renewal}))?;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_i64().unwrap_or_default();
    let done = api
        .wait_for_rollout(id, &["succeeded", "failed"], 90)
        .map_err(|e| anyhow::anyhow!("{e}\n{}", logs(&console, &[&one, &two])))?;
    assert_eq!(
        done["state"],
        "succeeded",
        "{done}\n{}",
        logs(&console, &[&one, &two])
    );
    let targets = done["targets"].as_array().cloned().unwrap_or_default();
    assert_eq!(targets.len(), 2);
    assert!(targets.iter().all(|t| t["state"] == "verified"), "{done}");
    assert_eq!(targets[0]["wave"], 0, "the canary first");
    assert_eq!(targets[1]["wave"], 1);
    for s in [&one, &two] {
        assert_eq!(served_sha256(s.address(), NAME, &ca.pem)?, new.sha256);
    }
    // The inventory follows: both endpoints now use the renewal.
    wait_for(
        "the inventory to show the renewal",
        Duration::from_secs(30),
        || {
            let body = api
                .get(&format!("/api/v1/certificates/{}", new.sha256))
                .ok()?
                .body;
            (body["endpoint_details"].as_array()?.len() == 2).then_some(())
        },
    )?;
    let audit = api.get("/api/v1/audit?limit=200")?.body.to_string();
    for action in [
        "renewal.uploaded",
        "renewal.refused",
        "rollout.created",
        "rollout.started",
        "rollout.target_verified",
        "rollout.succeeded",
    ] {
        assert!(
            audit.contains(action),
            "{action} missing from the audit log"
        );
    }
    Ok(())
}

#[test]
fn a_renewal_that_is_not_served_after_the_restart_is_rolled_back_and_the_rollout_stops()
-> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let ca = TestCa::new("Rollout CA");
    let old = ca.server(&[NAME], 20);
    let console = Console::start(&temp.path().join("console"))?;
    let api = Api::admin(&console)?;
    // The canary's restart command is wrong (it does not reload Apache): the files change,
    // the port keeps serving the old certificate, verification fails.
    let canary = site(
        &console,
        &temp.path().join("a-canary"),
        &ca,
        &old,
        Some(vec!["true".into()]),
    )?;
    let other = site(&console, &temp.path().join("b-other"), &ca, &old, None)?;
    wait_for_endpoints(&api, 2)?;
    let hosts = api.get("/api/v1/hosts")?.body;
    let canary_id = canary.agent.id()?;
    let canary_host = hosts
        .as_array()
        .and_then(|h| h.iter().find(|h| h["agent_id"] == canary_id.as_str()))
        .and_then(|h| h["id"].as_i64())
        .ok_or_else(|| anyhow::anyhow!("canary host not listed: {hosts}"))?;

    let new = ca.server(&[NAME], 365);
    let renewal = api.upload_renewal(&ca, &new)?;
    assert_eq!(accept_shared_sites(&api, renewal)?, 1);
    let created = api.post(
        "/api/v1/rollouts",
        json!({"renewal_id": renewal, "canary_host_id": canary_host}),
    )?;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_i64().unwrap_or_default();
    let done = api
        .wait_for_rollout(id, &["succeeded", "failed"], 120)
        .map_err(|e| anyhow::anyhow!("{e}\n{}", logs(&console, &[&canary, &other])))?;
    assert_eq!(done["state"], "failed", "{done}");
    assert!(
        done["detail"].as_str().unwrap_or("").contains("stopped"),
        "{done}"
    );
    let targets = done["targets"].as_array().cloned().unwrap_or_default();
    let canary_target = targets.iter().find(|t| t["wave"] == 0).expect("canary");
    let other_target = targets.iter().find(|t| t["wave"] == 1).expect("other");
    assert_eq!(canary_target["state"], "rolled_back", "{done}");
    let reason = canary_target["detail"].as_str().unwrap_or("");
    assert!(
        reason.contains("did not serve the new certificate"),
        "{reason}"
    );
    assert!(
        reason.contains("serves the old certificate again"),
        "{reason}"
    );
    assert_eq!(
        other_target["state"], "cancelled",
        "the rollout stopped after the canary"
    );
    // Both still serve the old certificate; the canary's files are the old ones again.
    for s in [&canary, &other] {
        assert_eq!(served_sha256(s.address(), NAME, &ca.pem)?, old.sha256);
    }
    assert_eq!(
        std::fs::read_to_string(canary.apache.cert_path())?,
        old.cert_pem
    );
    Ok(())
}

/// A restart that takes a while (as a real service restart does), so a test can kill a
/// process in the middle of it.
fn slow_restart(apache: &Apache, secs: u32) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!(
            "sleep {secs}; exec /usr/sbin/apache2 -f '{}' -k graceful",
            apache.config_path().display()
        ),
    ]
}

fn target_step(api: &Api, id: i64, wave: i64) -> Option<(String, String)> {
    let body = api.get(&format!("/api/v1/rollouts/{id}")).ok()?.body;
    let t = body["targets"]
        .as_array()?
        .iter()
        .find(|t| t["wave"] == wave)?
        .clone();
    Some((
        t["state"].as_str()?.to_owned(),
        t["step"].as_str().unwrap_or("").to_owned(),
    ))
}

#[test]
fn a_console_killed_mid_rollout_finishes_it_after_its_restart() -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let ca = TestCa::new("Rollout CA");
    let old = ca.server(&[NAME], 20);
    let mut console = Console::start(&temp.path().join("console"))?;
    let api = Api::admin(&console)?;
    let apache_dir = temp.path().join("a").join("apache");
    let apache = Apache::start(&apache_dir, free_port()?, NAME, &old, &ca.pem)?;
    let agent = Agent::start(
        &console,
        &temp.path().join("a").join("agent"),
        &apache.agent_config(Some(slow_restart(&apache, 4))),
    )?;
    let one = Site { apache, agent };
    let two = site(&console, &temp.path().join("b"), &ca, &old, None)?;
    wait_for_endpoints(&api, 2)?;
    let hosts = api.get("/api/v1/hosts")?.body;
    let first_id = one.agent.id()?;
    let first_host = hosts
        .as_array()
        .and_then(|h| h.iter().find(|h| h["agent_id"] == first_id.as_str()))
        .and_then(|h| h["id"].as_i64())
        .unwrap_or_default();

    let new = ca.server(&[NAME], 365);
    let renewal = api.upload_renewal(&ca, &new)?;
    assert_eq!(accept_shared_sites(&api, renewal)?, 1);
    let id = api
        .post(
            "/api/v1/rollouts",
            json!({"renewal_id": renewal, "canary_host_id": first_host}),
        )?
        .body["id"]
        .as_i64()
        .unwrap_or_default();
    wait_for(
        "the canary to restart Apache",
        Duration::from_secs(30),
        || {
            let (_, step) = target_step(&api, id, 0)?;
            step.starts_with("restart").then_some(())
        },
    )?;
    console.kill();
    // The canary finishes while the console is down; its result waits in the agent.
    wait_for(
        "the canary to serve the renewal",
        Duration::from_secs(30),
        || (served_sha256(one.address(), NAME, &ca.pem).ok()? == new.sha256).then_some(()),
    )?;
    console.restart()?;
    // The session survives the restart (its key is in the data folder).
    let done = api
        .wait_for_rollout(id, &["succeeded", "failed"], 90)
        .map_err(|e| anyhow::anyhow!("{e}\n{}", logs(&console, &[&one, &two])))?;
    assert_eq!(done["state"], "succeeded", "{done}");
    for s in [&one, &two] {
        assert_eq!(served_sha256(s.address(), NAME, &ca.pem)?, new.sha256);
    }
    Ok(())
}

#[test]
fn an_agent_killed_mid_apply_ends_rolled_back_at_its_next_start() -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let ca = TestCa::new("Rollout CA");
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
    let agent_dir = temp.path().join("agent");
    let agent = Agent::start(
        &console,
        &agent_dir,
        &apache.agent_config(Some(slow_restart(&apache, 3))),
    )?;
    let mut s = Site { apache, agent };
    wait_for_endpoints(&api, 1)?;

    let new = ca.server(&[NAME], 365);
    let renewal = api.upload_renewal(&ca, &new)?;
    let id = api
        .post("/api/v1/rollouts", json!({"renewal_id": renewal}))?
        .body["id"]
        .as_i64()
        .unwrap_or_default();
    wait_for(
        "the agent to restart Apache",
        Duration::from_secs(30),
        || {
            let (_, step) = target_step(&api, id, 0)?;
            step.starts_with("restart").then_some(())
        },
    )?;
    // Killed hard in the middle of the restart: the new files are in place, nothing is
    // verified. At its next start the journal puts the old files back and restarts.
    s.agent.kill();
    s.agent = Agent::run(&agent_dir)?;
    let done = api
        .wait_for_rollout(id, &["succeeded", "failed"], 90)
        .map_err(|e| anyhow::anyhow!("{e}\n{}", logs(&console, &[&s])))?;
    let target = &done["targets"][0];
    assert_eq!(target["state"], "rolled_back", "{done}");
    assert!(
        target["detail"]
            .as_str()
            .unwrap_or("")
            .contains("stopped mid-deployment"),
        "{done}"
    );
    assert_eq!(std::fs::read_to_string(s.apache.cert_path())?, old.cert_pem);
    wait_for(
        "the old certificate served again",
        Duration::from_secs(20),
        || (served_sha256(s.address(), NAME, &ca.pem).ok()? == old.sha256).then_some(()),
    )?;
    Ok(())
}

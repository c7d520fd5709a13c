//! The fault matrix (RELIABILITY.md): real console, agent and Apache processes on loopback,
//! one fault per test. The agent SIGKILLed at each step of a deploy — held there by
//! `CERTFLEET_PAUSE_AT`, so the kill lands at the exact step — and started again: each
//! ends with the target rolled back (or, past verification, verified), the certificate a
//! TLS handshake sees the expected one, the file on disk the same, and the reason on the
//! rollout. The console SIGKILLed while an agent is at a step: the rollout still ends
//! verified, the job not sent twice. The console SIGKILLed with a rollout scheduled, then
//! paused: the state survives, nothing is sent while it holds. The host's own failures —
//! a hung restart, a full disk, the network cut — are in `host`.

mod host;

use certfleet_e2e::Agent;
use certfleet_e2e::held::HeldDeploy;

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
    let mut scene = HeldDeploy::start(point)?;
    // Where the deploy was held: the new certificate already on the wire (a graceful
    // restart takes a moment), or not yet.
    if live_before_kill {
        scene.wait_served("the restarted Apache to serve the renewal", &scene.new, 15)?;
    } else {
        assert_eq!(scene.served()?, scene.old.sha256, "at {point}");
    }
    let first_log = scene.agent.log_text();
    scene.agent.kill();
    scene.agent = Agent::run(&scene.agent_dir)?;

    let done = scene
        .api
        .wait_for_rollout(scene.rollout, &["succeeded", "failed"], 90)
        .map_err(|e| {
            anyhow::anyhow!(
                "{e}\nconsole:\n{}\nagent before the kill:\n{first_log}\nafter:\n{}",
                scene.console.log_text(),
                scene.agent.log_text()
            )
        })?;
    let target = &done["targets"][0];
    let detail = target["detail"].as_str().unwrap_or_default();
    let (state, reason, serves) = match ends {
        Ends::Untouched => ("failed", "stopped before it changed anything", &scene.old),
        Ends::RolledBack => ("rolled_back", "stopped mid-deployment", &scene.old),
        Ends::Verified => ("verified", "serves the new certificate", &scene.new),
    };
    assert_eq!(target["state"], state, "{done}");
    assert!(detail.contains(reason), "{done}");
    let rollout = if matches!(ends, Ends::Verified) {
        "succeeded"
    } else {
        "failed"
    };
    assert_eq!(done["state"], rollout, "{done}");
    assert_eq!(
        std::fs::read_to_string(scene.apache.cert_path())?,
        serves.cert_pem
    );
    scene.wait_served("the expected certificate on the wire", serves, 20)
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

/// The console SIGKILLed while the agent's deploy is at `point` (held there 4 s), and
/// started again either at once (`early`: the agent finishes while it is back) or after the
/// agent finished (its result waits in the agent's journal): the rollout succeeds, the new
/// certificate is served, and nothing runs twice.
fn console_killed_while_agent_at(point: &str, early: bool) -> anyhow::Result<()> {
    let mut scene = HeldDeploy::start(&format!("{point}:4"))?;
    scene.console.kill();
    if !early {
        scene.wait_served("the agent to finish alone", &scene.new, 30)?;
    }
    scene.console.restart()?;
    let done = scene.outcome(90)?;
    // One deploy: the job was not sent again after the console's restart.
    scene.ends_verified_once(&done, point)
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

/// The console SIGKILLed with a rollout scheduled (its start 45 s ahead), then again with it
/// paused: each time it comes back in the same state, and paused it holds past its start
/// time — no job goes to the agent, the old certificate serves. Resumed, it ends verified,
/// deployed once.
#[test]
fn console_killed_with_a_rollout_scheduled_then_paused_keeps_it_so() -> anyhow::Result<()> {
    use std::time::{Duration, Instant};
    use time::format_description::well_known::Rfc3339;
    let starts = Instant::now() + Duration::from_secs(45);
    let start_at =
        (time::OffsetDateTime::now_utc() + time::Duration::seconds(45)).format(&Rfc3339)?;
    let mut scene = HeldDeploy::scheduled(serde_json::json!({ "start_at": start_at }))?;
    let state = |scene: &HeldDeploy| -> anyhow::Result<String> {
        let rollout = scene
            .api
            .get(&format!("/api/v1/rollouts/{}", scene.rollout))?
            .body;
        Ok(rollout["state"].as_str().unwrap_or_default().to_owned())
    };
    let control = |scene: &HeldDeploy, action: &str| -> anyhow::Result<()> {
        let path = format!("/api/v1/rollouts/{}/{action}", scene.rollout);
        let reply = scene.api.post(&path, serde_json::json!({}))?;
        anyhow::ensure!(reply.status == 200, "{action}: {}", reply.body);
        Ok(())
    };
    assert_eq!(state(&scene)?, "scheduled");
    scene.console.kill();
    scene.console.restart()?;
    assert_eq!(state(&scene)?, "scheduled", "{}", scene.console.log_text());

    control(&scene, "pause")?;
    scene.console.kill();
    scene.console.restart()?;
    assert_eq!(state(&scene)?, "paused", "{}", scene.console.log_text());
    // Past its start time, paused, it still holds.
    std::thread::sleep(starts.saturating_duration_since(Instant::now()) + Duration::from_secs(5));
    assert_eq!(state(&scene)?, "paused");
    assert_eq!(scene.served()?, scene.old.sha256);
    let log = scene.agent.log_text();
    assert!(!log.contains("deployment ended"), "{log}");

    control(&scene, "resume")?;
    let done = scene
        .api
        .wait_for_rollout(scene.rollout, &["succeeded", "failed"], 60)?;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["targets"][0]["state"], "verified", "{done}");
    assert_eq!(scene.served()?, scene.new.sha256);
    assert_eq!(
        scene.agent.log_text().matches("deployment ended").count(),
        1
    );
    Ok(())
}

/// Another writer holds the console's database (an admin's `sqlite3`, a copy tool) with a
/// write transaction for `secs` while the agent deploys and reports: the rollout still ends
/// verified, the renewal served, the job sent once. Past the console's busy timeout (5 s)
/// a progress write is refused and logged, and nothing is lost by it.
fn another_writer_holds_the_database(secs: u64) -> anyhow::Result<()> {
    use sqlx::Connection;
    let scene = HeldDeploy::start("after_stage:3")?;
    let database = scene.console.dir.join("data/certfleet.db");
    let runtime = certfleet_e2e::api::runtime();
    runtime.block_on(async {
        let mut other =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", database.display())).await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut other).await?;
        tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
        sqlx::query("COMMIT").execute(&mut other).await?;
        anyhow::Ok(())
    })?;
    let done = scene.outcome(90)?;
    scene.ends_verified_once(&done, "after_stage")?;
    // Within the console's 5 s busy timeout its writes wait; past it one is refused
    // ("database is locked", logged) and the agent's result, kept until taken, lands after.
    let console_log = scene.console.log_text();
    assert_eq!(
        console_log.contains("database is locked"),
        secs > 5,
        "{console_log}"
    );
    Ok(())
}

#[test]
fn sqlite_busy_within_the_timeout_under_another_writer() -> anyhow::Result<()> {
    another_writer_holds_the_database(3)
}

#[test]
fn sqlite_busy_past_the_timeout_under_another_writer() -> anyhow::Result<()> {
    another_writer_holds_the_database(12)
}

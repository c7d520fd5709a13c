//! Cells where the host fails under the deployment rather than a process dying: Apache's
//! restart hanging, the agent's or the console's disk full, the network between them cut.

use std::path::Path;
use std::time::Duration;

use certfleet_e2e::held::{HeldDeploy, LET_GO, Setup};
use certfleet_e2e::swarm::running;
use certfleet_e2e::{wait_for, wait_logged};

/// A restart that never returns, as `apachectl graceful` does when httpd is stuck: the
/// script starts a child that sleeps and waits for it, and notes the child's pid in `pids`.
fn hanging_restart(dir: &Path, pids: &Path) -> anyhow::Result<Vec<String>> {
    let script = dir.join("hung-restart.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nsleep 600 &\necho $! >> {}\nwait\n",
            pids.display()
        ),
    )?;
    Ok(vec!["sh".into(), script.display().to_string()])
}

/// Apache's restart hangs past the agent's `command_timeout_secs` (3 s here), with the new
/// files and again with the old ones put back: each is stopped with what it started, the
/// target is rolled back with the reason, and the old certificate — which the stuck Apache
/// never stopped serving — is what a handshake sees and what is on disk.
#[test]
fn apache_restart_hanging_past_its_timeout_is_stopped_and_rolled_back() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pids = dir.path().join("restart.pids");
    let scene = HeldDeploy::with(Setup {
        restart: Some(hanging_restart(dir.path(), &pids)?),
        agent_settings: "command_timeout_secs = 3".into(),
        ..Setup::default()
    })?;
    let done = scene.outcome(60)?;
    let target = &done["targets"][0];
    let detail = target["detail"].as_str().unwrap_or_default();
    assert_eq!(done["state"], "failed", "{done}");
    assert_eq!(target["state"], "rolled_back", "{done}");
    assert!(detail.contains("did not finish within 3 s"), "{detail}");
    // Serving the old certificate, but with a restart that hangs: a person must look.
    assert!(
        detail.contains("THE ROLLBACK NEEDS A PERSON: restarting with the old files failed too"),
        "{detail}"
    );
    assert!(
        detail.contains("serves the old certificate again"),
        "{detail}"
    );
    assert_eq!(scene.served()?, scene.old.sha256);
    assert_eq!(
        std::fs::read_to_string(scene.apache.cert_path())?,
        scene.old.cert_pem
    );
    // Two restarts (the new files, then the old), each stopped with its child.
    let started = std::fs::read_to_string(&pids)?;
    let started: Vec<&str> = started.lines().collect();
    assert_eq!(started.len(), 2, "{started:?}");
    for pid in started {
        wait_for(
            &format!("the hung restart's child {pid} to end"),
            Duration::from_secs(5),
            || (!running(pid)).then_some(()),
        )?;
    }
    Ok(())
}

/// The agent's data folder full when a rollout arrives: the deployment journal cannot be
/// written, so nothing is touched — the target fails naming the full disk and what to do,
/// the old certificate serves. With space freed, the same renewal rolled out again ends
/// verified.
#[test]
fn agent_disk_full_fails_the_target_untouched_and_a_later_rollout_succeeds() -> anyhow::Result<()> {
    let scene = HeldDeploy::with(Setup {
        agent_disk: Some(4 << 20),
        agent_disk_full: true,
        ..Setup::default()
    })?;
    let done = scene.outcome(60)?;
    let target = &done["targets"][0];
    let detail = target["detail"].as_str().unwrap_or_default();
    assert_eq!(done["state"], "failed", "{done}");
    assert_eq!(target["state"], "failed", "{done}");
    assert!(
        detail.contains("the disk is full") && detail.contains("free space"),
        "{detail}"
    );
    assert!(detail.contains("nothing more was changed"), "{detail}");
    assert_eq!(scene.served()?, scene.old.sha256);
    assert_eq!(
        std::fs::read_to_string(scene.apache.cert_path())?,
        scene.old.cert_pem
    );

    let disk = scene.agent_disk.as_ref().expect("the agent's disk");
    disk.free()?;
    let again = scene.api.post(
        "/api/v1/rollouts",
        serde_json::json!({ "renewal_id": scene.renewal }),
    )?;
    assert_eq!(again.status, 201, "{}", again.body);
    let id = again.body["id"].as_i64().unwrap_or_default();
    let done = scene
        .api
        .wait_for_rollout(id, &["succeeded", "failed"], 60)?;
    assert_eq!(
        done["state"],
        "succeeded",
        "{done}\n{}",
        scene.agent.log_text()
    );
    assert_eq!(scene.served()?, scene.new.sha256);
    Ok(())
}

/// The console's database disk fills while the agent deploys (held 3 s after staging): the
/// console's writes are refused ("database or disk is full", logged) but it keeps running,
/// and the agent's result, kept until the console takes it, lands once space is back — the
/// rollout ends verified, the renewal served, the job sent once.
#[test]
fn console_disk_full_mid_rollout_loses_nothing_once_space_is_back() -> anyhow::Result<()> {
    let scene = HeldDeploy::with(Setup {
        pause_at: Some("after_stage:3".into()),
        console_disk: Some(64 << 20),
        ..Setup::default()
    })?;
    let disk = scene.console_disk.as_ref().expect("the console's disk");
    disk.fill()?;
    // The agent finishes on its own; the console cannot record it.
    scene.wait_served("the agent to finish alone", &scene.new, 30)?;
    wait_logged(
        "the console to log the full disk",
        "database or disk is full",
        30,
        || scene.console.log_text(),
    )?;
    std::thread::sleep(Duration::from_secs(3));
    disk.free()?;
    let done = scene.outcome(90)?;
    scene.ends_verified_once(&done, "after_stage")?;
    Ok(())
}

/// The link between the agent's side and the console cut while the agent holds a staged
/// deploy, for longer than either side waits for the other: the console shows the agent
/// offline and the rollout still running (not failed: the agent may well be finishing it);
/// the agent gives up the dead connection instead of waiting for TCP to time out, and goes
/// on deploying on its own side. With the link back it connects again and reports; the
/// rollout ends verified, the renewal served, deployed once.
#[test]
fn network_cut_mid_deploy_is_reported_once_the_link_is_back() -> anyhow::Result<()> {
    let scene = HeldDeploy::with(Setup {
        pause_at: Some("after_stage:3".into()),
        netns: true,
        ..Setup::default()
    })?;
    let link = scene.netns.as_ref().expect("a scene with a link");
    link.cut()?;
    wait_for(
        "the console to count the agent offline",
        Duration::from_secs(20),
        || (!scene.agent_online()?).then_some(()),
    )?;
    wait_logged(
        "the agent to give up the dead connection",
        "no word from the console",
        20,
        || scene.agent.log_text(),
    )?;
    // And the console lets the silent connection go rather than send jobs into it.
    wait_logged("the console to let the connection go", LET_GO, 20, || {
        scene.console.log_text()
    })?;
    let during = scene
        .api
        .get(&format!("/api/v1/rollouts/{}", scene.rollout))?
        .body;
    assert_eq!(during["state"], "running", "{during}");
    link.restore()?;
    let done = scene.outcome(90)?;
    scene.ends_verified_once(&done, "after_stage")?;
    assert_eq!(scene.agent_online(), Some(true));
    Ok(())
}

/// A rollout created while the link is cut: the console has let the silent connection go,
/// so nothing is sent into it; the target waits and says why. With the link back the agent
/// connects again, gets its step once, and the rollout ends verified.
#[test]
fn a_rollout_made_while_the_link_is_cut_waits_and_runs_once_it_is_back() -> anyhow::Result<()> {
    let scene = HeldDeploy::with(Setup {
        // Held a moment, so the log counts the deploys.
        pause_at: Some("after_stage:1".into()),
        netns: true,
        cut_before_rollout: true,
        ..Setup::default()
    })?;
    let reason = "waiting: the agent is offline; it gets its step when it connects again";
    wait_for(
        "the target to say why it waits",
        Duration::from_secs(20),
        || {
            let rollout = scene
                .api
                .get(&format!("/api/v1/rollouts/{}", scene.rollout))
                .ok()?
                .body;
            let target = &rollout["targets"][0];
            (target["state"] == "pending" && target["detail"].as_str()?.contains(reason))
                .then_some(())
        },
    )?;
    assert!(
        !scene.agent.log_text().contains("deploying"),
        "a job crossed a cut link:\n{}",
        scene.agent.log_text()
    );
    scene
        .netns
        .as_ref()
        .expect("a scene with a link")
        .restore()?;
    let done = scene.outcome(90)?;
    scene.ends_verified_once(&done, "after_stage")?;
    Ok(())
}

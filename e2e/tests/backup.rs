//! A backup taken from a running console restores into a console that still knows its
//! agents, their certificates and its admin, and its agents connect to it; without the
//! key-encryption key the restored console refuses to start and says what is missing. One
//! taken mid-rollout restores into a console that finishes the rollout.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use certfleet_e2e::api::Api;
use certfleet_e2e::held::HeldDeploy;
use certfleet_e2e::{Agent, Console, bin, wait_for};

const ADMIN_PASSWORD: &str = "a-long-new-password-for-tests";

/// `certfleet-server ARGS…`, its output.
fn server(args: &[&OsStr]) -> anyhow::Result<std::process::Output> {
    Ok(Command::new(bin("certfleet-server")).args(args).output()?)
}

/// `certfleet-server backup --data-dir DATA --to FILE`, which must succeed; its output.
fn backup(data: &Path, file: &Path) -> anyhow::Result<std::process::Output> {
    let made = server(&[
        "backup".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--to".as_ref(),
        file.as_os_str(),
    ])?;
    anyhow::ensure!(
        made.status.success(),
        "backup failed: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    Ok(made)
}

/// `certfleet-server restore`, which must succeed.
fn restore(file: &Path, data: &Path, kek: Option<&Path>) -> anyhow::Result<()> {
    let mut args = vec![
        OsStr::new("restore"),
        OsStr::new("--from"),
        file.as_os_str(),
        OsStr::new("--data-dir"),
        data.as_os_str(),
    ];
    if let Some(kek) = kek {
        args.extend([OsStr::new("--kek-file"), kek.as_os_str()]);
    }
    let restored = server(&args)?;
    anyhow::ensure!(
        restored.status.success(),
        "restore failed: {}",
        String::from_utf8_lossy(&restored.stderr)
    );
    Ok(())
}

fn certificate_count(api: &Api) -> Option<usize> {
    Some(
        api.get("/api/v1/certificates").ok()?.body["items"]
            .as_array()?
            .len(),
    )
}

fn connected(api: &Api, id: &str) -> Option<bool> {
    api.get("/api/v1/agents")
        .ok()?
        .body
        .as_array()?
        .iter()
        .find(|a| a["id"] == id)?["connected"]
        .as_bool()
}

#[test]
fn a_backup_of_a_running_console_restores_into_one_its_agents_connect_to() -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let mut console = Console::start(&temp.path().join("console"))?;
    let api = Api::admin(&console)?;
    let config = certfleet_e2e::pem_fixture_config("sage.example.test");
    let agent = Agent::start(&console, &temp.path().join("agent"), &config)?;
    let id = agent.id()?;
    wait_for("the inventory", Duration::from_secs(20), || {
        certificate_count(&api).filter(|n| *n == 1)
    })?;

    // Beside the running console, which holds its data folder's lock.
    let data = console.dir.join("data");
    let file = temp.path().join("console.backup");
    let made = server(&["backup".as_ref(), "--data-dir".as_ref(), data.as_os_str()])?;
    assert!(!made.status.success(), "--to is required");
    let made = backup(&data, &file)?;
    assert!(String::from_utf8_lossy(&made.stdout).contains("key-encryption key is not in it"));
    let (api_address, gateway_address) = (console.api, console.gateway);
    console.kill();

    // Restored without the key: the console refuses to start and names what is missing.
    let keyless = temp.path().join("keyless");
    let restored = server(&["restore".as_ref(), "--from".as_ref(), file.as_os_str()])?;
    assert!(!restored.status.success(), "--data-dir is required");
    assert!(
        String::from_utf8_lossy(&restored.stderr).contains("say where to restore"),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    restore(&file, &keyless.join("data"), None)?;
    let refused = Console::start(&keyless)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refused.contains("no kek.key"), "{refused}");

    // With the key kept apart: the same agents, certificates and admin, on the same ports.
    let target = temp.path().join("restored");
    restore(&file, &target.join("data"), Some(&data.join("kek.key")))?;
    let again = Console::start_on(&target, api_address, gateway_address)?;
    assert!(again.first_password.is_none(), "not a first start");
    let mut api = Api::new(again.api, &again.ca_pem()?)?;
    api.login("admin", ADMIN_PASSWORD, ADMIN_PASSWORD)?;
    assert_eq!(certificate_count(&api), Some(1));
    wait_for("the agent to connect", Duration::from_secs(30), || {
        connected(&api, &id).filter(|c| *c)
    })
    .map_err(|e| anyhow::anyhow!("{e}\n{}\n{}", agent.log_text(), again.log_text()))?;
    Ok(())
}

/// A backup taken while a rollout's job is with the agent: the restored console takes the
/// agent's result (which waited in its journal while no console ran) and finishes the
/// rollout; the port serves the renewal.
#[test]
fn a_backup_taken_mid_rollout_restores_into_a_console_that_finishes_it() -> anyhow::Result<()> {
    // The deploy waits 6 s after it is journaled: the backup is taken in that time.
    let mut scene = HeldDeploy::start("after_journal:6")?;
    let during = scene
        .api
        .get(&format!("/api/v1/rollouts/{}", scene.rollout))?
        .body;
    assert_eq!(during["state"], "running", "{during}");
    assert_ne!(during["targets"][0]["state"], "verified", "{during}");

    let data = scene.console.dir.join("data");
    let file = scene.temp.path().join("mid-rollout.backup");
    backup(&data, &file)?;
    let (api_address, gateway_address) = (scene.console.api, scene.console.gateway);
    scene.console.kill();

    let target = scene.temp.path().join("restored");
    restore(&file, &target.join("data"), Some(&data.join("kek.key")))?;
    let again = Console::start_on(&target, api_address, gateway_address)?;
    let mut api = Api::new(again.api, &again.ca_pem()?)?;
    api.login("admin", ADMIN_PASSWORD, ADMIN_PASSWORD)?;
    let done = api
        .wait_for_rollout(scene.rollout, &["succeeded", "failed"], 90)
        .map_err(|e| anyhow::anyhow!("{e}\n{}\n{}", again.log_text(), scene.agent.log_text()))?;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["targets"][0]["state"], "verified", "{done}");
    assert_eq!(scene.served()?, scene.new.sha256);
    Ok(())
}

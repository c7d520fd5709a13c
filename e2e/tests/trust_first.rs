//! A rollout that puts trust first, for real: an Apache server whose certificate moves to a
//! new internal CA, and two client machines that must trust it, each an agent process with
//! a `[[trust]]` table — one online (its bundle rebuilt by the real update-ca-certificates
//! on folders of the test's own), one offline by the time the rollout runs. The online
//! client is made to trust the new CA first, the offline one is left out (within the
//! failure limit) and the rollout page says so, and only then does the server switch.

use std::path::{Path, PathBuf};
use std::time::Duration;

use certfleet_e2e::apache::Apache;
use certfleet_e2e::api::{Api, served_sha256};
use certfleet_e2e::pki::TestCa;
use certfleet_e2e::{Agent, Console, free_port, wait_for};
use serde_json::{Value, json};

const NAME: &str = "esync.example.test";

/// A client machine's trust store: the real update-ca-certificates on the test's folders.
struct Bundle {
    local: PathBuf,
    built: PathBuf,
    update: Vec<String>,
}

impl Bundle {
    fn new(dir: &Path, roots: &[&str]) -> anyhow::Result<Self> {
        let [certs, local, etc, hooks] = ["certs", "local", "etc", "hooks"].map(|d| dir.join(d));
        for d in [&certs, &local, &etc, &hooks] {
            std::fs::create_dir_all(d)?;
        }
        let conf = dir.join("ca-certificates.conf");
        std::fs::write(&conf, "")?;
        for (i, pem) in roots.iter().enumerate() {
            std::fs::write(local.join(format!("root-{i}.crt")), pem)?;
        }
        let update: Vec<String> = [
            "update-ca-certificates",
            "--fresh",
            "--certsconf",
            &conf.display().to_string(),
            "--certsdir",
            &certs.display().to_string(),
            "--localcertsdir",
            &local.display().to_string(),
            "--etccertsdir",
            &etc.display().to_string(),
            "--hooksdir",
            &hooks.display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let status = std::process::Command::new(&update[0])
            .args(&update[1..])
            .stdout(std::process::Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "update-ca-certificates failed");
        Ok(Bundle {
            local,
            built: etc.join("ca-certificates.crt"),
            update,
        })
    }

    fn agent_config(&self, endpoint: &str, allowed: &str) -> String {
        let quoted: Vec<String> = self.update.iter().map(|s| format!("{s:?}")).collect();
        format!(
            "rescan_secs = 2\n[[trust]]\nendpoint = \"{endpoint}\"\nserver_name = \"{NAME}\"\n\
             bundle_dir = '{}'\nupdate_command = [{}]\nca_file = '{}'\nallowed_issuers = [\"{allowed}\"]\n",
            self.local.display(),
            quoted.join(", "),
            self.built.display()
        )
    }
}

fn sha256_of(pem: &str) -> String {
    let cert = certfleet_certkit::read(pem.as_bytes(), None)
        .expect("pem")
        .certificates[0]
        .clone();
    cert.facts().sha256.to_string()
}

/// The server endpoint's clients as the host API shows them.
fn clients(api: &Api) -> Option<(i64, Vec<Value>)> {
    let hosts = api.get("/api/v1/hosts").ok()?.body;
    for host in hosts.as_array()? {
        let id = host["id"].as_i64()?;
        let detail = api.get(&format!("/api/v1/hosts/{id}")).ok()?.body;
        if let Some(endpoint) = detail["endpoint_details"]
            .as_array()?
            .iter()
            .find(|e| e["name"] == NAME)
        {
            return Some((id, endpoint["clients"].as_array()?.clone()));
        }
    }
    None
}

#[test]
fn clients_trust_the_new_ca_before_the_server_switches_and_an_offline_one_is_shown_left_out()
-> anyhow::Result<()> {
    if !Apache::available() {
        anyhow::bail!("apache2 is not installed: run scripts/test.sh, which installs it");
    }
    let temp = tempfile::tempdir()?;
    let old_ca = TestCa::new("Old Internal Root");
    let new_ca = TestCa::new("New Internal Root");
    let old = old_ca.server(&[NAME], 20);
    let console = Console::start(&temp.path().join("console"))?;
    let api = Api::admin(&console)?;
    let port = free_port()?;
    let apache = Apache::start(&temp.path().join("apache"), port, NAME, &old, &old_ca.pem)?;
    let _server = Agent::start(
        &console,
        &temp.path().join("server"),
        &apache.agent_config(None),
    )?;
    let endpoint = format!("127.0.0.1:{port}");
    let new_root = sha256_of(&new_ca.pem);
    let online = Bundle::new(&temp.path().join("bpa1-store"), &[&old_ca.pem])?;
    let offline = Bundle::new(&temp.path().join("bpa2-store"), &[&old_ca.pem])?;
    let bpa1 = Agent::start(
        &console,
        &temp.path().join("bpa1"),
        &online.agent_config(&endpoint, &new_root),
    )?;
    let mut bpa2 = Agent::start(
        &console,
        &temp.path().join("bpa2"),
        &offline.agent_config(&endpoint, &new_root),
    )?;
    let logs = |console: &Console, agents: &[&Agent]| {
        let mut text = format!("console log:\n{}", console.log_text());
        for a in agents {
            text.push_str(&format!("\nagent log:\n{}", a.log_text()));
        }
        text
    };
    // Both clients trust the server as it is (the old CA is in their bundles).
    wait_for(
        "both clients trusting the server",
        Duration::from_secs(40),
        || {
            let (_, clients) = clients(&api)?;
            (clients.len() == 2 && clients.iter().all(|c| c["verdict"] == "trusted")).then_some(())
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}\n{}", logs(&console, &[&bpa1, &bpa2])))?;
    bpa2.kill();

    // The renewal from the new CA, uploaded with its root: the plan says the clients must
    // trust it first.
    let new = new_ca.server(&[NAME], 397);
    let reply = api.post(
        "/api/v1/renewals",
        json!({"certificate_pem": new.cert_pem, "key_pem": new.key_pem, "chain_pem": new_ca.pem}),
    )?;
    anyhow::ensure!(reply.status == 201, "upload: {}", reply.body);
    let renewal = reply.body["id"].as_i64().unwrap_or_default();
    let plan = api.get(&format!("/api/v1/renewals/{renewal}/plan"))?.body;
    let proposal = plan
        .as_array()
        .and_then(|a| a.iter().find(|p| p["endpoint_name"] == NAME))
        .cloned()
        .unwrap_or_default();
    let needs: Vec<&Value> = proposal["clients"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    assert_eq!(needs.len(), 2, "{plan}");
    assert!(
        needs
            .iter()
            .all(|c| c["need"]["need"] == "install" && c["need"]["sha256"] == new_root.as_str()),
        "{plan}"
    );
    assert!(
        proposal["notes"]
            .to_string()
            .contains("2 of 2 client machines would not trust the renewal"),
        "{plan}"
    );
    assert_eq!(
        served_sha256(apache_address(port), NAME, &old_ca.pem)?,
        old.sha256
    );

    // One failure allowed (the default): leaving the offline client out would reach it, so
    // the rollout waits for it and the server does not switch. Cancelled here.
    let created = api.post("/api/v1/rollouts", json!({"renewal_id": renewal}))?;
    assert_eq!(created.status, 201, "{}", created.body);
    let blocked = created.body["id"].as_i64().unwrap_or_default();
    let waiting = wait_for(
        "the offline client to block",
        Duration::from_secs(30),
        || {
            let body = api.get(&format!("/api/v1/rollouts/{blocked}")).ok()?.body;
            body["targets"]
                .as_array()?
                .iter()
                .any(|t| {
                    t["action"] == "trust"
                        && t["state"] == "pending"
                        && t["detail"]
                            .as_str()
                            .is_some_and(|d| d.starts_with("waiting"))
                })
                .then_some(body)
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}\n{}", logs(&console, &[&bpa1])))?;
    let server_step = waiting["targets"]
        .as_array()
        .and_then(|a| a.iter().find(|t| t["action"] == "deploy").cloned())
        .unwrap_or_default();
    assert_eq!(server_step["state"], "pending", "{waiting}");
    assert_eq!(server_step["wave"], 1, "{waiting}");
    assert_eq!(
        served_sha256(apache_address(port), NAME, &old_ca.pem)?,
        old.sha256
    );
    let cancelled = api.post(&format!("/api/v1/rollouts/{blocked}/cancel"), json!({}))?;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    let early = api.post(&format!("/api/v1/rollouts/{blocked}/cleanup"), json!({}))?;
    assert_eq!(
        early.status, 409,
        "only after a rollout succeeded: {}",
        early.body
    );

    // Two failures allowed: the offline client is left out, the online one trusts first.
    let created = api.post(
        "/api/v1/rollouts",
        json!({"renewal_id": renewal, "max_failures": 2}),
    )?;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_i64().unwrap_or_default();
    let done =
        ended(&api, id, 90).map_err(|e| anyhow::anyhow!("{e}\n{}", logs(&console, &[&bpa1])))?;
    assert_eq!(
        done["state"],
        "succeeded",
        "{done}\n{}",
        logs(&console, &[&bpa1])
    );
    let targets = done["targets"].as_array().cloned().unwrap_or_default();
    let target = |action: &str, state: &str| {
        targets
            .iter()
            .find(|t| t["action"] == action && t["state"] == state)
            .cloned()
    };
    let trusted = target("trust", "verified").expect("the online client's trust step");
    let left_out = target("trust", "skipped").expect("the offline client's trust step");
    let switched = target("deploy", "verified").expect("the server's switch");
    assert_eq!(trusted["wave"], 0, "{done}");
    assert_eq!(left_out["wave"], 0, "{done}");
    assert_eq!(switched["wave"], 1, "the server after the clients: {done}");
    assert!(
        left_out["detail"]
            .as_str()
            .is_some_and(|d| d.contains("offline")),
        "{left_out}"
    );
    assert!(
        done["detail"]
            .as_str()
            .is_some_and(|d| d.contains("not yet trusting")),
        "{done}"
    );
    // The trust step ended before the server switched.
    assert!(
        trusted["updated_at"].as_i64() <= switched["updated_at"].as_i64(),
        "{done}"
    );
    assert_eq!(
        served_sha256(apache_address(port), NAME, &new_ca.pem)?,
        new.sha256
    );
    let installed: Vec<_> = std::fs::read_dir(&online.local)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("certfleet-"))
        .collect();
    assert_eq!(
        installed.len(),
        1,
        "the new root in the online client's bundle"
    );
    assert!(
        !std::fs::read_dir(&offline.local)?
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with("certfleet-")),
        "nothing reached the offline client"
    );

    // The online client trusts the server as it serves now; the rollout page names the
    // client left out.
    wait_for(
        "the online client trusting the new chain",
        Duration::from_secs(30),
        || {
            let (_, clients) = clients(&api)?;
            clients
                .iter()
                .any(|c| {
                    c["host_id"] == trusted["host_id"]
                        && c["verdict"] == "trusted"
                        && c["chain"][0] == new.sha256.as_str()
                })
                .then_some(())
        },
    )?;
    // Later, separately: the old anchor taken out where certfleet put it. The online client's
    // old root was there before certfleet (the test put it in its bundle), so it stays.
    let reply = api.post(&format!("/api/v1/rollouts/{id}/cleanup"), json!({}))?;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let cleanup = reply.body["id"].as_i64().unwrap_or_default();
    let cleaned = ended(&api, cleanup, 60)
        .map_err(|e| anyhow::anyhow!("{e}\n{}", logs(&console, &[&bpa1])))?;
    let untrust = cleaned["targets"][0].clone();
    assert_eq!(
        cleaned["targets"].as_array().map(Vec::len),
        Some(1),
        "{cleaned}"
    );
    assert_eq!(untrust["action"], "untrust", "{cleaned}");
    assert_eq!(
        untrust["trust_sha256"],
        sha256_of(&old_ca.pem).as_str(),
        "{cleaned}"
    );
    assert_eq!(untrust["state"], "verified", "{cleaned}");
    assert!(
        untrust["detail"]
            .as_str()
            .is_some_and(|d| d.contains("not certfleet's")),
        "{cleaned}"
    );
    assert!(
        online.local.join("root-0.crt").exists(),
        "the admin's own root stays"
    );

    let page = api.page(&format!("/rollouts/{id}"))?;
    let hostname = left_out["hostname"].as_str().unwrap_or("?");
    assert!(
        page.text.contains(hostname) && page.text.contains("skipped: the client was offline"),
        "{}",
        page.text
    );
    Ok(())
}

/// The rollout once it ended (succeeded or failed).
fn ended(api: &Api, id: i64, secs: u64) -> anyhow::Result<Value> {
    wait_for("the rollout to end", Duration::from_secs(secs), || {
        let body = api.get(&format!("/api/v1/rollouts/{id}")).ok()?.body;
        ["succeeded", "failed"]
            .contains(&body["state"].as_str().unwrap_or(""))
            .then_some(body)
    })
}

fn apache_address(port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

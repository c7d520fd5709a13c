//! Renewals without uploads, for real: a console whose `[[renewals.policy]]` renews the
//! `esync` group from its own issuing CA, a Debian apache2 on loopback watched by a real
//! agent. Nobody clicks: the endpoint is past its renewal point, the console asks the host
//! for a request for a key the host makes and keeps, signs it, rolls it out, and the port is
//! checked with an independent TLS client trusting only the issuing CA.

use std::time::Duration;

use certfleet_e2e::apache::Apache;
use certfleet_e2e::api::{Api, served_sha256};
use certfleet_e2e::pki::TestCa;
use certfleet_e2e::{Agent, Console, free_port, wait_for};
use serde_json::Value;

const NAME: &str = "esync.example.test";

fn policy(domains: &str) -> String {
    format!(
        "[{{group = \"esync\", source = \"internal_ca\", validity_days = 90, \
         renew_before_days = 30, allowed_domains = [{domains}]}}]"
    )
}

fn issuances(api: &Api) -> Vec<Value> {
    api.get("/api/v1/renewals/issued")
        .ok()
        .and_then(|r| r.body.as_array().cloned())
        .unwrap_or_default()
}

#[test]
fn an_endpoint_past_its_renewal_point_is_renewed_by_the_internal_ca_with_no_click()
-> anyhow::Result<()> {
    if !Apache::available() {
        eprintln!("skipped: apache2 is not installed");
        return Ok(());
    }
    let temp = tempfile::tempdir()?;
    let ca = TestCa::new("Old CA");
    // 20 days left, the policy renews 30 days before expiry: due now.
    let old = ca.server(&[NAME], 20);
    let policy = policy("\"example.test\"");
    let console = Console::start_with_env(
        &temp.path().join("console"),
        &[
            ("CERTFLEET_RENEWALS__CHECK_SECS", "1"),
            ("CERTFLEET_RENEWALS__POLICY", &policy),
        ],
    )?;
    let api = Api::admin(&console)?;
    let mut apache = Apache::start(
        &temp.path().join("apache"),
        free_port()?,
        NAME,
        &old,
        &ca.pem,
    )?;
    let agent_dir = temp.path().join("agent");
    let agent = Agent::start(&console, &agent_dir, &apache.agent_config(None))?;
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], apache.port));

    let logs = || {
        format!(
            "console log:\n{}\nagent log:\n{}",
            console.log_text(),
            agent.log_text()
        )
    };
    let done = wait_for(
        "the renewal to be verified",
        Duration::from_secs(120),
        || {
            issuances(&api)
                .into_iter()
                .find(|i| i["state"] == "verified" || i["state"] == "failed")
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}\n{}", logs()))?;
    assert_eq!(done["state"], "verified", "{done}\n{}", logs());
    assert_eq!(done["started_by"], "renewal scheduler", "{done}");
    assert_eq!(done["names"], serde_json::json!([NAME]), "{done}");

    // What the port serves is the issued certificate, trusted through the issuing CA only.
    let renewal = api
        .get(&format!("/api/v1/renewals/{}", done["renewal_id"]))?
        .body;
    assert_eq!(renewal["source"], "internal_ca", "{renewal}");
    assert_eq!(renewal["key_agent_id"], agent.id()?, "{renewal}");
    let issuing_ca = renewal["root_pem"].as_str().unwrap_or_default().to_owned();
    assert!(issuing_ca.contains("BEGIN CERTIFICATE"), "{renewal}");
    let served = served_sha256(address, NAME, &issuing_ca)?;
    assert_eq!(Some(served.as_str()), renewal["sha256"].as_str());
    assert!(
        served_sha256(address, NAME, &ca.pem).is_err(),
        "the old CA no longer vouches for what the port serves"
    );

    // The key never left the host: the console's answers and its database hold none, the
    // agent's pending copy is gone once deployed, and the deployed key is the host's own.
    let text = renewal.to_string();
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    let pending: Vec<_> = std::fs::read_dir(agent_dir.join("pending-keys"))?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(pending.is_empty(), "pending keys left: {pending:?}");
    let deployed_key = std::fs::read_to_string(apache.key_path())?;
    let key_der = pem::parse(&deployed_key)?.into_contents();
    let data = temp.path().join("console/data");
    for entry in std::fs::read_dir(&data)?.flatten() {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        assert!(
            !bytes
                .windows(key_der.len())
                .any(|w| w == key_der.as_slice()),
            "{} holds the host's private key",
            entry.path().display()
        );
    }

    // Renewed, the endpoint is not due again: no second renewal starts.
    std::thread::sleep(Duration::from_secs(4));
    let all = issuances(&api);
    assert_eq!(all.len(), 1, "{all:?}");
    let schedule = api.get("/api/v1/renewals/schedule")?.body;
    let row = &schedule[0];
    assert_eq!(row["current_sha256"], renewal["sha256"], "{schedule}");
    assert!(
        row["renews_at"].as_i64().unwrap_or_default()
            > time::OffsetDateTime::now_utc().unix_timestamp(),
        "{schedule}"
    );
    apache.stop();
    Ok(())
}

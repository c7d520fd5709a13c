//! An agent watching a real Apache: the console's API lists the host's certificate with its
//! expiry, and notices when the live port serves something else than the files name.

use std::time::Duration;

use certfleet_e2e::apache::Apache;
use certfleet_e2e::api::Api;
use certfleet_e2e::pki::TestCa;
use certfleet_e2e::{Agent, Console, free_port, wait_for};
use serde_json::Value;

#[test]
fn an_agent_watching_apache_reports_its_certificate_then_a_stale_live_port() -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let ca = TestCa::new("Test eSync CA");
    let first = ca.server(&["esync.example.test"], 90);
    let mut apache = Apache::start(
        &temp.path().join("apache"),
        free_port()?,
        "esync.example.test",
        &first,
        &ca.pem,
    )?;

    let console = Console::start(&temp.path().join("console"))?;
    let api = Api::admin(&console)?;
    let agent_config = format!(
        "rescan_secs = 2\ngroups = [\"esync\"]\n[[apache]]\nconfig = \"{}\"\n",
        apache.config_path().display()
    );
    let agent = Agent::start(&console, &temp.path().join("agent"), &agent_config)?;

    let listed = wait_for(
        "the certificate in the API",
        Duration::from_secs(30),
        || {
            let reply = api.get("/api/v1/certificates").ok()?;
            reply.body["items"]
                .as_array()?
                .iter()
                .find(|c| c["sha256"] == first.sha256.as_str())
                .cloned()
        },
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "{e}\nagent log:\n{}\nconsole log:\n{}",
            agent.log_text(),
            console.log_text()
        )
    })?;
    let days = listed["days_left"].as_i64().unwrap_or(-1);
    assert!((88..=90).contains(&days), "days_left {days}");
    assert_eq!(listed["errors"], 0, "{listed}");
    assert_eq!(listed["dns_names"][0], "esync.example.test");

    let hosts = api.get("/api/v1/hosts")?.body;
    let host = &hosts[0];
    assert_eq!(host["online"], true, "{host}");
    assert_eq!(host["groups"][0], "esync");
    let detail = api.get(&format!("/api/v1/hosts/{}", host["id"]))?.body;
    let endpoint = &detail["endpoint_details"][0];
    assert_eq!(endpoint["kind"], "apache");
    assert_eq!(endpoint["name"], "esync.example.test");
    assert_eq!(endpoint["configured_sha256"], first.sha256.as_str());
    assert_eq!(endpoint["served_sha256"], first.sha256.as_str());
    assert_eq!(endpoint["findings"], Value::Array(vec![]), "{endpoint}");

    // The renewed files are in place but Apache was not restarted: the most common
    // "renewed, but the old certificate is still served".
    let second = ca.server(&["esync.example.test"], 365);
    apache.write_certificate(&second, &ca.pem)?;
    let stale = wait_for(
        "the served_mismatch finding",
        Duration::from_secs(30),
        || {
            let detail = api.get(&format!("/api/v1/hosts/{}", host["id"])).ok()?.body;
            let endpoint = detail["endpoint_details"][0].clone();
            let mismatch = endpoint["findings"]
                .as_array()?
                .iter()
                .any(|f| f["code"] == "served_mismatch" && f["severity"] == "error");
            mismatch.then_some(endpoint)
        },
    )?;
    assert_eq!(stale["configured_sha256"], second.sha256.as_str());
    assert_eq!(stale["served_sha256"], first.sha256.as_str());
    let summary = api.get("/api/v1/summary")?.body;
    // Both certificates take part in the broken endpoint: the one served and the one named.
    assert_eq!(summary["misconfigured"], 2, "{summary}");
    assert_eq!(summary["certificates"], 2, "{summary}");
    assert_eq!(summary["agents_online"], 1, "{summary}");
    apache.stop();
    Ok(())
}

//! Time from the click (the rollout request) to the console knowing the live port serves the
//! new certificate, for one real Debian apache2 managed by a real agent: preflight, stage,
//! apply, configuration test, graceful restart, TLS verification, result. Five renewals in a
//! row on the same host.
//!
//! cargo build --release -p certfleet-server -p certfleet-agent
//! cargo bench -p certfleet-e2e --bench apache_rollout

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use certfleet_e2e::apache::Apache;
use certfleet_e2e::api::Api;
use certfleet_e2e::pki::TestCa;
use certfleet_e2e::{Agent, Console, free_port, wait_for};

const NAME: &str = "esync.example.test";

fn main() -> Result<()> {
    let temp = tempfile::tempdir()?;
    let ca = TestCa::new("Bench CA");
    let apache = Apache::start(
        &temp.path().join("apache"),
        free_port()?,
        NAME,
        &ca.server(&[NAME], 20),
        &ca.pem,
    )?;
    let console = Console::start(&temp.path().join("console"))?;
    let api = Api::admin(&console)?;
    let _agent = Agent::start(
        &console,
        &temp.path().join("agent"),
        &apache.agent_config(None),
    )?;
    wait_for("the host", Duration::from_secs(30), || {
        (api.get("/api/v1/hosts").ok()?.body.as_array()?.len() == 1).then_some(())
    })?;
    let mut times = Vec::new();
    for round in 0..5 {
        let cert = ca.server(&[NAME], 100 + round);
        let reply = api.post(
            "/api/v1/renewals",
            serde_json::json!({"certificate_pem": cert.cert_pem, "key_pem": cert.key_pem, "chain_pem": ca.pem}),
        )?;
        let renewal = reply.body["id"].as_i64().context("renewal")?;
        // The inventory must show the previous renewal first, or the plan finds nothing.
        wait_for("the endpoint in the plan", Duration::from_secs(30), || {
            let plan = api
                .get(&format!("/api/v1/renewals/{renewal}/plan"))
                .ok()?
                .body;
            plan.as_array()?
                .iter()
                .any(|p| p["proposed"] == true)
                .then_some(())
        })?;
        let clicked = Instant::now();
        let reply = api.post(
            "/api/v1/rollouts",
            serde_json::json!({"renewal_id": renewal}),
        )?;
        let id = reply.body["id"]
            .as_i64()
            .context(format!("rollout: {}", reply.body))?;
        // Polled every 2 ms (wait_for's 100 ms would round the figure up).
        let done = loop {
            let body = api.get(&format!("/api/v1/rollouts/{id}"))?.body;
            if body["state"] != "running" && body["state"] != "scheduled" {
                break body;
            }
            anyhow::ensure!(
                clicked.elapsed() < Duration::from_secs(60),
                "no result in 60 s"
            );
            std::thread::sleep(Duration::from_millis(2));
        };
        let took = clicked.elapsed();
        anyhow::ensure!(done["state"] == "succeeded", "{done}");
        println!(
            "round {round}: click -> verified {:.0} ms",
            took.as_secs_f64() * 1000.0
        );
        times.push(took);
    }
    times.sort();
    println!(
        "click -> verified on one real Apache: median {:.0} ms, min {:.0} ms, max {:.0} ms",
        times[2].as_secs_f64() * 1000.0,
        times[0].as_secs_f64() * 1000.0,
        times[4].as_secs_f64() * 1000.0
    );
    Ok(())
}

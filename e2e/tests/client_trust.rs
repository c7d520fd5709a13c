//! Client trust on the console: a real console, a server agent whose endpoint is a live TLS
//! port, and two client-machine agents that must trust it — one whose bundle holds the
//! server's CA, one whose bundle does not. The server's host page shows, per endpoint,
//! which clients trust it and why the other does not; the client's shows what it trusts.

use std::time::Duration;

use anyhow::Result;
use certfleet_e2e::api::Api;
use certfleet_e2e::listener::serve_tls;
use certfleet_e2e::pki::TestCa;
use certfleet_e2e::{Agent, Console, wait_for};

const SAGE: &str = "sage01.example.test";
const LOCAL: &str = "localhost";

/// A server agent in group `group` watching a PEM file, for `name`, that a live TLS port
/// serves: the port's address, the certificate and the agent.
fn pem_server(
    console: &Console,
    dir: &std::path::Path,
    ca: &TestCa,
    name: &str,
    group: &str,
) -> Result<(String, certfleet_e2e::pki::ServerCert, Agent)> {
    let cert = ca.connector(&[name], 397);
    let port = serve_tls(&cert, "");
    let files = dir.join("server-files");
    std::fs::create_dir_all(&files)?;
    let pem = files.join("server.pem");
    std::fs::write(&pem, &cert.cert_pem)?;
    let config = format!(
        "rescan_secs = 2\ngroups = [\"{group}\"]\n[[pem]]\nname = \"{name}\"\ncertificate = '{}'\naddress = \"{port}\"\n",
        pem.display()
    );
    let agent = Agent::start(console, &dir.join("server"), &config)?;
    Ok((port, cert, agent))
}

#[test]
fn the_servers_page_shows_which_clients_trust_each_endpoint_and_why_not() -> Result<()> {
    let temp = tempfile::tempdir()?;
    let console = Console::start(&temp.path().join("console"))?;
    let api = Api::admin(&console)?;
    let internal = TestCa::new("Example Internal Root");
    let (port, cert, _server) = pem_server(&console, temp.path(), &internal, SAGE, "server")?;
    let client_config = |bundle: &std::path::Path| {
        format!(
            "rescan_secs = 2\n[[trust]]\nendpoint = \"{port}\"\nserver_name = \"{SAGE}\"\nca_file = '{}'\n",
            bundle.display()
        )
    };
    let trusting = temp.path().join("trusting.pem");
    std::fs::write(&trusting, &internal.pem)?;
    let lacking = temp.path().join("lacking.pem");
    std::fs::write(&lacking, TestCa::new("Some Public Root").pem)?;
    let _bpa1 = Agent::start(
        &console,
        &temp.path().join("bpa1"),
        &client_config(&trusting),
    )?;
    let _bpa2 = Agent::start(
        &console,
        &temp.path().join("bpa2"),
        &client_config(&lacking),
    )?;

    // The server's host, once both clients have reported their checks.
    let (server_id, clients) = wait_for("both clients' verdicts", Duration::from_secs(30), || {
        let hosts = api.get("/api/v1/hosts").ok()?.body;
        for host in hosts.as_array()? {
            let id = host["id"].as_i64()?;
            let detail = api.get(&format!("/api/v1/hosts/{id}")).ok()?.body;
            let endpoint = detail["endpoint_details"]
                .as_array()?
                .iter()
                .find(|e| e["name"] == SAGE)?
                .clone();
            let clients = endpoint["clients"].as_array()?.clone();
            if clients.len() == 2 {
                return Some((id, clients));
            }
        }
        None
    })?;
    let verdict_of = |trusted: bool| {
        clients
            .iter()
            .find(|c| (c["verdict"] == "trusted") == trusted)
            .cloned()
            .unwrap_or_default()
    };
    let good = verdict_of(true);
    let bad = verdict_of(false);
    assert_eq!(good["verdict"], "trusted", "{clients:?}");
    assert_eq!(bad["verdict"], "unknown_root", "{clients:?}");
    assert!(
        bad["reason"]
            .as_str()
            .is_some_and(|r| r.contains("Example Internal Root")),
        "the reason names the root the client lacks: {bad}"
    );
    assert_ne!(good["host_id"], bad["host_id"]);

    // The server's agent serves the leaf alone and lacks the internal root, so it calls the
    // chain incomplete; a client that trusts it shows the console a root closes it.
    wait_for(
        "the known root to close the chain",
        Duration::from_secs(30),
        || {
            let detail = api.get(&format!("/api/v1/hosts/{server_id}")).ok()?.body;
            let endpoint = detail["endpoint_details"]
                .as_array()?
                .iter()
                .find(|e| e["name"] == SAGE)?
                .clone();
            (!endpoint["findings"]
                .to_string()
                .contains("chain_incomplete"))
            .then_some(())
        },
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "{e}: {}",
            api.get(&format!("/api/v1/hosts/{server_id}"))
                .map(|r| r.body.to_string())
                .unwrap_or_default()
        )
    })?;

    // The filter "some client does not trust it" finds the server's certificate.
    let untrusted = api.get("/api/v1/certificates?clients=untrusted")?.body;
    assert!(untrusted.to_string().contains(&cert.sha256), "{untrusted}");
    let page = api.page("/certificates?clients=untrusted")?;
    assert!(
        page.text.contains("Some client does not trust it"),
        "{}",
        page.text
    );

    // The dashboard's page of the server says it; the client's lists what it must trust.
    let page = api.page(&format!("/hosts/{server_id}"))?;
    assert!(
        page.text
            .contains("1 of 2 clients that must trust it do not"),
        "{}",
        page.text
    );
    let client_page = api.page(&format!("/hosts/{}", bad["host_id"]))?;
    assert!(
        client_page.text.contains("Servers this machine must trust")
            && client_page.text.contains("unknown root"),
        "{}",
        client_page.text
    );
    Ok(())
}

/// A client host group attached to a server endpoint in the console: the client, whose own
/// agent.toml has no [[trust]] table, is told to trust the endpoint, checks it (origin
/// console) and shows on the server's page; detached, it stops.
#[test]
fn a_client_group_attached_in_the_console_makes_its_hosts_check_the_endpoint() -> Result<()> {
    let temp = tempfile::tempdir()?;
    let console = Console::start(&temp.path().join("console"))?;
    let api = Api::admin(&console)?;
    let internal = TestCa::new("Example Internal Root");
    // Clients connect by the endpoint's name: one that resolves here.
    let (_, _, _server) = pem_server(&console, temp.path(), &internal, LOCAL, "sage")?;
    let _bpa = Agent::start(
        &console,
        &temp.path().join("bpa"),
        "rescan_secs = 2\ngroups = [\"bpa\"]\n",
    )?;
    let server_id = wait_for("the server's endpoint", Duration::from_secs(30), || {
        let hosts = api.get("/api/v1/hosts").ok()?.body;
        hosts.as_array()?.iter().find_map(|h| {
            h["groups"]
                .as_array()?
                .iter()
                .any(|g| g == "sage")
                .then(|| h["id"].as_i64())
                .flatten()
        })
    })?;
    let endpoint_key = wait_for("the endpoint's key", Duration::from_secs(30), || {
        let detail = api.get(&format!("/api/v1/hosts/{server_id}")).ok()?.body;
        detail["endpoint_details"]
            .as_array()?
            .iter()
            .find(|e| e["name"] == LOCAL)
            .and_then(|e| e["key"].as_str().map(str::to_owned))
    })?;
    let attach = api.post(
        &format!("/api/v1/hosts/{server_id}/endpoints/clients"),
        serde_json::json!({"endpoint_key": endpoint_key, "group": "bpa"}),
    )?;
    assert_eq!(attach.status, 200, "{}", attach.body);
    assert_eq!(attach.body[0]["group_name"], "bpa", "{}", attach.body);
    let client = wait_for(
        "the client's check of the attached endpoint",
        Duration::from_secs(30),
        || {
            let detail = api.get(&format!("/api/v1/hosts/{server_id}")).ok()?.body;
            let endpoint = detail["endpoint_details"]
                .as_array()?
                .iter()
                .find(|e| e["name"] == LOCAL)?
                .clone();
            endpoint["clients"].as_array()?.first().cloned()
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}\n{}", console.log_text()))?;
    assert_eq!(client["origin"], "console", "{client}");
    // The system's bundle does not hold the test's root.
    assert_eq!(client["verdict"], "unknown_root", "{client}");
    let audit = api.get("/api/v1/audit?limit=50")?.body.to_string();
    assert!(audit.contains("host.clients_attached"), "{audit}");

    let detach = api.request(
        "DELETE",
        &format!("/api/v1/hosts/{server_id}/endpoints/clients"),
        Some(serde_json::json!({"endpoint_key": endpoint_key, "group": "bpa"})),
        &[],
    )?;
    assert_eq!(detach.status, 200, "{}", detach.body);
    wait_for(
        "the client to stop checking it",
        Duration::from_secs(30),
        || {
            let detail = api.get(&format!("/api/v1/hosts/{server_id}")).ok()?.body;
            let endpoint = detail["endpoint_details"]
                .as_array()?
                .iter()
                .find(|e| e["name"] == LOCAL)?
                .clone();
            endpoint["clients"].as_array()?.is_empty().then_some(())
        },
    )?;
    Ok(())
}

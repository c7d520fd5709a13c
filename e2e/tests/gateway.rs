//! The gateway under stress from outside: revocation, console restarts, bad frames, foreign
//! certificates, and start-up refusals.

use std::path::Path;
use std::time::{Duration, Instant};

use certfleet_e2e::api::{Api, runtime, tls_config, tls_connect};
use certfleet_e2e::pki::TestCa;
use certfleet_e2e::{Agent, Console, wait_for};
use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_tungstenite::tungstenite::Message;

fn agent_connected(api: &Api, id: &str) -> Option<bool> {
    let agents = api.get("/api/v1/agents").ok()?.body;
    agents
        .as_array()?
        .iter()
        .find(|a| a["id"] == id)
        .and_then(|a| a["connected"].as_bool())
}

#[test]
fn revocation_drops_a_connected_agent_within_a_second_and_refuses_it_after() -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let console = Console::start(&temp.path().join("console"))?;
    let api = Api::admin(&console)?;
    let agent = Agent::start(&console, &temp.path().join("agent"), "rescan_secs = 60\n")?;
    let id = agent.id()?;
    wait_for("the agent to connect", Duration::from_secs(20), || {
        agent_connected(&api, &id).filter(|c| *c)
    })?;

    let revoked_at = Instant::now();
    let reply = api.post(
        &format!("/api/v1/agents/{id}/revoke"),
        serde_json::json!({}),
    )?;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["disconnected"], true);
    wait_for("the agent to be dropped", Duration::from_secs(1), || {
        agent_connected(&api, &id).filter(|c| !*c)
    })?;
    assert!(revoked_at.elapsed() < Duration::from_secs(1));

    // Its reconnection attempts now fail at the handshake.
    wait_for("a refused reconnection", Duration::from_secs(15), || {
        agent
            .log_text()
            .contains("connection to the console failed")
            .then_some(())
    })?;
    assert_eq!(agent_connected(&api, &id), Some(false));
    let agents = api.get("/api/v1/agents")?.body;
    assert!(agents[0]["revoked_at"].is_i64(), "{agents}");
    assert_eq!(agents[0]["online"], false);
    assert!(
        console
            .log_text()
            .contains("refused a revoked agent at the handshake")
    );
    Ok(())
}

#[test]
fn a_restarted_console_gets_its_agents_back_with_the_inventory_intact() -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let mut console = Console::start(&temp.path().join("console"))?;
    let mut api = Api::admin(&console)?;
    let config = certfleet_e2e::pem_fixture_config("sage.example.test");
    let agent = Agent::start(&console, &temp.path().join("agent"), &config)?;
    let id = agent.id()?;
    let count = |api: &Api| -> Option<usize> {
        Some(
            api.get("/api/v1/certificates").ok()?.body["items"]
                .as_array()?
                .len(),
        )
    };
    wait_for("the inventory", Duration::from_secs(20), || {
        count(&api).filter(|n| *n == 1)
    })?;

    console.restart()?;
    // The token of the old process is still a valid session: the key is in the data folder.
    assert_eq!(
        count(&api),
        Some(1),
        "inventory intact right after the restart"
    );
    wait_for("the agent to come back", Duration::from_secs(30), || {
        agent_connected(&api, &id).filter(|c| *c)
    })
    .map_err(|e| anyhow::anyhow!("{e}\n{}", agent.log_text()))?;
    api.token = None;
    assert_eq!(api.get("/api/v1/summary")?.status, 401);
    Ok(())
}

/// Client credentials of an enrolled agent whose process is not running.
fn credentials(
    dir: &Path,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let cert = pem::parse(std::fs::read(dir.join("agent.crt"))?)?.into_contents();
    let key = pem::parse(std::fs::read(dir.join("agent.key"))?)?.into_contents();
    Ok((
        vec![CertificateDer::from(cert)],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
    ))
}

#[test]
fn bad_frames_are_answered_and_other_agents_are_unaffected() -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let console = Console::start(&temp.path().join("console"))?;
    let api = Api::admin(&console)?;
    let bystander = Agent::start(
        &console,
        &temp.path().join("bystander"),
        "rescan_secs = 60\n",
    )?;
    let bystander_id = bystander.id()?;
    let raw_dir = temp.path().join("raw");
    Agent::enroll(&console.gateway_url(), &console.create_token()?, &raw_dir)
        .map_err(anyhow::Error::msg)?;
    let ca = console.ca_pem()?;
    wait_for("the bystander", Duration::from_secs(20), || {
        agent_connected(&api, &bystander_id).filter(|c| *c)
    })?;

    let rt = runtime();
    rt.block_on(async {
        let tls = tls_connect(console.gateway, tls_config(&ca, Some(credentials(&raw_dir)?))?).await?;
        let (ws, _) = tokio_tungstenite::client_async(format!("wss://localhost:{}/agent/v1", console.gateway.port()), tls).await?;
        let (mut tx, mut rx) = ws.split();
        let mut next_error = async || -> anyhow::Result<serde_json::Value> {
            loop {
                match tokio::time::timeout(Duration::from_secs(5), rx.next()).await? {
                    Some(Ok(Message::Text(t))) => {
                        let v: serde_json::Value = serde_json::from_str(&t)?;
                        if v["type"] == "error" {
                            return Ok(v["body"].clone());
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => anyhow::bail!("closed: {e}"),
                    None => anyhow::bail!("closed"),
                }
            }
        };
        // Before hello, nothing else is accepted.
        tx.send(Message::Text(r#"{"v":1,"id":"h0","type":"heartbeat","body":{"uptime_secs":1}}"#.into())).await?;
        assert_eq!(next_error().await?["code"], "hello_first");
        tx.send(Message::Text(r#"{"v":1,"id":"h1","type":"hello","body":{"agent_version":"test","protocol":1,"hostname":"raw","fqdn":"raw.test","os":"linux","arch":"x86_64"}}"#.into())).await?;
        tx.send(Message::Text("this is not json".into())).await?;
        assert_eq!(next_error().await?["code"], "frame_malformed");
        tx.send(Message::Text(r#"{"v":1,"id":"u1","type":"welcome","body":{}}"#.into())).await?;
        let unknown = next_error().await?;
        assert_eq!((unknown["code"].as_str(), unknown["of"].as_str()), (Some("type_unknown"), Some("u1")));
        tx.send(Message::Text(r#"{"v":1,"id":"i1","type":"inventory","body":{"hash":"00","snapshot":{"endpoints":[],"certificates":[]}}}"#.into())).await?;
        assert_eq!(next_error().await?["code"], "hash_mismatch");
        tx.send(Message::Binary(vec![1, 2, 3].into())).await?;
        assert_eq!(next_error().await?["code"], "frame_binary");
        // Over the 1 MiB limit: the connection is closed.
        let big = format!(r#"{{"v":1,"id":"b1","type":"heartbeat","body":{{"pad":"{}"}}}}"#, "x".repeat(1_100_000));
        let _ = tx.send(Message::Text(big.into())).await;
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match rx.next().await {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                    Some(Ok(_)) => continue,
                }
            }
        })
        .await
        .unwrap_or(false);
        assert!(closed, "an oversized frame closes the connection");
        anyhow::Ok(())
    })?;

    // The other agent never noticed.
    assert_eq!(agent_connected(&api, &bystander_id), Some(true));
    assert!(
        !bystander
            .log_text()
            .contains("connection to the console failed")
    );

    // A certificate from another CA, even naming an agent, does not get through the handshake.
    let foreign = TestCa::new("Not the console");
    let forged_id = "urn:certfleet:agent:00000000-0000-4000-8000-000000000000";
    let fake = foreign.client(forged_id);
    let result = rt.block_on(async {
        let tls = tls_connect(console.gateway, tls_config(&ca, Some(fake))?).await?;
        tokio_tungstenite::client_async(
            format!("wss://localhost:{}/agent/v1", console.gateway.port()),
            tls,
        )
        .await?;
        anyhow::Ok(())
    });
    assert!(
        result.is_err(),
        "a foreign client certificate must be refused"
    );

    // No certificate at all: enrolment works, the WebSocket does not.
    let result = rt.block_on(async {
        let tls = tls_connect(console.gateway, tls_config(&ca, None)?).await?;
        tokio_tungstenite::client_async(
            format!("wss://localhost:{}/agent/v1", console.gateway.port()),
            tls,
        )
        .await?;
        anyhow::Ok(())
    });
    let err = result.unwrap_err().to_string();
    assert!(err.contains("401"), "{err}");
    Ok(())
}

#[test]
fn start_up_refuses_a_foreign_database_and_a_second_console() -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let data = temp.path().join("bad/data");
    std::fs::create_dir_all(&data)?;
    let garbage = b"not a database but somebody's notes\n".repeat(50);
    std::fs::write(data.join("certfleet.db"), &garbage)?;
    let err = Console::start(&temp.path().join("bad"))
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("not a certfleet database"), "{err}");
    assert_eq!(
        std::fs::read(data.join("certfleet.db"))?,
        garbage,
        "nothing overwritten"
    );

    let first = Console::start(&temp.path().join("shared"))?;
    let err = Console::start(&temp.path().join("shared"))
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("already running"), "{err}");
    drop(first);
    Ok(())
}

#[test]
fn cookie_sessions_need_a_same_origin_for_changes() -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let console = Console::start(&temp.path().join("console"))?;
    let mut api = Api::admin(&console)?;
    let login = api.post(
        "/api/v1/login",
        serde_json::json!({ "username": "admin", "password": "a-long-new-password-for-tests" }),
    )?;
    let cookie_header = login.set_cookie.expect("a session cookie");
    assert!(
        cookie_header.contains("HttpOnly")
            && cookie_header.contains("Secure")
            && cookie_header.contains("SameSite=Strict")
    );
    let cookie = cookie_header
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    api.token = None;
    let host = format!("localhost:{}", console.api.port());
    let same = format!("https://{host}");
    // Reading with the cookie works; changing without a same-origin Origin does not.
    assert_eq!(
        api.request("GET", "/api/v1/tokens", None, &[("cookie", &cookie)])?
            .status,
        200
    );
    let cross = api.request(
        "POST",
        "/api/v1/tokens",
        Some(serde_json::json!({})),
        &[("cookie", &cookie), ("origin", "https://evil.example")],
    )?;
    assert_eq!(cross.status, 403, "{cross:?}");
    let none = api.request(
        "POST",
        "/api/v1/tokens",
        Some(serde_json::json!({})),
        &[("cookie", &cookie)],
    )?;
    assert_eq!(none.status, 403);
    let ok = api.request(
        "POST",
        "/api/v1/tokens",
        Some(serde_json::json!({})),
        &[("cookie", &cookie), ("origin", &same)],
    )?;
    assert_eq!(ok.status, 201, "{ok:?}");
    assert!(
        ok.body["commands"]["linux"]
            .as_str()
            .unwrap_or("")
            .contains("certfleet-agent enroll")
    );
    // An enrolment token is not a session.
    let token = ok.body["token"].as_str().unwrap_or_default().to_owned();
    api.token = Some(token);
    assert_eq!(api.get("/api/v1/summary")?.status, 401);
    Ok(())
}

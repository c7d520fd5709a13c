//! Which of an agent's certificates the console takes (THREATS.md names these tests): a real
//! console process, an agent identity enrolled and renewed over the real protocol, and a
//! console restored from a backup older than the agent's certificate.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use certfleet_e2e::Console;
use certfleet_e2e::api::Api;
use certfleet_e2e::swarm::{Enrolled, Socket, connect, enroll};
use certfleet_proto::{
    AgentMessage, ConsoleMessage, ErrorCode, Hello, RenewRequest, decode_from_console, encode,
};
use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::CertificateDer;
use tokio_tungstenite::tungstenite::Message;

fn copy(identity: &Enrolled) -> Enrolled {
    Enrolled {
        chain: identity.chain.clone(),
        key: identity.key.clone(),
    }
}

async fn answer(ws: &mut Socket) -> Result<ConsoleMessage> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .context("no answer in 10 s")?
            .context("closed")??;
        if let Message::Text(text) = message {
            match decode_from_console(&text) {
                // The trust list that follows the welcome is no answer to anything.
                Ok((_, ConsoleMessage::TrustList(_))) => continue,
                other => return other.map(|(_, m)| m).map_err(|e| anyhow::anyhow!("{e:?}")),
            }
        }
    }
}

/// Connects with `identity`, says hello, and asks for a renewal: the new identity, or the
/// console's refusal.
async fn renew(
    console: &Console,
    ca: &str,
    identity: Enrolled,
) -> Result<Result<Enrolled, ErrorCode>> {
    let mut ws = connect(console.gateway, ca, identity).await?;
    let hello = AgentMessage::Hello(Hello {
        agent_version: "identity".into(),
        protocol: 1,
        hostname: "id".into(),
        fqdn: "id.example.test".into(),
        os: "linux".into(),
        arch: "x86_64".into(),
        groups: vec![],
    });
    ws.send(Message::Text(encode("h", &hello).into())).await?;
    if !matches!(answer(&mut ws).await?, ConsoleMessage::Welcome(_)) {
        bail!("no welcome");
    }
    let key = rcgen::KeyPair::generate()?;
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&key)?
        .pem()?;
    let request = AgentMessage::RenewRequest(RenewRequest { csr_pem: csr });
    ws.send(Message::Text(encode("r", &request).into())).await?;
    let result = match answer(&mut ws).await? {
        ConsoleMessage::Renewed(r) => Ok(Enrolled {
            chain: vec![CertificateDer::from(
                pem::parse(r.certificate_pem)?.into_contents(),
            )],
            key: key.serialize_der(),
        }),
        ConsoleMessage::Error(e) => Err(e.code),
        other => bail!("unexpected {other:?}"),
    };
    let _ = ws.close(None).await;
    Ok(result)
}

fn database_files(console: &Console) -> Vec<std::path::PathBuf> {
    ["certfleet.db", "certfleet.db-wal", "certfleet.db-shm"]
        .iter()
        .map(|f| console.dir.join("data").join(f))
        .collect()
}

#[test]
fn an_old_agent_certificate_is_refused_and_a_restored_console_takes_a_newer_one_once() -> Result<()>
{
    let temp = tempfile::tempdir()?;
    let mut console = Console::start(&temp.path().join("console"))?;
    let ca = console.ca_pem()?;
    let api = Api::admin(&console)?;
    let token = console.create_token()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let first = runtime.block_on(enroll(&console, &ca, &token))?;

    // A backup taken now knows only the first certificate.
    console.kill();
    let backup = temp.path().join("backup");
    std::fs::create_dir_all(&backup)?;
    for file in database_files(&console) {
        if file.exists() {
            std::fs::copy(&file, backup.join(file.file_name().context("name")?))?;
        }
    }
    console.restart()?;

    // Two renewals (a second apart, so each expires later than the one before).
    std::thread::sleep(Duration::from_millis(1100));
    let second = runtime
        .block_on(renew(&console, &ca, copy(&first)))?
        .map_err(|c| anyhow::anyhow!("renewal refused: {c}"))?;
    std::thread::sleep(Duration::from_millis(1100));
    let third = runtime
        .block_on(renew(&console, &ca, copy(&second)))?
        .map_err(|c| anyhow::anyhow!("renewal refused: {c}"))?;

    // The first is two generations old: refused before the WebSocket opens.
    let refused = runtime.block_on(connect(console.gateway, &ca, copy(&first)));
    let error = refused.err().context("the oldest certificate got in")?;
    assert!(format!("{error:#}").contains("403"), "{error:#}");
    assert!(
        console
            .log_text()
            .contains("refused an agent certificate older")
    );
    // The one before the newest still connects (the renewal's overlap) but cannot renew.
    assert_eq!(
        runtime.block_on(renew(&console, &ca, copy(&second)))?.err(),
        Some(ErrorCode::CertificateOld)
    );
    runtime.block_on(connect(console.gateway, &ca, copy(&third)))?;

    // The console is restored from the backup: it knows only the first certificate. The
    // agent's newest is newer than its record: accepted once, recorded, audited.
    console.kill();
    for file in database_files(&console) {
        let _ = std::fs::remove_file(&file);
        let saved = backup.join(file.file_name().context("name")?);
        if saved.exists() {
            std::fs::copy(&saved, &file)?;
        }
    }
    console.restart()?;
    let renewed = runtime.block_on(renew(&console, &ca, copy(&third)))?;
    assert!(
        renewed.is_ok(),
        "the newest certificate renews: {:?}",
        renewed.err()
    );
    let audit = api.get("/api/v1/audit")?.body.to_string();
    assert!(audit.contains("agent.certificate_adopted"), "{audit}");
    // The second was never recorded by the restored console and is older than what it
    // took: refused.
    assert!(
        runtime
            .block_on(connect(console.gateway, &ca, copy(&second)))
            .is_err()
    );
    Ok(())
}

#[test]
fn a_token_made_for_one_host_does_not_enrol_another() -> Result<()> {
    let temp = tempfile::tempdir()?;
    let console = Console::start(&temp.path().join("console"))?;
    let api = Api::admin(&console)?;
    let ca = console.ca_pem()?;
    let token_for = |host: &str| -> Result<String> {
        let reply = api.post("/api/v1/tokens", serde_json::json!({ "host": host }))?;
        Ok(reply.body["token"].as_str().context("token")?.to_owned())
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // The simulated agent calls itself "swarm".
    let other = token_for("sage01.corp.local")?;
    let refused = runtime.block_on(enroll(&console, &ca, &other));
    let message = format!(
        "{:#}",
        refused
            .err()
            .context("enrolled with another host's token")?
    );
    assert!(
        message.contains("made for host sage01.corp.local"),
        "{message}"
    );
    let own = token_for("SWARM.corp.local")?;
    runtime.block_on(enroll(&console, &ca, &own))?;
    let audit = api.get("/api/v1/audit")?.body.to_string();
    assert!(audit.contains("token_host"), "{audit}");
    Ok(())
}

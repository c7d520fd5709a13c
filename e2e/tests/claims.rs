//! What an agent says about itself is a claim (THREATS.md names these tests): a real
//! console, and two agents speaking the real protocol over their own mTLS connections — an
//! honest host, and a compromised one that claims the honest host's certificate (its DER is
//! public: any client of the site can fetch it) on an endpoint of its own, a name that
//! sorts first, and a forged certificate.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use certfleet_e2e::Console;
use certfleet_e2e::api::Api;
use certfleet_e2e::pki::TestCa;
use certfleet_e2e::swarm::{connect, enroll};
use certfleet_proto::{
    AgentMessage, CertificateInfo, ConsoleMessage, DeployOutcome, Endpoint, EndpointKind,
    ErrorCode, Hello, Inventory, JobAction, JobResult, Snapshot, decode_from_console, encode,
};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const SITE: &str = "site.example.test";

fn info(pem_text: &str) -> Result<CertificateInfo> {
    let der = pem::parse(pem_text)?.into_contents();
    let cert = certfleet_certkit::Certificate::from_der(&der)?;
    Ok(CertificateInfo::of(&cert))
}

fn endpoint(key: &str, sha256: &str) -> Endpoint {
    Endpoint {
        key: key.into(),
        kind: EndpointKind::Pem,
        name: SITE.into(),
        address: None,
        config_path: None,
        configured_sha256: Some(sha256.into()),
        served_sha256: None,
        errors: vec![],
        findings: vec![],
    }
}

/// One agent: says hello as `hostname`, sends each of `inventories` in turn, answers every
/// deploy job as committed, and forwards every console message to the test.
async fn agent(
    console: &Console,
    ca: Arc<String>,
    hostname: &str,
    inventories: Vec<Snapshot>,
    seen: mpsc::UnboundedSender<(String, ConsoleMessage)>,
) -> Result<tokio::task::JoinHandle<Result<()>>> {
    let token = console.create_token()?;
    let identity = enroll(console, &ca, &token).await?;
    let ws = connect(console.gateway, &ca, identity).await?;
    let hostname = hostname.to_owned();
    Ok(tokio::spawn(async move {
        let (mut tx, mut rx) = ws.split();
        let mut n = 0;
        let mut frame = |m: AgentMessage| {
            n += 1;
            Message::Text(encode(&format!("{hostname}-{n}"), &m).into())
        };
        tx.send(frame(AgentMessage::Hello(Hello {
            agent_version: "claims".into(),
            protocol: 1,
            hostname: hostname.clone(),
            fqdn: format!("{hostname}.example.test"),
            os: "linux".into(),
            arch: "x86_64".into(),
            groups: vec!["web".into()],
        })))
        .await?;
        let mut inventories = inventories.into_iter();
        while let Some(message) = rx.next().await {
            let Message::Text(text) = message? else {
                continue;
            };
            let (_, message) = decode_from_console(&text).map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let answered = matches!(
                message,
                ConsoleMessage::Welcome(_) | ConsoleMessage::Ack(_) | ConsoleMessage::Error(_)
            );
            if let ConsoleMessage::Job(job) = &message
                && matches!(job.action, JobAction::Deploy { .. })
            {
                tx.send(frame(AgentMessage::JobResult(JobResult {
                    job_id: job.job_id.clone(),
                    ok: true,
                    detail: "no-op driver".into(),
                    outcome: Some(DeployOutcome::Committed),
                    csr_pem: None,
                })))
                .await?;
            }
            if seen.send((hostname.clone(), message)).is_err() {
                return Ok(());
            }
            if answered && let Some(next) = inventories.next() {
                tx.send(frame(AgentMessage::Inventory(Inventory::of(next))))
                    .await?;
            }
        }
        Ok(())
    }))
}

async fn next_of(
    seen: &mut mpsc::UnboundedReceiver<(String, ConsoleMessage)>,
    host: &str,
    what: impl Fn(&ConsoleMessage) -> bool,
) -> Result<ConsoleMessage> {
    let wait = async {
        while let Some((from, message)) = seen.recv().await {
            if from == host && what(&message) {
                return Ok(message);
            }
        }
        bail!("the agents stopped")
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .context("waited 30 s")?
}

#[test]
fn an_agent_claiming_another_hosts_endpoint_never_receives_its_key() -> Result<()> {
    let temp = tempfile::tempdir()?;
    let console = Console::start(&temp.path().join("console"))?;
    let api = Api::admin(&console)?;
    let ca = Arc::new(console.ca_pem()?);
    let test_ca = TestCa::new("Claims CA");
    let old = test_ca.server(&[SITE], 20);
    let old_info = info(&old.cert_pem)?;
    let renewal = test_ca.server(&[SITE], 365);

    // A forged certificate: another certificate's DER under the old one's SHA-256 (so the
    // console would store false facts about it, first-writer-wins), with lies about it.
    let other = info(&test_ca.server(&["bank.example.test"], 900).cert_pem)?;
    let mut forged = old_info.clone();
    forged.der_base64 = other.der_base64.clone();
    forged.not_after += 3_650 * 86_400;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    runtime.block_on(async {
        let honest = Snapshot {
            endpoints: vec![endpoint("pem:site", &old_info.sha256)],
            certificates: vec![old_info.clone()],
            trust: Vec::new(),
        };
        tasks.push(agent(&console, ca.clone(), "web01", vec![honest], seen_tx.clone()).await?);
        next_of(
            &mut seen,
            "web01",
            |m| matches!(m, ConsoleMessage::Ack(a) if a.hash.is_some()),
        )
        .await?;

        let forged_inventory = Snapshot {
            endpoints: vec![endpoint("pem:stolen", &forged.sha256)],
            certificates: vec![forged.clone()],
            trust: Vec::new(),
        };
        let claim = Snapshot {
            endpoints: vec![endpoint("pem:stolen", &old_info.sha256)],
            certificates: vec![old_info.clone()],
            trust: Vec::new(),
        };
        tasks.push(
            agent(
                &console,
                ca.clone(),
                "aaa",
                vec![forged_inventory, claim],
                seen_tx.clone(),
            )
            .await?,
        );
        let refused = next_of(&mut seen, "aaa", |m| matches!(m, ConsoleMessage::Error(_))).await?;
        let ConsoleMessage::Error(refused) = refused else {
            unreachable!()
        };
        assert_eq!(refused.code, ErrorCode::CertificateInvalid, "{refused:?}");
        assert!(
            refused.message.contains(&old_info.sha256),
            "{}",
            refused.message
        );
        next_of(
            &mut seen,
            "aaa",
            |m| matches!(m, ConsoleMessage::Ack(a) if a.hash.is_some()),
        )
        .await?;
        anyhow::Ok(())
    })?;
    // The forged facts were not stored: the old certificate's expiry is its DER's.
    let stored = api.get(&format!("/api/v1/certificates/{}", old_info.sha256))?;
    assert_eq!(stored.status, 200, "{stored:?}");
    assert_eq!(
        stored.body["not_after"], old_info.not_after,
        "{}",
        stored.body
    );
    assert!(console.log_text().contains("inventory refused"));

    let upload = api.post(
        "/api/v1/renewals",
        serde_json::json!({"certificate_pem": renewal.cert_pem, "key_pem": renewal.key_pem, "chain_pem": test_ca.pem}),
    )?;
    assert_eq!(upload.status, 201, "{upload:?}");
    let renewal_id = upload.body["id"].as_i64().context("renewal id")?;
    let plan = api
        .get(&format!("/api/v1/renewals/{renewal_id}/plan"))?
        .body;
    let row = |host: &str| {
        plan.as_array()
            .and_then(|rows| rows.iter().find(|p| p["hostname"] == host).cloned())
            .with_context(|| format!("{host} in the plan: {plan}"))
    };
    let (web01, aaa) = (row("web01")?, row("aaa")?);
    assert_eq!(web01["contested_by"], serde_json::Value::Null, "{web01}");
    assert_eq!(aaa["contested_by"], "web01", "{aaa}");
    assert_eq!(
        aaa["proposed"], true,
        "its names match: proposed, but not selected"
    );

    // Picked by hand, it is refused until accepted.
    let picked = api.post(
        "/api/v1/rollouts",
        serde_json::json!({"renewal_id": renewal_id, "targets": [{"host_id": aaa["host_id"], "endpoint_key": "pem:stolen"}]}),
    )?;
    assert_eq!(picked.status, 400, "{picked:?}");
    assert!(
        picked.body.to_string().contains("accept"),
        "{}",
        picked.body
    );

    // The default rollout, even narrowed to a group both claim, goes to the honest host only.
    let rollout = api.post(
        "/api/v1/rollouts",
        serde_json::json!({"renewal_id": renewal_id, "groups": ["web"]}),
    )?;
    assert_eq!(rollout.status, 201, "{rollout:?}");
    let rollout_id = rollout.body["id"].as_i64().context("rollout id")?;
    let detail = api.get(&format!("/api/v1/rollouts/{rollout_id}"))?.body;
    let targets = detail["targets"].as_array().context("targets")?;
    assert_eq!(targets.len(), 1, "{detail}");
    assert_eq!(targets[0]["host_id"], web01["host_id"], "{detail}");

    runtime.block_on(next_of(&mut seen, "web01", |m| {
        matches!(m, ConsoleMessage::Job(_))
    }))?;
    // Until the rollout ends, every message the compromised agent gets is watched.
    let mut jobs = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let state = api.get(&format!("/api/v1/rollouts/{rollout_id}"))?.body["state"].clone();
        while let Ok((from, m)) = seen.try_recv() {
            if from == "aaa" {
                jobs.push(m);
            }
        }
        if state == "succeeded" {
            break;
        }
        if std::time::Instant::now() > deadline {
            bail!("rollout still {state} after 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !jobs.iter().any(|m| matches!(m, ConsoleMessage::Job(_))),
        "the compromised agent got a job: {jobs:?}"
    );

    // An operator who knows better accepts it: audited, and the plan no longer holds it back.
    let accepted = api.post(
        &format!("/api/v1/hosts/{}/endpoints/accept", aaa["host_id"]),
        serde_json::json!({"endpoint_key": "pem:stolen"}),
    )?;
    assert_eq!(accepted.status, 200, "{accepted:?}");
    let plan = api
        .get(&format!("/api/v1/renewals/{renewal_id}/plan"))?
        .body;
    assert!(
        plan.as_array()
            .context("plan")?
            .iter()
            .all(|p| p["contested_by"].is_null()),
        "{plan}"
    );
    let audit = api.get("/api/v1/audit")?.body.to_string();
    assert!(audit.contains("host.endpoint_accepted"), "{audit}");

    // Now both take the next rollout, and the canary is the host the console knew first,
    // not the one whose self-chosen name sorts first.
    let second = api.post(
        "/api/v1/rollouts",
        serde_json::json!({"renewal_id": renewal_id}),
    )?;
    assert_eq!(second.status, 201, "{second:?}");
    let detail = api
        .get(&format!("/api/v1/rollouts/{}", second.body["id"]))?
        .body;
    let targets = detail["targets"].as_array().context("targets")?;
    assert_eq!(targets.len(), 2, "{detail}");
    let canary = targets
        .iter()
        .find(|t| t["wave"] == 0)
        .context("a canary")?;
    assert_eq!(canary["host_id"], web01["host_id"], "{detail}");
    for task in tasks {
        task.abort();
    }
    Ok(())
}

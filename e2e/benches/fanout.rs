//! Rollout fan-out: N simulated agents (one process, each its own enrolled certificate over
//! real mTLS) all use a certificate that one renewal replaces. A rollout with the canary
//! first and everyone else in the second wave; each agent answers its deploy job at once
//! with a committed result (a no-op driver). Measures, for the second wave, the time from
//! the canary's result to the last agent holding its job, and to the console having every
//! result (the rollout succeeded).
//!
//! cargo build --release -p certfleet-server
//! FANOUT_AGENTS=1000 cargo bench -p certfleet-e2e --bench fanout

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use certfleet_e2e::Console;
use certfleet_e2e::api::Api;
use certfleet_e2e::pki::TestCa;
use certfleet_e2e::swarm::{Enrolled, connect, enroll, listed_certificate};
use certfleet_proto::{
    AgentMessage, CertificateInfo, ConsoleMessage, DeployOutcome, Endpoint, Hello, Inventory,
    JobAction, JobResult, Snapshot, decode_from_console, encode,
};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

const NAME: &str = "fan.example.test";

fn snapshot(old: &CertificateInfo) -> Snapshot {
    Snapshot {
        endpoints: vec![Endpoint {
            key: "pem:fan".into(),
            kind: certfleet_proto::EndpointKind::Pem,
            name: NAME.into(),
            address: Some("127.0.0.1:9".into()),
            config_path: None,
            configured_sha256: Some(old.sha256.clone()),
            served_sha256: Some(old.sha256.clone()),
            errors: vec![],
            findings: vec![],
        }],
        certificates: vec![old.clone()],
        trust: Vec::new(),
    }
}

/// When each agent got its deploy job.
struct Seen {
    job_at: tokio::sync::mpsc::Sender<(usize, Instant)>,
    ready: tokio::sync::mpsc::Sender<()>,
}

async fn agent(
    index: usize,
    gateway: std::net::SocketAddr,
    ca: Arc<String>,
    identity: Enrolled,
    old: CertificateInfo,
    seen: Seen,
    mut done: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let ws = connect(gateway, &ca, identity).await?;
    let (mut tx, mut rx) = ws.split();
    let mut n = 0u64;
    let mut send = |m: AgentMessage| {
        n += 1;
        Message::Text(encode(&format!("{index}-{n}"), &m).into())
    };
    tx.send(send(AgentMessage::Hello(Hello {
        agent_version: "fanout".into(),
        protocol: 1,
        hostname: format!("fan{index:05}"),
        fqdn: format!("fan{index:05}.example.test"),
        os: "linux".into(),
        arch: "x86_64".into(),
        groups: vec![],
    })))
    .await?;
    let mut inventory_sent = false;
    loop {
        tokio::select! {
            _ = done.changed() => return Ok(()),
            frame = rx.next() => {
                let Some(Ok(Message::Text(text))) = frame else {
                    if frame.is_none() { return Ok(()) } else { continue }
                };
                match decode_from_console(&text) {
                    Ok((_, ConsoleMessage::Welcome(_))) if !inventory_sent => {
                        inventory_sent = true;
                        tx.send(send(AgentMessage::Inventory(Inventory::of(snapshot(&old))))).await?;
                    }
                    Ok((_, ConsoleMessage::Ack(a))) if a.hash.is_some() => {
                        seen.ready.send(()).await?;
                    }
                    Ok((_, ConsoleMessage::Job(job))) => {
                        if let JobAction::Deploy { .. } = job.action {
                            seen.job_at.send((index, Instant::now())).await?;
                            tx.send(send(AgentMessage::JobResult(JobResult {
                                job_id: job.job_id,
                                ok: true,
                                detail: "no-op driver".into(),
                                outcome: Some(DeployOutcome::Committed),
                                csr_pem: None,
                            }))).await?;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

fn main() -> Result<()> {
    let n: usize = std::env::var("FANOUT_AGENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let files = certfleet_e2e::swarm::raise_open_files()?;
    anyhow::ensure!(
        files as usize > n + 1_000,
        "{n} agents need {} open files; this process may have {files}",
        n + 1_000
    );
    let temp = tempfile::tempdir()?;
    let console = Console::start(temp.path())?;
    let api = Api::admin(&console)?;
    let ca = Arc::new(console.ca_pem()?);
    let test_ca = TestCa::new("Fan CA");
    let renewal = test_ca.server(&[NAME], 365);
    // Each host's own old certificate of the same name (a certificate copied to many
    // servers, renewed once).
    let signer = rcgen::KeyPair::generate()?;
    let expires = time::OffsetDateTime::now_utc() + time::Duration::days(20);
    let olds = (0..n)
        .map(|i| listed_certificate(&signer, &[NAME.to_owned()], i as u64 + 1, expires))
        .collect::<Result<Vec<_>>>()?;
    let mut tokens = Vec::with_capacity(n);
    for _ in 0..n {
        let reply = api.post("/api/v1/tokens", serde_json::json!({}))?;
        tokens.push(reply.body["token"].as_str().context("token")?.to_owned());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (job_tx, mut job_rx) = tokio::sync::mpsc::channel(n);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(n);
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let tasks = runtime.block_on(async {
        let limit = Arc::new(Semaphore::new(32));
        let mut enrolling = Vec::new();
        for token in tokens {
            let (limit, ca, console) = (limit.clone(), ca.clone(), &console);
            enrolling.push(async move {
                let _permit = limit.acquire().await?;
                enroll(console, &ca, &token).await
            });
        }
        let identities: Vec<Enrolled> = futures_util::future::try_join_all(enrolling).await?;
        let mut tasks = Vec::new();
        for (index, (identity, old)) in identities.into_iter().zip(olds).enumerate() {
            let seen = Seen {
                job_at: job_tx.clone(),
                ready: ready_tx.clone(),
            };
            tasks.push(tokio::spawn(agent(
                index,
                console.gateway,
                ca.clone(),
                identity,
                old,
                seen,
                done_rx.clone(),
            )));
            if index % 100 == 99 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        for _ in 0..n {
            tokio::time::timeout(Duration::from_secs(120), ready_rx.recv())
                .await
                .map_err(|_| anyhow!("not every agent stored its inventory within 120 s"))?;
        }
        anyhow::Ok(tasks)
    })?;
    println!("{n} agents connected, each with the old certificate");

    let reply = api.post(
        "/api/v1/renewals",
        serde_json::json!({"certificate_pem": renewal.cert_pem, "key_pem": renewal.key_pem, "chain_pem": test_ca.pem}),
    )?;
    let renewal_id = reply.body["id"].as_i64().context("renewal id")?;
    // The first host owns the name; an operator accepts every other host's claim once.
    let plan = api
        .get(&format!("/api/v1/renewals/{renewal_id}/plan"))?
        .body;
    let mut accepted = 0;
    for p in plan.as_array().context("plan")? {
        if p["contested_by"].is_string() {
            api.post(
                &format!("/api/v1/hosts/{}/endpoints/accept", p["host_id"]),
                serde_json::json!({"endpoint_key": p["endpoint_key"]}),
            )?;
            accepted += 1;
        }
    }
    println!("{accepted} endpoints accepted (their names were the first host's)");
    let clicked = Instant::now();
    let reply = api.post(
        "/api/v1/rollouts",
        serde_json::json!({"renewal_id": renewal_id, "wave_percent": 100}),
    )?;
    let rollout = reply.body["id"]
        .as_i64()
        .context(format!("rollout: {}", reply.body))?;
    let (first, canary_at) = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(30), job_rx.recv()).await })?
        .context("no canary job")?;
    let mut last_job = canary_at;
    let mut waits = Vec::with_capacity(n);
    runtime.block_on(async {
        for _ in 1..n {
            let (_, at) = tokio::time::timeout(Duration::from_secs(60), job_rx.recv())
                .await
                .map_err(|_| anyhow!("not every agent got its job within 60 s"))?
                .context("closed")?;
            last_job = last_job.max(at);
            waits.push(at - canary_at);
        }
        anyhow::Ok(())
    })?;
    let all_jobs = last_job - canary_at;
    waits.sort();
    let quantile = |p: f64| {
        waits
            .get(((waits.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let done = loop {
        let body = api.get(&format!("/api/v1/rollouts/{rollout}"))?.body;
        if body["state"] != "running" && body["state"] != "scheduled" {
            break body;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let finished = clicked.elapsed();
    for line in console
        .log_text()
        .lines()
        .filter(|l| l.contains("rollout jobs sent"))
    {
        println!("console: {line}");
    }
    println!(
        "click -> canary job (agent {first}): {:.1} ms",
        (canary_at - clicked).as_secs_f64() * 1000.0
    );
    println!(
        "second wave: {} agents held their deploy job {:.1} ms after the canary's (p50 {:.1} ms, p99 {:.1} ms)",
        n - 1,
        all_jobs.as_secs_f64() * 1000.0,
        quantile(0.50),
        quantile(0.99)
    );
    println!(
        "click -> rollout {} with every result stored: {:.1} ms ({})",
        done["state"],
        finished.as_secs_f64() * 1000.0,
        done["detail"]
    );
    done_tx.send(true)?;
    runtime.block_on(async {
        for task in tasks {
            let _ = task.await;
        }
    });
    Ok(())
}

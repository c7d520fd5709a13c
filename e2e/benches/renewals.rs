//! Renewals without uploads at scale: N simulated agents (one process, each enrolled with
//! its own certificate over real mTLS) each report one endpoint of its own name whose
//! certificate is past the `bench` group's renewal point. The console's renewal scheduler
//! does the rest with no click: a key request to each host (answered with a fresh ECDSA
//! key's CSR, made in the agent task as the real agent does), the issuing CA's signature, a
//! rollout per endpoint and its deploy job (answered committed by a no-op driver). Measures,
//! from the first key request, when the last host got its deploy job and when the console
//! recorded every renewal verified; and, per endpoint, key request → deploy job.
//!
//! cargo build --release -p certfleet-server
//! RENEWAL_AGENTS=1000 cargo bench -p certfleet-e2e --bench renewals

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use certfleet_e2e::Console;
use certfleet_e2e::api::Api;
use certfleet_e2e::swarm::{Enrolled, connect, enroll, listed_certificate};
use certfleet_proto::{
    AgentMessage, CertificateInfo, ConsoleMessage, DeployOutcome, Endpoint, Hello, Inventory,
    JobAction, JobResult, Snapshot, decode_from_console, encode,
};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

fn name(index: usize) -> String {
    format!("host{index:05}.bench.test")
}

fn snapshot(index: usize, old: &CertificateInfo) -> Snapshot {
    Snapshot {
        endpoints: vec![Endpoint {
            key: "pem:site".into(),
            kind: certfleet_proto::EndpointKind::Pem,
            name: name(index),
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

/// What each agent saw, and when.
enum Seen {
    Ready,
    KeyRequest(usize, Instant),
    Deploy(usize, Instant),
}

async fn agent(
    index: usize,
    gateway: std::net::SocketAddr,
    ca: Arc<String>,
    identity: Enrolled,
    old: CertificateInfo,
    seen: tokio::sync::mpsc::Sender<Seen>,
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
        agent_version: "renewals".into(),
        protocol: 1,
        hostname: format!("host{index:05}"),
        fqdn: name(index),
        os: "linux".into(),
        arch: "x86_64".into(),
        groups: vec!["bench".into()],
    })))
    .await?;
    let mut inventory_sent = false;
    let mut key: Option<rcgen::KeyPair> = None;
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
                        tx.send(send(AgentMessage::Inventory(Inventory::of(snapshot(index, &old))))).await?;
                    }
                    Ok((_, ConsoleMessage::Ack(a))) if a.hash.is_some() => {
                        seen.send(Seen::Ready).await?;
                    }
                    Ok((_, ConsoleMessage::Job(job))) => match job.action {
                        JobAction::KeyRequest { names, .. } => {
                            seen.send(Seen::KeyRequest(index, Instant::now())).await?;
                            // Asked again, the same key answers, as on a real host.
                            let pair = match key.take() {
                                Some(pair) => pair,
                                None => rcgen::KeyPair::generate()?,
                            };
                            let csr = rcgen::CertificateParams::new(names)?
                                .serialize_request(&pair)?
                                .pem()?;
                            key = Some(pair);
                            tx.send(send(AgentMessage::JobResult(JobResult {
                                job_id: job.job_id,
                                ok: true,
                                detail: "key kept".into(),
                                outcome: None,
                                csr_pem: Some(csr),
                            }))).await?;
                        }
                        JobAction::Deploy { pending_key, .. } => {
                            anyhow::ensure!(pending_key.is_some(), "a deploy job without the host's key");
                            seen.send(Seen::Deploy(index, Instant::now())).await?;
                            tx.send(send(AgentMessage::JobResult(JobResult {
                                job_id: job.job_id,
                                ok: true,
                                detail: "no-op driver".into(),
                                outcome: Some(DeployOutcome::Committed),
                                csr_pem: None,
                            }))).await?;
                        }
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
    }
}

/// How many endpoints' last renewal is verified, and how many failed (the schedule lists
/// every endpoint under a policy, with its last renewal).
fn verified(api: &Api) -> Result<(usize, usize)> {
    let rows = api.get("/api/v1/renewals/schedule")?.body;
    let rows = rows.as_array().cloned().unwrap_or_default();
    let count = |state: &str| rows.iter().filter(|r| r["last"]["state"] == state).count();
    Ok((count("verified"), count("failed")))
}

fn main() -> Result<()> {
    let n: usize = std::env::var("RENEWAL_AGENTS")
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
    let policy = "[{group = \"bench\", source = \"internal_ca\", validity_days = 90, \
                  renew_before_days = 30, allowed_domains = [\"bench.test\"]}]";
    // No pass while the hosts enrol (an hour apart); the console is then restarted with a
    // pass every second, so the n endpoints come due together as their inventories land.
    let mut console = Console::start_with_env(
        temp.path(),
        &[
            ("CERTFLEET_RENEWALS__CHECK_SECS", "3600"),
            ("CERTFLEET_RENEWALS__POLICY", policy),
        ],
    )?;
    let api = Api::admin(&console)?;
    let ca = Arc::new(console.ca_pem()?);
    let signer = rcgen::KeyPair::generate()?;
    let expires = time::OffsetDateTime::now_utc() + time::Duration::days(20);
    let olds = (0..n)
        .map(|i| listed_certificate(&signer, &[name(i)], i as u64 + 1, expires))
        .collect::<Result<Vec<_>>>()?;
    let mut tokens = Vec::with_capacity(n);
    for _ in 0..n {
        let reply = api.post("/api/v1/tokens", serde_json::json!({}))?;
        tokens.push(reply.body["token"].as_str().context("token")?.to_owned());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::channel(4 * n);
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let identities = runtime.block_on(async {
        let limit = Arc::new(Semaphore::new(32));
        let mut enrolling = Vec::new();
        for token in tokens {
            let (limit, ca, console) = (limit.clone(), ca.clone(), &console);
            enrolling.push(async move {
                let _permit = limit.acquire().await?;
                enroll(console, &ca, &token).await
            });
        }
        futures_util::future::try_join_all(enrolling).await
    })?;
    // Restarted with passes every second: the first one finds all n endpoints due at once.
    console.restart_with_env(&[("CERTFLEET_RENEWALS__CHECK_SECS", "1")])?;
    let tasks = runtime.block_on(async {
        let mut tasks = Vec::new();
        for (index, (identity, old)) in identities.into_iter().zip(olds).enumerate() {
            tasks.push(tokio::spawn(agent(
                index,
                console.gateway,
                ca.clone(),
                identity,
                old,
                seen_tx.clone(),
                done_rx.clone(),
            )));
            if index % 100 == 99 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        tasks
    });
    let mut requested = vec![None; n];
    let mut deployed = vec![None; n];
    let (mut ready, mut deploys) = (0, 0);
    let mut first_request: Option<Instant> = None;
    let mut last_deploy = Instant::now();
    runtime.block_on(async {
        while deploys < n {
            let event = tokio::time::timeout(Duration::from_secs(300), seen_rx.recv())
                .await
                .map_err(|_| anyhow!("after 300 s: {ready} ready, {deploys} of {n} deploy jobs"))?
                .context("closed")?;
            match event {
                Seen::Ready => ready += 1,
                Seen::KeyRequest(i, at) => {
                    first_request.get_or_insert(at);
                    requested[i].get_or_insert(at);
                }
                Seen::Deploy(i, at) => {
                    if deployed[i].is_none() {
                        deployed[i] = Some(at);
                        deploys += 1;
                        last_deploy = at;
                    }
                }
            }
        }
        anyhow::Ok(())
    })?;
    let first = first_request.context("no key request")?;
    let all_verified = loop {
        let (ok, failed) = verified(&api)?;
        anyhow::ensure!(
            failed == 0,
            "{failed} renewals failed:\n{}",
            console.log_text()
        );
        if ok == n {
            break first.elapsed();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut latencies: Vec<Duration> = requested
        .iter()
        .zip(&deployed)
        .filter_map(|(r, d)| Some((*d)? - (*r)?))
        .collect();
    latencies.sort();
    let quantile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!("{n} endpoints due, each on its own host, renewed by the internal CA:");
    println!(
        "first key request -> last deploy job: {:.0} ms; -> every renewal verified: {:.0} ms",
        (last_deploy - first).as_secs_f64() * 1000.0,
        all_verified.as_secs_f64() * 1000.0
    );
    println!(
        "per endpoint, key request -> deploy job: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        quantile(0.5),
        quantile(0.99),
        quantile(1.0)
    );
    done_tx.send(true)?;
    runtime.block_on(async {
        for task in tasks {
            let _ = task.await;
        }
    });
    Ok(())
}

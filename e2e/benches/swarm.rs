//! A swarm of agents in one process against a real console: each with its own enrolled
//! certificate, speaking the real protocol over real mTLS WebSockets. Measures the console's
//! memory per connected agent, the time for all to connect and deliver a first inventory,
//! and the inventory ingest rate.
//!
//! cargo build --release -p certfleet-server
//! SWARM_AGENTS=1000 cargo bench -p certfleet-e2e --bench swarm

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use certfleet_e2e::Console;
use certfleet_e2e::api::Api;
use certfleet_e2e::swarm::{Enrolled, enroll, listed_certificate};
use certfleet_proto::{
    AgentMessage, CertificateInfo, ConsoleMessage, Endpoint, Hello, Inventory, Snapshot,
    decode_from_console, encode,
};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

/// Changed inventories each agent sends in the ingest phase.
const INGEST_ROUNDS: usize = 5;

fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS"))
}

/// Agent `agent`'s inventory in `round`: two certificates of its own, new ones each round.
fn snapshot(signer: &rcgen::KeyPair, agent: usize, round: usize) -> Result<Snapshot> {
    let certificates = (0..2)
        .map(|i| {
            let serial = (agent as u64) << 16 | (round as u64) << 8 | i;
            let expires =
                time::OffsetDateTime::from_unix_timestamp(1_900_000_000 + (agent * 3600) as i64)?;
            listed_certificate(
                signer,
                &[format!("host{agent}-{i}.example.test")],
                serial,
                expires,
            )
        })
        .collect::<Result<Vec<CertificateInfo>>>()?;
    let endpoints = certificates
        .iter()
        .enumerate()
        .map(|(i, c)| Endpoint {
            key: format!("pem:site{i}"),
            kind: certfleet_proto::EndpointKind::Pem,
            name: c.dns_names[0].clone(),
            address: Some(format!("127.0.0.1:{}", 8000 + i)),
            config_path: None,
            configured_sha256: Some(c.sha256.clone()),
            served_sha256: Some(c.sha256.clone()),
            errors: vec![],
            findings: vec![],
        })
        .collect();
    Ok(Snapshot {
        endpoints,
        certificates,
        trust: Vec::new(),
    })
}

/// How the swarm's driver and its agents signal each other.
struct Signals {
    /// Sent once connected with a first inventory stored.
    connected: tokio::sync::mpsc::Sender<()>,
    go_ingest: tokio::sync::watch::Receiver<bool>,
    /// Sent once per changed inventory acknowledged.
    ingested: tokio::sync::mpsc::Sender<()>,
    done: tokio::sync::watch::Receiver<bool>,
    /// Held while connecting, to bound simultaneous handshakes.
    connecting: tokio::sync::OwnedSemaphorePermit,
}

/// Connects, says hello, sends the first inventory, waits for its ack; then, when told,
/// sends `INGEST_ROUNDS` changed inventories one after another. Holds the connection until
/// `done` fires.
async fn agent(
    index: usize,
    console_gateway: std::net::SocketAddr,
    ca: Arc<String>,
    identity: Enrolled,
    snapshots: Vec<Snapshot>,
    signals: Signals,
) -> Result<()> {
    let Signals {
        connected,
        mut go_ingest,
        ingested,
        mut done,
        connecting,
    } = signals;
    let ws = certfleet_e2e::swarm::connect(console_gateway, &ca, identity).await?;
    let (mut tx, mut rx) = ws.split();
    let send =
        |m: AgentMessage| Message::Text(encode(&format!("{index}-{}", rand_id()), &m).into());
    tx.send(send(AgentMessage::Hello(Hello {
        agent_version: "swarm".into(),
        protocol: 1,
        hostname: format!("host{index}"),
        fqdn: format!("host{index}.example.test"),
        os: "linux".into(),
        arch: "x86_64".into(),
        groups: vec![],
    })))
    .await?;
    let mut wait_for = async |kind: &str| -> Result<()> {
        loop {
            match rx.next().await {
                Some(Ok(Message::Text(t))) => match decode_from_console(&t) {
                    Ok((_, ConsoleMessage::Error(e))) => bail!("console error: {}", e.message),
                    Ok((_, m)) if kind == "welcome" && matches!(m, ConsoleMessage::Welcome(_)) => {
                        return Ok(());
                    }
                    Ok((_, m)) if kind == "ack" && matches!(m, ConsoleMessage::Ack(_)) => {
                        return Ok(());
                    }
                    _ => {}
                },
                Some(Ok(_)) => {}
                Some(Err(e)) => bail!("{e}"),
                None => bail!("closed"),
            }
        }
    };
    wait_for("welcome").await?;
    let mut snapshots = snapshots.into_iter();
    let first = snapshots.next().context("no first inventory")?;
    tx.send(send(AgentMessage::Inventory(Inventory::of(first))))
        .await?;
    wait_for("ack").await?;
    drop(connecting);
    connected.send(()).await?;
    go_ingest.changed().await?;
    for changed in snapshots {
        tx.send(send(AgentMessage::Inventory(Inventory::of(changed))))
            .await?;
        wait_for("ack").await?;
        ingested.send(()).await?;
    }
    let _ = done.changed().await;
    Ok(())
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn main() -> Result<()> {
    let n: usize = std::env::var("SWARM_AGENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let temp = tempfile::tempdir()?;
    let console = Console::start(temp.path())?;
    let pid = console.pid().context("console pid")?;
    let api = Api::admin(&console)?;
    let ca = Arc::new(console.ca_pem()?);
    // Real certificates, made before anything is timed: the console reads each DER.
    let made = Instant::now();
    let signer = rcgen::KeyPair::generate()?;
    let mut inventories = (0..n)
        .map(|agent| {
            (0..=INGEST_ROUNDS)
                .map(|round| snapshot(&signer, agent, round))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter();
    println!(
        "certificates: {} made in {:.1} s",
        n * (INGEST_ROUNDS + 1) * 2,
        made.elapsed().as_secs_f64()
    );

    let rss_idle = rss_kib(pid)?;
    println!("swarm of {n} agents against a release console (pid {pid}), idle RSS {rss_idle} KiB");
    let started = Instant::now();
    let mut tokens = Vec::with_capacity(n);
    for _ in 0..n {
        let reply = api.post("/api/v1/tokens", serde_json::json!({}))?;
        tokens.push(reply.body["token"].as_str().context("token")?.to_owned());
    }
    println!("tokens: {n} in {:.1} s", started.elapsed().as_secs_f64());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let started = Instant::now();
        let limit = Arc::new(Semaphore::new(32));
        let mut enrolling = Vec::new();
        for token in tokens {
            let limit = limit.clone();
            let ca = ca.clone();
            let console = &console;
            enrolling.push(async move {
                let _permit = limit.acquire().await?;
                enroll(console, &ca, &token).await
            });
        }
        let identities: Vec<Enrolled> = futures_util::future::try_join_all(enrolling).await?;
        println!("enrolments: {n} in {:.1} s", started.elapsed().as_secs_f64());

        let rss_before = rss_kib(pid)?;
        println!("console RSS after enrolments: {rss_before} KiB");
        let (connected_tx, mut connected_rx) = tokio::sync::mpsc::channel(n);
        let (ingested_tx, mut ingested_rx) = tokio::sync::mpsc::channel(n * INGEST_ROUNDS);
        let (go_tx, go_rx) = tokio::sync::watch::channel(false);
        let (done_tx, done_rx) = tokio::sync::watch::channel(false);
        let started = Instant::now();
        let connect_limit = Arc::new(Semaphore::new(200));
        let mut tasks = Vec::new();
        for (index, identity) in identities.into_iter().enumerate() {
            let signals = Signals {
                connected: connected_tx.clone(),
                go_ingest: go_rx.clone(),
                ingested: ingested_tx.clone(),
                done: done_rx.clone(),
                connecting: connect_limit.clone().acquire_owned().await?,
            };
            tasks.push(tokio::spawn(agent(
                index,
                console.gateway,
                ca.clone(),
                identity,
                inventories.next().context("an inventory per agent")?,
                signals,
            )));
        }
        for _ in 0..n {
            tokio::time::timeout(Duration::from_secs(120), connected_rx.recv())
                .await
                .map_err(|_| anyhow!("not all agents connected within 120 s"))?;
        }
        let connect_secs = started.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss_after = rss_kib(pid)?;

        let started = Instant::now();
        go_tx.send(true)?;
        for _ in 0..n * INGEST_ROUNDS {
            tokio::time::timeout(Duration::from_secs(300), ingested_rx.recv())
                .await
                .map_err(|_| anyhow!("ingest did not finish within 300 s"))?;
        }
        let ingest_secs = started.elapsed().as_secs_f64();
        let rss_final = rss_kib(pid)?;

        println!("all {n} connected with a first inventory stored: {connect_secs:.2} s");
        println!(
            "console RSS with {n} connected: {rss_after} KiB -> {:.1} KiB per agent over the idle console, {:.1} KiB over the enrolled one",
            (rss_after.saturating_sub(rss_idle)) as f64 / n as f64,
            (rss_after.saturating_sub(rss_before)) as f64 / n as f64
        );
        println!(
            "ingest: {} changed inventories (2 endpoints, 2 certificates each) in {ingest_secs:.2} s -> {:.0} per second",
            n * INGEST_ROUNDS,
            (n * INGEST_ROUNDS) as f64 / ingest_secs
        );
        println!("console RSS after ingest: {rss_final} KiB");
        done_tx.send(true)?;
        for task in tasks {
            task.await??;
        }
        anyhow::Ok(())
    })
}

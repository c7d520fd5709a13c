//! The agent's own footprint, a real agent against a real console on loopback: the stripped
//! release binary's size (Linux, and the Windows one when it was built), its CPU while idle
//! at the console's default heartbeat, and its memory after 1,000 heartbeats (the console
//! restarted with `heartbeat_ms = 20`, so they take seconds, not hours). Its config lists
//! five PEM endpoints, so every rescan reads and judges certificates.
//!
//! cargo build --release -p certfleet-server -p certfleet-agent
//! cargo bench -p certfleet-e2e --bench agent
//!
//! `AGENT_IDLE_SECS` (default 60) is how long idle CPU is measured.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use certfleet_e2e::api::Api;
use certfleet_e2e::swarm::{cpu_seconds, peak_rss_kib, rss_kib};
use certfleet_e2e::{Agent, Console, bin, wait_for};

const HEARTBEATS: f64 = 1000.0;

fn main() -> Result<()> {
    let idle_secs: u64 = std::env::var("AGENT_IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    // The agent as shipped (`--profile agent`) when it was built, else the release build.
    let release = bin("certfleet-agent");
    let shipped = release
        .parent()
        .and_then(Path::parent)
        .map(|target| target.join("agent/certfleet-agent"))
        .filter(|p| p.exists());
    // The release build here is the one the benches share with the console, so it carries
    // the features the console's dependencies turn on: larger than the agent built alone.
    let mut rows = vec![size_row(
        "stripped release binary, Linux x86_64 (built with the console's features)",
        &release,
    )?];
    if let Some(exe) = &shipped {
        rows.push(size_row("the same built with `--profile agent`", exe)?);
    }
    // The Windows builds sit beside the host's: <target>/x86_64-pc-windows-gnu/<profile>.
    for (profile, figure) in [
        ("release", "stripped release binary, Windows x86_64"),
        (
            "agent",
            "the same built with `--profile agent` (what scripts/test.sh builds)",
        ),
    ] {
        let exe = release
            .parent()
            .and_then(Path::parent)
            .map(|target| {
                target.join(format!(
                    "x86_64-pc-windows-gnu/{profile}/certfleet-agent.exe"
                ))
            })
            .filter(|p| p.exists());
        match exe {
            Some(exe) => rows.push(size_row(figure, &exe)?),
            None => println!(
                "no Windows {profile} build: `cargo build --profile {profile} -p certfleet-agent \
                 --target x86_64-pc-windows-gnu` adds its size"
            ),
        }
    }

    let temp = tempfile::tempdir()?;
    let mut console = Console::start(&temp.path().join("console"))?;
    let api = Api::admin(&console)?;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/certkit/tests/fixtures");
    let config: String = (1..=5)
        .map(|i| {
            format!(
                "[[pem]]\nname = \"app{i}.example.test\"\ncertificate = \"{}\"\nkey = \"{}\"\n",
                fixtures.join("leaf.pem").display(),
                fixtures.join("key-pkcs8.pem").display()
            )
        })
        .collect();
    let measured = shipped.as_ref().unwrap_or(&release);
    println!("measuring {}", measured.display());
    let agent = Agent::start_binary(measured, &console, &temp.path().join("agent"), &config)?;
    let pid = agent.pid().context("agent pid")?;
    let connections = |agent: &Agent| agent.log_text().matches("connected to").count();
    wait_for("the agent to connect", Duration::from_secs(30), || {
        (connections(&agent) >= 1).then_some(())
    })?;
    // Its first inventory sent and the start-up's allocations settled.
    std::thread::sleep(Duration::from_secs(5));
    let rss_start = rss_kib(pid)?;
    let cpu_before = cpu_seconds(pid)?;
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(idle_secs));
    let idle_cpu = (cpu_seconds(pid)? - cpu_before) / started.elapsed().as_secs_f64();
    // The kernel counts CPU time in ticks of 10 ms: less than one is below what it shows.
    let tick = 0.01 / idle_secs as f64;
    rows.push(row(
        &format!("idle CPU (heartbeat every 30 s, over {idle_secs} s)"),
        if idle_cpu < tick {
            format!("< {:.3} % (not one 10 ms tick)", 100.0 * tick)
        } else {
            format!("{:.3} %", 100.0 * idle_cpu)
        },
        "< 0.1 %",
    ));
    rows.push(row(
        "RSS idle, connected",
        format!("{:.1} MiB", rss_start as f64 / 1024.0),
        "",
    ));

    let beats = |api: &Api| api.metric("certfleet_frames_in_total");
    console.restart_with_env(&[("CERTFLEET_HEARTBEAT_MS", "20")])?;
    wait_for("the agent to reconnect", Duration::from_secs(60), || {
        (connections(&agent) >= 2).then_some(())
    })?;
    let from = wait_for("the console's metrics", Duration::from_secs(10), || {
        beats(&api).ok()
    })?;
    let beating = Instant::now();
    wait_for("1,000 heartbeats", Duration::from_secs(120), || {
        beats(&api)
            .ok()
            .filter(|n| n - from >= HEARTBEATS)
            .map(|_| ())
    })?;
    let took = beating.elapsed();
    let rss = rss_kib(pid)?;
    rows.push(row(
        &format!(
            "RSS after 1,000 heartbeats at 20 ms ({:.1} s)",
            took.as_secs_f64()
        ),
        format!(
            "{:.1} MiB (peak {:.1} MiB)",
            rss as f64 / 1024.0,
            peak_rss_kib(pid)? as f64 / 1024.0
        ),
        "≤ 8 MiB",
    ));
    if agent.log_text().contains("ERROR") {
        bail!("the agent logged errors:\n{}", agent.log_text());
    }

    println!("\n| agent figure | measured | goal |\n| --- | --- | --- |");
    for r in rows {
        println!("{r}");
    }
    Ok(())
}

fn row(figure: &str, measured: String, goal: &str) -> String {
    format!("| {figure} | {measured} | {goal} |")
}

fn size_row(figure: &str, path: &Path) -> Result<String> {
    let bytes = std::fs::metadata(path)
        .with_context(|| format!("{}", path.display()))?
        .len();
    Ok(row(
        figure,
        format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0)),
        "≤ 6 MiB",
    ))
}

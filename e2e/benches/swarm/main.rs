//! A swarm of agents in one process against a real release console, and the same swarm
//! against a bare rustls + tokio-tungstenite server (the stack's floor), in one run. Each
//! agent has its own certificate, enrolled through the real enrolment path, and speaks the
//! real protocol over real mTLS WebSockets with a realistic inventory (1 to 20 real
//! certificates). Measures: the connect storm on a cold console and every first inventory
//! stored; ingest of unchanged and changed inventories; memory per connected agent; the
//! overview and expiring list while ingesting; the reconnect storm after the console is
//! killed and started again; a broadcast to every connection on the bare server. Prints
//! the table BENCHMARKS.md holds.
//!
//! cargo build --release -p certfleet-server
//! SWARM_AGENTS=10000 cargo bench -p certfleet-e2e --bench swarm

mod agent;
mod bare;
mod inventory;
mod probe;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use certfleet_e2e::Console;
use certfleet_e2e::api::Api;
pub use certfleet_e2e::swarm::rss_kib;
use certfleet_e2e::swarm::{Enrolled, agent_tls, enroll, raise_open_files, source_address};
use certfleet_proto::{AgentMessage, Inventory};
use tokio::sync::{mpsc, watch};

use agent::{Agent, Command, Event, Tally};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One row of the printed table.
struct Row {
    figure: String,
    console: String,
    bare: String,
    goal: String,
}

fn row(figure: &str, console: String, bare: String, goal: &str) -> Row {
    Row {
        figure: figure.to_owned(),
        console,
        bare,
        goal: goal.to_owned(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Ends the run when it takes longer than `limit`: kills every console and bare server this
/// run started (they are found by the data folder on their command line) and exits.
fn watchdog(limit: Duration, dir: std::path::PathBuf) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("the swarm ran out of its {} s: stopping", limit.as_secs());
        let _ = std::process::Command::new("pkill")
            .args(["-KILL", "-f"])
            .arg(dir.as_os_str())
            .status();
        std::process::exit(2);
    });
}

/// CPU seconds used so far by the console and by this process, and when.
fn cpu(console: u32) -> Result<(f64, f64, Instant)> {
    Ok((
        certfleet_e2e::swarm::cpu_seconds(console)?,
        certfleet_e2e::swarm::cpu_seconds(std::process::id())?,
        Instant::now(),
    ))
}

/// What the console's ingest writer logged: one line per transaction with the certificate
/// rows it added and the milliseconds it took.
#[derive(Debug, Default)]
struct WriterLog {
    rows: u64,
    ms: f64,
    transactions: u64,
}

impl WriterLog {
    fn read(log: &str) -> Self {
        let mut seen = WriterLog::default();
        for line in log.lines() {
            // The message, then the fields (tracing's default format).
            let Some((_, took)) = line.split_once("ingest batch stored: ") else {
                continue;
            };
            let rows = line
                .split_whitespace()
                .find_map(|f| f.strip_prefix("certificates_added="))
                .and_then(|v| v.parse::<u64>().ok());
            let ms = took
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok());
            if let (Some(rows), Some(ms)) = (rows, ms) {
                seen.rows += rows;
                seen.ms += ms;
                seen.transactions += 1;
            }
        }
        seen
    }
}

fn report_cpu(phase: &str, before: (f64, f64, Instant), after: (f64, f64, Instant)) {
    println!(
        "CPU during {phase}: console {:.1} s, swarm {:.1} s, in {:.1} s",
        after.0 - before.0,
        after.1 - before.1,
        (after.2 - before.2).as_secs_f64()
    );
}

/// Does `start`, then waits until all `n` agents had an inventory of `round` stored; how
/// long that took.
async fn all_stored(
    events: &mut mpsc::UnboundedReceiver<Event>,
    n: usize,
    round: usize,
    what: &str,
    start: impl FnOnce(),
) -> Result<Duration> {
    let started = Instant::now();
    start();
    let mut stored = 0;
    until(events, Duration::from_secs(300), what, |e| {
        if matches!(e, Event::Stored { round: r } if r == round) {
            stored += 1;
        }
        stored == n
    })
    .await?;
    Ok(started.elapsed())
}

/// Waits for events until `done` says the phase is over, or fails after `limit`.
async fn until(
    events: &mut mpsc::UnboundedReceiver<Event>,
    limit: Duration,
    what: &str,
    mut done: impl FnMut(Event) -> bool,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) => {
                if done(event) {
                    return Ok(());
                }
            }
            Ok(None) => bail!("the swarm ended during {what}"),
            Err(_) => bail!("{what} did not finish within {} s", limit.as_secs()),
        }
    }
}

fn main() -> Result<()> {
    if let Some(dir) = std::env::var_os(bare::MODE) {
        return bare::serve(std::path::Path::new(&dir));
    }
    let n = env("SWARM_AGENTS", 10_000);
    let max_certificates = env("SWARM_CERTS", 20);
    let run_limit = Duration::from_secs(env("SWARM_SECONDS", 900) as u64);
    let deadline = Instant::now() + run_limit;
    let files = raise_open_files()?;
    if (files as usize) < n + 1_000 {
        bail!(
            "{n} agents need {} open files; this process may have {files}",
            n + 1_000
        );
    }
    let temp = tempfile::tempdir()?;
    let mut console = Console::start(&temp.path().join("console"))?;
    watchdog(run_limit, temp.path().to_path_buf());
    let api = Api::admin(&console)?;
    let ca = console.ca_pem()?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();

    // The fleet, made before anything is timed: two inventories per agent, the first and
    // one after a renewal of one of its certificates.
    let made = Instant::now();
    let plans: Vec<inventory::HostPlan> = (0..n)
        .map(|a| inventory::HostPlan::new(a, max_certificates))
        .collect();
    let threads = std::thread::available_parallelism().map_or(2, |p| p.get());
    let chunk = n.div_ceil(threads);
    let issuing_ca = certfleet_e2e::pki::TestCa::new("Swarm Issuing CA");
    let issuing_ca = &issuing_ca;
    let inventories: Vec<Vec<Inventory>> = std::thread::scope(|scope| {
        let handles: Vec<_> = plans
            .chunks(chunk)
            .enumerate()
            .map(|(c, plans)| {
                scope.spawn(move || -> Result<Vec<Vec<Inventory>>> {
                    let leaf_key = rcgen::KeyPair::generate()?;
                    plans
                        .iter()
                        .enumerate()
                        .map(|(i, plan)| {
                            let agent = c * chunk + i;
                            Ok(
                                inventory::snapshots(issuing_ca, &leaf_key, agent, plan, 2, now)?
                                    .into_iter()
                                    .map(Inventory::of)
                                    .collect(),
                            )
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow!("a fleet thread panicked"))?)
            .collect::<Result<Vec<_>>>()
            .map(|parts| parts.into_iter().flatten().collect())
    })?;
    let first_rows: usize = plans.iter().map(|p| p.count).sum();
    println!(
        "fleet: {n} hosts, {first_rows} certificates in first inventories, made in {:.1} s",
        made.elapsed().as_secs_f64()
    );

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
    let identities: Vec<Enrolled> = runtime.block_on(async {
        let started = Instant::now();
        let limit = Arc::new(tokio::sync::Semaphore::new(32));
        let enrolling = tokens.iter().map(|token| {
            let (limit, ca, console) = (limit.clone(), &ca, &console);
            async move {
                let _permit = limit.acquire().await?;
                enroll(console, ca, token).await
            }
        });
        let identities = futures_util::future::try_join_all(enrolling).await?;
        println!(
            "enrolments: {n} in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        anyhow::Ok(identities)
    })?;
    let mut rows = Vec::new();

    // The floor: the same swarm against the bare server, with the console stopped.
    console.kill();
    let bare_figures = {
        let server = bare::BareServer::start(&temp.path().join("bare"), &ca)?;
        let idle = rss_kib(server.pid())?;
        let tls: Vec<_> = identities
            .iter()
            .map(|id| agent_tls(&server.ca_pem, id))
            .collect::<Result<_>>()?;
        let frames = inventories
            .iter()
            .map(|i| certfleet_proto::encode("bare", &AgentMessage::Inventory(i[0].clone())))
            .collect();
        runtime.block_on(bare::storm(&server, tls, frames, idle, deadline))?
    };
    println!(
        "bare: {n} connected in {}, {:.1} KiB per connection, broadcast p99 {}",
        secs(bare_figures.connected),
        bare_figures.kib_per_connection,
        ms(bare_figures.broadcast_p99)
    );

    // The console, cold: a fresh process on the same data.
    console.restart()?;
    let pid = console.pid().context("console pid")?;
    let rss_idle = rss_kib(pid)?;
    let tally = Arc::new(Tally::default());
    let (commands, command_rx) = watch::channel(Command {
        round: 0,
        resend: 0,
        stop: false,
    });
    let (event_tx, mut events) = mpsc::unbounded_channel();
    let console_tls: Vec<_> = identities
        .iter()
        .map(|id| agent_tls(&ca, id))
        .collect::<Result<_>>()?;
    let cpu_before_storm = cpu(pid)?;
    let mut tasks = runtime.block_on(async {
        let started = Instant::now();
        let tasks: Vec<_> = console_tls
            .into_iter()
            .zip(inventories)
            .enumerate()
            .map(|(index, (tls, inventories))| {
                tokio::spawn(
                    Agent {
                        index,
                        source: source_address(index),
                        gateway: console.gateway,
                        tls,
                        inventories,
                        commands: command_rx.clone(),
                        events: event_tx.clone(),
                        tally: tally.clone(),
                        deadline,
                    }
                    .run(),
                )
            })
            .collect();
        let (mut welcomed, mut stored) = (0, 0);
        let mut all_welcomed = None;
        until(
            &mut events,
            Duration::from_secs(300),
            "the connect storm",
            |e| {
                match e {
                    Event::Welcomed { .. } => welcomed += 1,
                    Event::Stored { round: 0, .. } => stored += 1,
                    _ => {}
                }
                if welcomed == n && all_welcomed.is_none() {
                    all_welcomed = Some(started.elapsed());
                }
                stored == n
            },
        )
        .await?;
        let all_stored = started.elapsed();
        let all_welcomed = all_welcomed.unwrap_or(all_stored);
        let attempts = tally.attempts.load(Ordering::Relaxed);
        let failed = tally.failed.load(Ordering::Relaxed);
        rows.push(row(
            "agents held",
            format!("{n}"),
            format!("{n}"),
            "10,000 (stretch 15,000)",
        ));
        rows.push(row(
            "connect storm, cold console: all connected",
            format!(
                "{} ({failed} of {attempts} handshakes failed, {:.2} %)",
                secs(all_welcomed),
                100.0 * failed as f64 / attempts.max(1) as f64
            ),
            format!(
                "{} ({} of {} failed)",
                secs(bare_figures.connected),
                bare_figures.failed,
                bare_figures.attempts
            ),
            "≤ 20 s, < 1 % failed",
        ));
        rows.push(row(
            &format!("… and every first inventory stored ({first_rows} certificate rows)"),
            format!(
                "{} ({:.0} certificate rows/s)",
                secs(all_stored),
                first_rows as f64 / all_stored.as_secs_f64()
            ),
            "–".into(),
            "≤ 30 s",
        ));
        anyhow::Ok(tasks)
    })?;
    report_cpu(
        "the connect storm and first inventories",
        cpu_before_storm,
        cpu(pid)?,
    );
    let first_writes = WriterLog::read(&console.log_text());
    std::thread::sleep(Duration::from_secs(3));
    let rss_connected = rss_kib(pid)?;
    let kib_per_agent = rss_connected.saturating_sub(rss_idle) as f64 / n as f64;
    rows.push(row(
        "console RSS per connected agent (over the idle console)",
        format!(
            "{kib_per_agent:.1} KiB ({:.2}× the bare server)",
            kib_per_agent / bare_figures.kib_per_connection.max(0.1)
        ),
        format!("{:.1} KiB", bare_figures.kib_per_connection),
        "≤ 40 KiB, ≤ 1.3×",
    ));

    // Unchanged re-sends: every agent sends its inventory again; nothing may be written.
    let ingested_before = api.metric("certfleet_inventories_ingested_total")?;
    let resent = runtime.block_on(all_stored(
        &mut events,
        n,
        0,
        "the unchanged re-send",
        || commands.send_modify(|c| c.resend += 1),
    ))?;
    let ingested_after = api.metric("certfleet_inventories_ingested_total")?;
    if ingested_after != ingested_before {
        bail!(
            "unchanged inventories were written: {} stored during the re-send",
            ingested_after - ingested_before
        );
    }

    // Changed inventories (one certificate renewed on every host), while a browser's worth
    // of requests reads the overview and the expiring list.
    let probing = probe::Probe::start(&console, &api)?;
    let cpu_before_changed = cpu(pid)?;
    let changed = runtime.block_on(all_stored(
        &mut events,
        n,
        1,
        "the changed inventories",
        || commands.send_modify(|c| c.round = 1),
    ))?;
    report_cpu("the changed inventories", cpu_before_changed, cpu(pid)?);
    let pages = probing.stop()?;
    for name in [
        "ingest_batch_size_sum",
        "ingest_batch_size_count",
        "ingest_seconds_sum",
        "ingest_seconds_count",
        "inventories_unchanged_total",
    ] {
        println!("console metric {name}: {}", api.metric(name)?);
    }
    rows.push(row(
        "inventory ingest through one batching writer",
        format!(
            "first snapshots: {:.0} certificate rows/s in the writer ({} rows in {} \
             transactions, {:.0} ms of writing); changed (one certificate renewed on each host): \
             {n} in {} ({:.0}/s); unchanged re-sends: {n} in {} ({:.0}/s), 0 written",
            first_writes.rows as f64 / (first_writes.ms / 1000.0).max(0.001),
            first_writes.rows,
            first_writes.transactions,
            first_writes.ms,
            secs(changed),
            n as f64 / changed.as_secs_f64(),
            secs(resent),
            n as f64 / resent.as_secs_f64()
        ),
        "–".into(),
        "≥ 10,000 certificate rows/s for first snapshots; unchanged write nothing",
    ));
    for (name, goal, samples) in pages {
        rows.push(row(
            &format!("{name} while {n} agents send changed inventories"),
            format!(
                "p95 {} (p50 {}, {} requests)",
                ms(percentile(&samples, 0.95)),
                ms(percentile(&samples, 0.50)),
                samples.len()
            ),
            "–".into(),
            goal,
        ));
    }

    // The reconnect storm: the console is killed and started again; every agent backs off
    // with jitter and comes back.
    let overflows_before = certfleet_e2e::swarm::listen_overflows()?;
    let failed_before = tally.failed.load(Ordering::Relaxed);
    let attempts_before = tally.attempts.load(Ordering::Relaxed);
    let killed = Instant::now();
    console.restart()?;
    let started_again = killed.elapsed();
    // When each agent was welcomed again, for the spread of the storm and not only its end.
    let back_at = runtime.block_on(async {
        let mut back_at: HashMap<usize, Duration> = HashMap::new();
        until(
            &mut events,
            Duration::from_secs(300),
            "the reconnect storm",
            |e| {
                if let Event::Welcomed { agent } = e {
                    back_at.entry(agent).or_insert_with(|| killed.elapsed());
                }
                back_at.len() == n
            },
        )
        .await?;
        let mut back_at: Vec<Duration> = back_at.into_values().collect();
        back_at.sort();
        anyhow::Ok(back_at)
    })?;
    let back = back_at.last().copied().unwrap_or_default();
    let gave_up = tally.gave_up.load(Ordering::Relaxed);
    rows.push(row(
        "reconnect storm after a console restart (agents back off with jitter)",
        format!(
            "{} until all {n} were back (half in {}, 99 % in {}; the console took {} to \
             start; {} of {} connection attempts failed; {} connections dropped by a full \
             accept queue), {gave_up} gave up",
            secs(back),
            secs(percentile(&back_at, 0.50)),
            secs(percentile(&back_at, 0.99)),
            ms(started_again),
            tally.failed.load(Ordering::Relaxed) - failed_before,
            tally.attempts.load(Ordering::Relaxed) - attempts_before,
            certfleet_e2e::swarm::listen_overflows()?.saturating_sub(overflows_before),
        ),
        "–".into(),
        "≤ 30 s, none given up",
    ));
    rows.push(row(
        "one frame to every connected agent, until the last one has it (p99)",
        "see the fan-out bench".into(),
        format!(
            "p99 {} (max {})",
            ms(bare_figures.broadcast_p99),
            ms(bare_figures.broadcast_max)
        ),
        "p99 ≤ 150 ms at 1,000, ≤ 1 s at 10,000",
    ));

    commands.send_modify(|c| c.stop = true);
    runtime.block_on(async {
        // An agent in the middle of a connect attempt notices the stop when it ends; the
        // rest are not waited for.
        let all = futures_util::future::join_all(tasks.iter_mut());
        if tokio::time::timeout(Duration::from_secs(15), all)
            .await
            .is_err()
        {
            let left = tasks.iter().filter(|t| !t.is_finished()).count();
            println!("{left} agents had not stopped after 15 s: ended");
            tasks.iter().for_each(|t| t.abort());
        }
    });
    println!(
        "heartbeats sent: {}, disconnects: {}",
        tally.heartbeats.load(Ordering::Relaxed),
        tally.disconnects.load(Ordering::Relaxed)
    );
    if std::env::var_os("SWARM_KEEP").is_some() {
        println!("kept: {}", temp.keep().display());
    }
    println!();
    println!("| figure | console | bare stack | goal |");
    println!("| --- | --- | --- | --- |");
    for r in rows {
        println!("| {} | {} | {} | {} |", r.figure, r.console, r.bare, r.goal);
    }
    Ok(())
}

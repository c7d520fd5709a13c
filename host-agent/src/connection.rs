//! `certfleet-agent run`: stays connected to the console over the mutually authenticated
//! WebSocket, says hello, sends the inventory at start and whenever it changes, heartbeats
//! (and gives a connection up when the console has said nothing for three of them), answers
//! jobs, renews its certificate at two thirds of its life, and reconnects with
//! exponential backoff and full jitter (capped at 60 s) so a console restart does not bring
//! every agent back in the same second.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use certfleet_proto::{
    AgentMessage, ConsoleMessage, DeployStep, ErrorCode, Heartbeat, Hello, Inventory, JobAction,
    JobProgress, JobResult, PROTOCOL_VERSION, RenewRequest, Snapshot, decode_from_console, encode,
};
use certfleet_winhost::Host;
use futures_util::{SinkExt, StreamExt};
use time::OffsetDateTime;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::config::AgentConfig;
use crate::deploy;
use crate::https::ServerUrl;
use crate::identity::Identity;
use crate::inventory;
use crate::tls;

const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// Job ids remembered to refuse replays.
const SEEN_JOBS: usize = 1024;

/// Exponential backoff with full jitter: a random wait between 0 and min(cap, base·2ⁿ).
#[derive(Debug)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    pub fn new() -> Self {
        Backoff { attempt: 0 }
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn next_delay(&mut self) -> Duration {
        let ceiling = BACKOFF_BASE
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(BACKOFF_CAP);
        self.attempt = self.attempt.saturating_add(1);
        let random = getrandom::u64().unwrap_or(u64::MAX / 2);
        let millis = ceiling.as_millis() as u64;
        Duration::from_millis(if millis == 0 {
            0
        } else {
            random % (millis + 1)
        })
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// How a session ended.
enum Ended {
    /// The certificate was renewed: reconnect at once with the new one.
    Renewed,
    /// The connection closed after a successful hello.
    Closed,
}

pub async fn run(identity: Identity, config: AgentConfig, host: Host) -> Result<()> {
    let mut identity = identity;
    let mut backoff = Backoff::new();
    let mut seen_jobs = SeenJobs::default();
    let started = Instant::now();
    // A deployment a crash or reboot interrupted ends now, before anything else: committed
    // if it had been verified, else rolled back.
    let journal = deploy::Journal::open(&identity.dir.join("journal"))
        .context("cannot create the deployment journal in the agent's data folder")?;
    let ledger = crate::trust::install::Ledger::at(&identity.dir);
    let reach_of = |endpoint: &str| deploy::jobs::reach_for(&config, &host, &ledger, endpoint);
    for record in deploy::recover(&host, &journal, &reach_of, deploy::Timing::of(&config)).await {
        tracing::warn!(job = %record.job_id, phase = ?record.phase, "{}", record.detail);
    }
    let pruned = journal.prune(std::time::Duration::from_secs(90 * 24 * 3600));
    if pruned > 0 {
        tracing::info!("forgot {pruned} deployments older than 90 days from the journal");
    }
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel(64);
    let config = std::sync::Arc::new(config);
    let pending_keys =
        crate::pending_keys::PendingKeys::open(&identity.dir.join("pending-keys"))
            .context("cannot create the pending-keys folder in the agent's data folder")?;
    let forgotten = pending_keys.prune(crate::pending_keys::KEEP_FOR);
    if forgotten > 0 {
        tracing::info!("forgot {forgotten} pending keys whose certificate never came (30 days)");
    }
    let deployments = deploy::jobs::Deployments::new(
        journal,
        config.clone(),
        out_tx,
        host,
        ledger.clone(),
        pending_keys,
    );
    let mut jobs = Jobs {
        seen: &mut seen_jobs,
        deployments: &deployments,
        out: &mut out_rx,
    };
    loop {
        match session(&mut identity, &config, &mut jobs, started).await {
            Ok(Ended::Renewed) => {
                tracing::info!("certificate renewed; reconnecting with it");
                backoff.reset();
                continue;
            }
            Ok(Ended::Closed) => {
                tracing::warn!("the console closed the connection");
                backoff.reset();
            }
            Err(e) => tracing::warn!("connection to the console failed: {e:#}"),
        }
        let delay = backoff.next_delay();
        tracing::info!("reconnecting in {:.1} s", delay.as_secs_f64());
        tokio::time::sleep(delay).await;
    }
}

/// What a session needs for jobs: replay protection, deployments, and their messages.
struct Jobs<'a> {
    seen: &'a mut SeenJobs,
    deployments: &'a deploy::jobs::Deployments,
    out: &'a mut tokio::sync::mpsc::Receiver<AgentMessage>,
}

#[derive(Default)]
struct SeenJobs {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl SeenJobs {
    /// `false` when the id was seen before (a replay).
    fn first_time(&mut self, id: &str) -> bool {
        if !self.set.insert(id.to_owned()) {
            return false;
        }
        self.order.push_back(id.to_owned());
        if self.order.len() > SEEN_JOBS
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

fn hello(config: &AgentConfig) -> Hello {
    Hello {
        agent_version: env!("CARGO_PKG_VERSION").into(),
        protocol: PROTOCOL_VERSION,
        hostname: crate::host::hostname(),
        fqdn: crate::host::fqdn(),
        os: std::env::consts::OS.into(),
        arch: std::env::consts::ARCH.into(),
        groups: config.groups.clone(),
    }
}

fn frame_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Renew at two thirds of the certificate's life.
fn renewal_due(not_before: i64, not_after: i64, now: i64) -> bool {
    now >= not_before + (not_after - not_before) * 2 / 3
}

fn needs_renewal(identity: &Identity, now: i64) -> bool {
    match identity.certificate_validity() {
        Ok((not_before, not_after)) => renewal_due(not_before, not_after, now),
        Err(e) => {
            tracing::warn!("cannot read the agent certificate's dates: {e:#}");
            false
        }
    }
}

async fn session(
    identity: &mut Identity,
    config: &AgentConfig,
    jobs: &mut Jobs<'_>,
    started: Instant,
) -> Result<Ended> {
    let server = config
        .server
        .clone()
        .unwrap_or_else(|| identity.server.clone());
    let url = ServerUrl::parse(&server)?;
    let tls = url
        .connect(tls::console_config(
            &identity.ca_der,
            Some(identity.client_auth()?),
        )?)
        .await?;
    let request = format!("wss://{}/agent/v1", url.authority());
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(certfleet_proto::MAX_FRAME_BYTES))
        .max_frame_size(Some(certfleet_proto::MAX_FRAME_BYTES));
    let (socket, _) = tokio_tungstenite::client_async_with_config(request, tls, Some(ws_config))
        .await
        .context("the WebSocket handshake failed (revoked, or not enrolled with this console?)")?;
    let (mut sink, stream) = socket.split();
    // When anything last came from the console (a pong counts), in ms since `started`: a
    // link cut without a reset looks healthy to TCP for many minutes.
    let heard = AtomicU64::new(millis_since(started));
    let mut stream = stream.inspect(|_| heard.store(millis_since(started), Ordering::Relaxed));

    let send = |message: AgentMessage| Message::Text(encode(&frame_id(), &message).into());
    sink.send(send(AgentMessage::Hello(hello(config)))).await?;
    let welcome = tokio::time::timeout(Duration::from_secs(15), next_message(&mut stream))
        .await
        .map_err(|_| anyhow!("the console did not answer hello within 15 s"))??;
    let (heartbeat_every, silence_limit) = match welcome {
        ConsoleMessage::Welcome(w) => {
            tracing::info!(agent = %w.agent_id, "connected to {server}");
            let skew = w.server_time - OffsetDateTime::now_utc().unix_timestamp();
            if skew.abs() > 300 {
                tracing::warn!("this machine's clock differs from the console's by {skew} s");
            }
            let every = match w.heartbeat_ms {
                Some(ms) => Duration::from_millis(ms.max(10)),
                None => Duration::from_secs(w.heartbeat_secs.max(1)),
            };
            // As long as the console waits before it calls this agent offline.
            (
                every,
                Duration::from_secs(SILENT_HEARTBEATS * w.heartbeat_secs.max(1)),
            )
        }
        ConsoleMessage::Error(e) => bail!("the console refused hello: {}", e.message),
        other => bail!("expected welcome, got {other:?}"),
    };

    if needs_renewal(identity, OffsetDateTime::now_utc().unix_timestamp()) {
        let key = rcgen::KeyPair::generate().context("cannot generate a new agent key")?;
        let csr = rcgen::CertificateParams::default()
            .serialize_request(&key)
            .context("cannot create the renewal request")?
            .pem()?;
        sink.send(send(AgentMessage::RenewRequest(RenewRequest {
            csr_pem: csr,
        })))
        .await?;
        loop {
            match tokio::time::timeout(Duration::from_secs(30), next_message(&mut stream)).await {
                Ok(Ok(ConsoleMessage::Renewed(renewed))) => {
                    identity.replace_certificate(&renewed.certificate_pem, &key.serialize_pem())?;
                    let _ = sink.close().await;
                    return Ok(Ended::Renewed);
                }
                Ok(Ok(ConsoleMessage::Error(e))) => {
                    tracing::warn!("renewal refused: {}", e.message);
                    break;
                }
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => {
                    tracing::warn!("no answer to the renewal request within 30 s");
                    break;
                }
            }
        }
    }

    let mut last_hash = String::new();
    // What the console said this machine must trust, as it said last (it says it again after
    // the welcome).
    let mut attached = crate::trust::attached::load(&identity.dir, &config.trust);
    let snapshot = inventory::collect_with(
        config,
        &attached,
        jobs.deployments.host(),
        OffsetDateTime::now_utc(),
    )
    .await;
    send_inventory(&mut sink, snapshot, &mut last_hash).await?;
    // Results the console may have missed (a disconnect or restart mid-deployment).
    for result in jobs.deployments.unreported() {
        let id = result.job_id.clone();
        sink.send(send(AgentMessage::JobResult(result))).await?;
        jobs.deployments.mark_reported(&id);
    }

    let mut heartbeat = tokio::time::interval(heartbeat_every);
    heartbeat.tick().await;
    // Once per heartbeat_secs, however fast heartbeats go (a benchmark's heartbeat_ms).
    let mut ping = tokio::time::interval(silence_limit / SILENT_HEARTBEATS as u32);
    ping.tick().await;
    let mut rescan = tokio::time::interval(Duration::from_secs(config.rescan_secs));
    rescan.tick().await;
    loop {
        tokio::select! {
            // In this order, so the console's frames are read (a pong waiting counts) before
            // the silence at the end is judged.
            biased;
            _ = heartbeat.tick() => {
                sink.send(send(AgentMessage::Heartbeat(Heartbeat {
                    uptime_secs: started.elapsed().as_secs(),
                }))).await?;
            }
            _ = ping.tick() => {
                // The console's WebSocket answers it itself: silence then means the link.
                sink.send(Message::Ping(Default::default())).await?;
            }
            _ = rescan.tick() => {
                let snapshot = inventory::collect_with(config, &attached, jobs.deployments.host(), OffsetDateTime::now_utc()).await;
                send_inventory(&mut sink, snapshot, &mut last_hash).await?;
            }
            Some(message) = jobs.out.recv() => {
                let reported = match &message {
                    AgentMessage::JobResult(r) => Some(r.job_id.clone()),
                    _ => None,
                };
                sink.send(send(message)).await?;
                if let Some(id) = reported {
                    jobs.deployments.mark_reported(&id);
                }
            }
            message = next_message(&mut stream) => {
                match message {
                    Ok(ConsoleMessage::Job(job)) => {
                        // A deploy job the journal knows (from before a restart) is answered
                        // from it: a deployment never runs twice.
                        match jobs.deployments.known(&job.job_id) {
                            Some(Ok(result)) => {
                                sink.send(send(AgentMessage::JobResult(result))).await?;
                                jobs.deployments.mark_reported(&job.job_id);
                                continue;
                            }
                            Some(Err(running)) => {
                                sink.send(send(AgentMessage::JobProgress(running))).await?;
                                continue;
                            }
                            None => {}
                        }
                        // Challenges change nothing on the host: answered every time asked.
                        if let JobAction::ServeChallenge { endpoint, token, key_authorization } = job.action {
                            jobs.deployments.serve_challenge(job.job_id, endpoint, token, key_authorization);
                            continue;
                        }
                        if let JobAction::EndChallenge { token } = &job.action {
                            jobs.deployments.end_challenge(token);
                            continue;
                        }
                        // Asked again, a key request answers from the key it kept.
                        if let JobAction::KeyRequest { endpoint, key_type, names } = job.action {
                            tracing::info!(job = %job.job_id, %endpoint, "making a {key_type} key");
                            jobs.deployments.key_request(job.job_id, endpoint, key_type, names);
                            continue;
                        }
                        if !jobs.seen.first_time(&job.job_id) {
                            if matches!(job.action, JobAction::Deploy { .. } | JobAction::Trust { .. } | JobAction::Untrust { .. }) {
                                // Accepted before but not begun: it waits its turn behind
                                // another deployment on this host.
                                sink.send(send(AgentMessage::JobProgress(JobProgress {
                                    job_id: job.job_id,
                                    step: DeployStep::Queued,
                                    detail: "waiting for another deployment on this host".into(),
                                }))).await?;
                                continue;
                            }
                            sink.send(send(AgentMessage::JobResult(JobResult::answer(job.job_id, false, "refused: this job id was already handled (replay)")))).await?;
                            continue;
                        }
                        match job.action {
                            JobAction::Rescan => {
                                let snapshot = inventory::collect_with(config, &attached, jobs.deployments.host(), OffsetDateTime::now_utc()).await;
                                last_hash.clear();
                                send_inventory(&mut sink, snapshot, &mut last_hash).await?;
                                sink.send(send(AgentMessage::JobResult(JobResult::answer(job.job_id, true, "inventory sent")))).await?;
                            }
                            JobAction::Deploy { endpoint, chain_pem, key_pem, sha256, pending_key } => {
                                tracing::info!(job = %job.job_id, %endpoint, "deploying {sha256}");
                                jobs.deployments.start(job.job_id, endpoint, deploy::Bundle {
                                    chain_pem,
                                    key_pem: zeroize::Zeroizing::new(key_pem.map(|k| k.expose().to_owned()).unwrap_or_default()),
                                    sha256,
                                }, pending_key);
                            }
                            // Handled above, before the replay check.
                            JobAction::KeyRequest { .. }
                            | JobAction::ServeChallenge { .. }
                            | JobAction::EndChallenge { .. } => {}
                            JobAction::Trust { endpoint, chain_pem, sha256 } => {
                                tracing::info!(job = %job.job_id, %endpoint, "trusting {sha256}");
                                let key = deploy::trust::Change::Install.key(&endpoint);
                                jobs.deployments.start(job.job_id, key, deploy::Bundle {
                                    chain_pem,
                                    key_pem: zeroize::Zeroizing::new(String::new()),
                                    sha256,
                                }, None);
                            }
                            JobAction::Untrust { endpoint, sha256 } => {
                                tracing::info!(job = %job.job_id, %endpoint, "untrusting {sha256}");
                                let key = deploy::trust::Change::Remove.key(&endpoint);
                                jobs.deployments.start(job.job_id, key, deploy::Bundle {
                                    chain_pem: String::new(),
                                    key_pem: zeroize::Zeroizing::new(String::new()),
                                    sha256,
                                }, None);
                            }
                            JobAction::Preflight { endpoint, chain_pem, sha256 } => {
                                jobs.deployments.check(job.job_id, endpoint, deploy::Bundle {
                                    chain_pem,
                                    key_pem: zeroize::Zeroizing::new(String::new()),
                                    sha256,
                                });
                            }
                        }
                    }
                    Ok(ConsoleMessage::TrustList(list)) => {
                        if let Err(e) = crate::trust::attached::save(&identity.dir, &list.endpoints) {
                            tracing::warn!("cannot keep the console's trust list: {e}");
                        }
                        let now_attached = crate::trust::attached::targets(&list.endpoints, &config.trust);
                        if now_attached != attached {
                            attached = now_attached;
                            tracing::info!(servers = attached.len(), "the console's trust list changed");
                            let snapshot = inventory::collect_with(config, &attached, jobs.deployments.host(), OffsetDateTime::now_utc()).await;
                            send_inventory(&mut sink, snapshot, &mut last_hash).await?;
                        }
                    }
                    Ok(ConsoleMessage::Ack(_)) | Ok(ConsoleMessage::Welcome(_)) | Ok(ConsoleMessage::Renewed(_)) => {}
                    Ok(ConsoleMessage::Error(e)) => {
                        tracing::warn!(code = %e.code, "the console reports: {}", e.message);
                        if e.code == ErrorCode::Disconnected {
                            return Ok(Ended::Closed);
                        }
                    }
                    Err(Closed(reason)) => {
                        tracing::debug!("{reason}");
                        return Ok(Ended::Closed);
                    }
                }
            }
            () = silent_for(&heard, started, silence_limit) => {
                bail!(
                    "no word from the console for {} s (is the network between them down?): \
                     giving this connection up",
                    silence_limit.as_secs()
                );
            }
        }
    }
}

/// Heartbeats without a word back after which the connection counts as dead.
const SILENT_HEARTBEATS: u64 = 3;

fn millis_since(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Ends once nothing has been `heard` for `limit`. It reads `heard` when polled, so a frame
/// read just before (in the same `select!`) counts.
async fn silent_for(heard: &AtomicU64, started: Instant, limit: Duration) {
    loop {
        let last = started + Duration::from_millis(heard.load(Ordering::Relaxed));
        let due = last + limit;
        if Instant::now() >= due {
            return;
        }
        tokio::time::sleep_until(due.into()).await;
    }
}

async fn send_inventory<S>(sink: &mut S, snapshot: Snapshot, last_hash: &mut String) -> Result<()>
where
    S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    let inventory = Inventory::of(snapshot);
    if inventory.hash == *last_hash {
        return Ok(());
    }
    *last_hash = inventory.hash.clone();
    tracing::info!(
        endpoints = inventory.snapshot.endpoints.len(),
        "sending the inventory"
    );
    sink.send(Message::Text(
        encode(&frame_id(), &AgentMessage::Inventory(inventory)).into(),
    ))
    .await?;
    Ok(())
}

/// The console's side of the connection ended (closed, or a transport error), and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Closed(String);

async fn next_message<S>(stream: &mut S) -> std::result::Result<ConsoleMessage, Closed>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match stream.next().await {
            None | Some(Ok(Message::Close(_))) => {
                return Err(Closed("the connection closed".into()));
            }
            Some(Err(e)) => return Err(Closed(format!("the connection closed: {e}"))),
            Some(Ok(Message::Text(text))) => match decode_from_console(&text) {
                Ok((_, message)) => return Ok(message),
                Err((_, e)) => tracing::warn!("ignoring a frame from the console: {e}"),
            },
            Some(Ok(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_with_jitter_below_it() {
        let mut backoff = Backoff::new();
        let delays: Vec<Duration> = (0..12).map(|_| backoff.next_delay()).collect();
        for (n, delay) in delays.iter().enumerate() {
            let ceiling = BACKOFF_BASE.saturating_mul(1 << n.min(16)).min(BACKOFF_CAP);
            assert!(*delay <= ceiling, "attempt {n}: {delay:?} > {ceiling:?}");
        }
        // Full jitter: over many draws at the cap, delays spread out instead of bunching.
        let mut capped = Backoff { attempt: 10 };
        let draws: Vec<u128> = (0..200).map(|_| capped.next_delay().as_millis()).collect();
        let (min, max) = (draws.iter().min().copied(), draws.iter().max().copied());
        assert!(min < Some(15_000) && max > Some(45_000), "{min:?}..{max:?}");
        backoff.reset();
        assert!(backoff.next_delay() <= BACKOFF_BASE);
    }

    #[test]
    fn renewal_is_due_at_two_thirds_of_the_lifetime() {
        let day = 86_400;
        assert!(!renewal_due(0, 30 * day, 19 * day));
        assert!(renewal_due(0, 30 * day, 20 * day));
        assert!(renewal_due(0, 30 * day, 31 * day), "an expired one too");
    }

    #[test]
    fn a_job_id_is_accepted_once() {
        let mut seen = SeenJobs::default();
        assert!(seen.first_time("j1"));
        assert!(!seen.first_time("j1"));
        for i in 0..SEEN_JOBS {
            seen.first_time(&format!("other-{i}"));
        }
        assert!(seen.set.len() <= SEEN_JOBS, "bounded");
    }
}

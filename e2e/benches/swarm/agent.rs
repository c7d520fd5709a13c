//! One simulated agent: connects over mTLS from its own loopback address, says hello, sends
//! its inventory, heartbeats at the interval the console asks for, answers every job at once
//! with a committed result (a no-op driver), sends a newer inventory when the driver moves
//! to a later round, and reconnects after a lost connection with the real agent's backoff
//! (exponential, full jitter, 1 s doubling to 60 s), until told to stop or out of time.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use certfleet_e2e::swarm::{Socket, connect_from};
use certfleet_proto::{
    AgentMessage, ConsoleMessage, DeployOutcome, Heartbeat, Hello, Inventory, JobAction, JobResult,
    decode_from_console, encode,
};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

/// What the driver wants of every agent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    /// Which of its inventories is current.
    pub round: usize,
    /// Bumped to have every agent send its current inventory again (unchanged).
    pub resend: u32,
    pub stop: bool,
}

/// What agents tell the driver, with when.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    /// Connected and welcomed.
    Welcomed { agent: usize },
    /// The console acknowledged the inventory of `round`.
    Stored { round: usize },
}

/// Counters over the whole swarm.
#[derive(Debug, Default)]
pub struct Tally {
    pub attempts: AtomicU64,
    /// Attempts that did not end with a welcome: TCP, TLS or WebSocket refused or timed out.
    pub failed: AtomicU64,
    pub disconnects: AtomicU64,
    pub gave_up: AtomicU64,
    pub heartbeats: AtomicU64,
}

pub struct Agent {
    pub index: usize,
    pub source: IpAddr,
    pub gateway: SocketAddr,
    pub tls: Arc<rustls::ClientConfig>,
    /// Its inventory in each round.
    pub inventories: Vec<Inventory>,
    pub commands: watch::Receiver<Command>,
    pub events: mpsc::UnboundedSender<Event>,
    pub tally: Arc<Tally>,
    /// When it stops trying to reconnect.
    pub deadline: Instant,
}

/// The real agent's backoff: a random wait between 0 and min(60 s, 1 s · 2ⁿ).
#[derive(Debug, Default)]
pub struct Backoff(u32);

impl Backoff {
    pub fn reset(&mut self) {
        self.0 = 0;
    }

    pub fn next(&mut self) -> Duration {
        let ceiling_ms = (1000u64 << self.0.min(6)).min(60_000);
        self.0 += 1;
        Duration::from_millis(getrandom::u64().unwrap_or(ceiling_ms / 2) % (ceiling_ms + 1))
    }
}

enum Ended {
    Stop,
    Lost,
}

impl Agent {
    pub async fn run(mut self) {
        let mut backoff = Backoff::default();
        loop {
            if self.commands.borrow().stop {
                return;
            }
            if Instant::now() > self.deadline {
                self.tally.gave_up.fetch_add(1, Ordering::Relaxed);
                return;
            }
            self.tally.attempts.fetch_add(1, Ordering::Relaxed);
            let connected = tokio::time::timeout(
                Duration::from_secs(30),
                connect_from(self.source, self.gateway, self.tls.clone()),
            )
            .await;
            let ended = match connected {
                Ok(Ok(ws)) => self.session(ws, &mut backoff).await,
                _ => {
                    self.tally.failed.fetch_add(1, Ordering::Relaxed);
                    Ended::Lost
                }
            };
            match ended {
                Ended::Stop => return,
                Ended::Lost => {
                    let wait = backoff.next();
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.commands.wait_for(|c| c.stop) => return,
                    }
                }
            }
        }
    }

    async fn session(&mut self, ws: Socket, backoff: &mut Backoff) -> Ended {
        let (mut tx, mut rx) = ws.split();
        let index = self.index;
        let mut frames = Frames { index, n: 0 };
        let hello = AgentMessage::Hello(Hello {
            agent_version: "swarm".into(),
            protocol: 1,
            hostname: format!("host{index}"),
            fqdn: format!("host{index}.example.test"),
            os: "linux".into(),
            arch: "x86_64".into(),
            groups: vec![],
        });
        if tx.send(frames.frame(&hello).1).await.is_err() {
            self.tally.failed.fetch_add(1, Ordering::Relaxed);
            return Ended::Lost;
        }
        let welcome = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(Ok(message)) = rx.next().await {
                if let Message::Text(text) = message
                    && let Ok((_, ConsoleMessage::Welcome(w))) = decode_from_console(&text)
                {
                    return Some(w);
                }
            }
            None
        })
        .await;
        let Ok(Some(welcome)) = welcome else {
            self.tally.failed.fetch_add(1, Ordering::Relaxed);
            return Ended::Lost;
        };
        // As the real agent: a session that got as far as the welcome resets the backoff.
        backoff.reset();
        let _ = self.events.send(Event::Welcomed { agent: index });
        let started = Instant::now();
        let mut heartbeat =
            tokio::time::interval(Duration::from_secs(welcome.heartbeat_secs.max(1)));
        heartbeat.tick().await;
        let mut command = *self.commands.borrow_and_update();
        // Inventories waiting for their ack: frame id and round.
        let mut pending: Vec<(String, usize)> = Vec::new();
        let inventories = &self.inventories;
        let inventory = |round: usize, frames: &mut Frames, pending: &mut Vec<(String, usize)>| {
            let inventory = inventories.get(round)?.clone();
            let (id, message) = frames.frame(&AgentMessage::Inventory(inventory));
            pending.push((id, round));
            Some(message)
        };
        if let Some(first) = inventory(command.round, &mut frames, &mut pending)
            && tx.send(first).await.is_err()
        {
            return self.lost();
        }
        loop {
            tokio::select! {
                changed = self.commands.changed() => {
                    if changed.is_err() {
                        return Ended::Stop;
                    }
                    let now = *self.commands.borrow_and_update();
                    if now.stop {
                        let _ = tx.close().await;
                        return Ended::Stop;
                    }
                    if (now.round != command.round || now.resend != command.resend)
                        && let Some(message) = inventory(now.round, &mut frames, &mut pending)
                        && tx.send(message).await.is_err()
                    {
                        return self.lost();
                    }
                    command = now;
                }
                _ = heartbeat.tick() => {
                    let beat = AgentMessage::Heartbeat(Heartbeat {
                        uptime_secs: started.elapsed().as_secs(),
                    });
                    if tx.send(frames.frame(&beat).1).await.is_err() {
                        return self.lost();
                    }
                    self.tally.heartbeats.fetch_add(1, Ordering::Relaxed);
                }
                message = rx.next() => {
                    let Some(Ok(message)) = message else {
                        return self.lost();
                    };
                    let Message::Text(text) = message else { continue };
                    match decode_from_console(&text) {
                        Ok((_, ConsoleMessage::Ack(ack))) if ack.hash.is_some() => {
                            if let Some(at) = pending.iter().position(|(id, _)| *id == ack.of) {
                                let (_, round) = pending.remove(at);
                                let _ = self.events.send(Event::Stored { round });
                            }
                        }
                        Ok((_, ConsoleMessage::Job(job))) => {
                            if matches!(job.action, JobAction::Rescan)
                                && let Some(message) = inventory(command.round, &mut frames, &mut pending)
                                && tx.send(message).await.is_err()
                            {
                                return self.lost();
                            }
                            let result = AgentMessage::JobResult(JobResult {
                                job_id: job.job_id,
                                ok: true,
                                detail: "no-op driver".into(),
                                outcome: Some(DeployOutcome::Committed),
                                csr_pem: None,
                            });
                            if tx.send(frames.frame(&result).1).await.is_err() {
                                return self.lost();
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    fn lost(&self) -> Ended {
        self.tally.disconnects.fetch_add(1, Ordering::Relaxed);
        Ended::Lost
    }
}

/// Frame ids of one session: `AGENT-N`.
struct Frames {
    index: usize,
    n: u64,
}

impl Frames {
    fn frame(&mut self, message: &AgentMessage) -> (String, Message) {
        self.n += 1;
        let id = format!("{}-{}", self.index, self.n);
        let text = encode(&id, message);
        (id, Message::Text(text.into()))
    }
}

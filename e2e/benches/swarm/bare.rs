//! The stack's floor: a bare rustls + tokio-tungstenite server with client-certificate
//! authentication (the console's agent CA as its roots) and the same buffer sizes as the
//! console's gateway, run as a child process of the bench so its memory is its own. It
//! answers `hello` with `hello` and any other text frame with `ack`, and on the frame
//! `broadcast` sends `job` to every connection. Each client says hello, then sends the very
//! inventory frame it sends the console: the swarm measures the connect storm, the memory
//! per connection and a fan-out against it as against the console.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::{SinkExt, StreamExt};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// The environment variable that makes the bench binary the bare server: its value is a
/// folder holding `client-ca.pem`; the server writes `server-ca.pem` and `address` there.
pub const MODE: &str = "SWARM_BARE_SERVER";

/// Runs the bare server until killed.
pub fn serve(dir: &std::path::Path) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        let client_ca = std::fs::read_to_string(dir.join("client-ca.pem"))?;
        roots.add(CertificateDer::from(pem::parse(client_ca)?.into_contents()))?;
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()?;
        let key = rcgen::KeyPair::generate()?;
        let cert =
            rcgen::CertificateParams::new(vec!["localhost".to_owned()])?.self_signed(&key)?;
        std::fs::write(dir.join("server-ca.pem"), cert.pem())?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind("127.0.0.1:0".parse()?)?;
        // The console's accept queue (`server/src/tls.rs`'s LISTEN_BACKLOG).
        let listener = socket.listen(8192)?;
        std::fs::write(dir.join("address"), listener.local_addr()?.to_string())?;
        let (jobs, _) = broadcast::channel::<()>(4);
        loop {
            let (tcp, _) = listener.accept().await?;
            let acceptor = acceptor.clone();
            let jobs = jobs.clone();
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                let Ok(Ok(tls)) =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                else {
                    return;
                };
                let config = WebSocketConfig::default()
                    .read_buffer_size(4096)
                    .write_buffer_size(0);
                let Ok(ws) = tokio_tungstenite::accept_async_with_config(tls, Some(config)).await
                else {
                    return;
                };
                let (mut tx, mut rx) = ws.split();
                let mut heard = jobs.subscribe();
                loop {
                    tokio::select! {
                        message = rx.next() => match message {
                            Some(Ok(Message::Text(text))) if text.as_str() == "broadcast" => {
                                let _ = jobs.send(());
                            }
                            Some(Ok(Message::Text(text))) => {
                                let answer = if text.as_str() == "hello" { "hello" } else { "ack" };
                                if tx.send(Message::Text(answer.into())).await.is_err() {
                                    return;
                                }
                            }
                            Some(Ok(_)) => {}
                            _ => return,
                        },
                        job = heard.recv() => {
                            if job.is_err() || tx.send(Message::Text("job".into())).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    })
}

/// The running bare server, killed when dropped.
pub struct BareServer {
    child: std::process::Child,
    pub address: SocketAddr,
    pub ca_pem: String,
}

impl BareServer {
    pub fn start(dir: &std::path::Path, client_ca_pem: &str) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("client-ca.pem"), client_ca_pem)?;
        let child = std::process::Command::new(std::env::current_exe()?)
            .env(MODE, dir)
            // Also on its command line, so the run's watchdog finds it.
            .arg(dir)
            .spawn()
            .context("cannot start the bare server")?;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let address = loop {
            if let Ok(text) = std::fs::read_to_string(dir.join("address"))
                && let Ok(address) = text.trim().parse()
            {
                break address;
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "the bare server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Ok(BareServer {
            child,
            address,
            ca_pem: std::fs::read_to_string(dir.join("server-ca.pem"))?,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for BareServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bare server's figures.
pub struct Figures {
    pub connected: Duration,
    pub attempts: u64,
    pub failed: u64,
    pub kib_per_connection: f64,
    pub broadcast_p99: Duration,
    pub broadcast_max: Duration,
}

/// Connects one client per config to the bare server (all at once, each retrying with the
/// agents' backoff), measures its memory with all connected, then has it send one frame to
/// every connection.
pub async fn storm(
    server: &BareServer,
    tls: Vec<Arc<rustls::ClientConfig>>,
    inventories: Vec<String>,
    idle_kib: u64,
    deadline: std::time::Instant,
) -> Result<Figures> {
    use std::sync::atomic::{AtomicU64, Ordering};
    let n = tls.len();
    let attempts = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let (connected_tx, mut connected) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let (job_tx, mut jobs) = tokio::sync::mpsc::unbounded_channel::<std::time::Instant>();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let control = tls.first().cloned().context("no clients")?;
    let started = std::time::Instant::now();
    let tasks: Vec<_> = tls
        .into_iter()
        .zip(inventories)
        .enumerate()
        .map(|(index, (tls, inventory))| {
            let client = Client {
                index,
                inventory,
                address: server.address,
                tls,
                connected: connected_tx.clone(),
                jobs: job_tx.clone(),
                stop: stop.clone(),
                attempts: attempts.clone(),
                failed: failed.clone(),
                deadline,
            };
            tokio::spawn(client.run())
        })
        .collect();
    for _ in 0..n {
        tokio::time::timeout(Duration::from_secs(300), connected.recv())
            .await
            .map_err(|_| anyhow::anyhow!("the bare storm did not finish within 300 s"))?;
    }
    let connected_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss = crate::rss_kib(server.pid())?;

    let ws =
        certfleet_e2e::swarm::connect_from("127.0.0.1".parse()?, server.address, control).await?;
    let (mut tx, _rx) = ws.split();
    let sent = std::time::Instant::now();
    tx.send(Message::Text("broadcast".into())).await?;
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let at = tokio::time::timeout(Duration::from_secs(60), jobs.recv())
            .await
            .map_err(|_| anyhow::anyhow!("the broadcast did not reach every client in 60 s"))?
            .context("closed")?;
        latencies.push(at - sent);
    }
    latencies.sort();
    stop_tx.send(true)?;
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
    Ok(Figures {
        connected: connected_in,
        attempts: attempts.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        kib_per_connection: rss.saturating_sub(idle_kib) as f64 / n as f64,
        broadcast_p99: crate::percentile(&latencies, 0.99),
        broadcast_max: latencies.last().copied().unwrap_or_default(),
    })
}

struct Client {
    index: usize,
    /// The first inventory's frame, as the console is sent it.
    inventory: String,
    address: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    connected: tokio::sync::mpsc::UnboundedSender<usize>,
    jobs: tokio::sync::mpsc::UnboundedSender<std::time::Instant>,
    stop: tokio::sync::watch::Receiver<bool>,
    attempts: Arc<std::sync::atomic::AtomicU64>,
    failed: Arc<std::sync::atomic::AtomicU64>,
    deadline: std::time::Instant,
}

impl Client {
    /// Connects (retrying with the agents' backoff), has its hello echoed, then notes every
    /// `job` frame until stopped.
    async fn run(mut self) {
        use std::sync::atomic::Ordering;
        let mut backoff = crate::agent::Backoff::default();
        loop {
            if *self.stop.borrow() || std::time::Instant::now() > self.deadline {
                return;
            }
            self.attempts.fetch_add(1, Ordering::Relaxed);
            let source = certfleet_e2e::swarm::source_address(self.index);
            let ws = tokio::time::timeout(
                Duration::from_secs(30),
                certfleet_e2e::swarm::connect_from(source, self.address, self.tls.clone()),
            )
            .await;
            if let Ok(Ok(ws)) = ws {
                let (mut tx, mut rx) = ws.split();
                let answered = async |rx: &mut futures_util::stream::SplitStream<_>, want: &str| {
                    while let Some(Ok(m)) = rx.next().await {
                        if matches!(&m, Message::Text(t) if t.as_str() == want) {
                            return Some(());
                        }
                    }
                    None
                };
                let echoed = async {
                    tx.send(Message::Text("hello".into())).await.ok()?;
                    answered(&mut rx, "hello").await?;
                    tx.send(Message::Text(self.inventory.clone().into()))
                        .await
                        .ok()?;
                    answered(&mut rx, "ack").await
                };
                if let Ok(Some(())) = tokio::time::timeout(Duration::from_secs(30), echoed).await {
                    backoff.reset();
                    let _ = self.connected.send(self.index);
                    loop {
                        tokio::select! {
                            _ = self.stop.changed() => {
                                let _ = tx.close().await;
                                return;
                            }
                            m = rx.next() => match m {
                                Some(Ok(Message::Text(t))) if t.as_str() == "job" => {
                                    let _ = self.jobs.send(std::time::Instant::now());
                                }
                                Some(Ok(_)) => {}
                                _ => break,
                            }
                        }
                    }
                    continue;
                }
            }
            self.failed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff.next()).await;
        }
    }
}

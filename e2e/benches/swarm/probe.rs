//! A browser's worth of reading while the swarm writes: the overview page and the expiring
//! list, one after the other over one kept-alive HTTPS connection, as a logged-in admin.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use certfleet_e2e::Console;
use certfleet_e2e::api::{Api, tls_config, tls_connect};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// What is read, and the goal for its p95.
const PAGES: [(&str, &str, &str, &str); 2] = [
    ("overview page (SSR)", "/", "Fleet overview", "p95 ≤ 30 ms"),
    (
        "expiring list (SSR)",
        "/certificates?status=expiring",
        "</table>",
        "p95 ≤ 20 ms",
    ),
];

/// Rounds of requests before the counted ones.
const WARM_UP: usize = 10;

pub struct Probe {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<Vec<Vec<Duration>>>>,
}

impl Probe {
    pub fn start(console: &Console, api: &Api) -> Result<Self> {
        let token = api.token.clone().context("no session")?;
        let ca = console.ca_pem()?;
        let address = console.api;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let (warm_tx, warm) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let tls = tls_connect(address, tls_config(&ca, None)?).await?;
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
                tokio::spawn(connection);
                let mut samples = vec![Vec::new(); PAGES.len()];
                // The first rounds warm the console's caches; they are not counted.
                let mut round = 0;
                while !stopping.load(Ordering::Relaxed) {
                    round += 1;
                    if round == WARM_UP {
                        samples.iter_mut().for_each(Vec::clear);
                        let _ = warm_tx.send(());
                    }
                    for (i, (_, path, expect, _)) in PAGES.iter().enumerate() {
                        let request = hyper::Request::get(*path)
                            .header("host", format!("localhost:{}", address.port()))
                            .header("cookie", format!("certfleet_session={token}"))
                            .body(Empty::<Bytes>::new())?;
                        sender.ready().await?;
                        let started = Instant::now();
                        let response = sender.send_request(request).await?;
                        let status = response.status();
                        let body = response.into_body().collect().await?.to_bytes();
                        samples[i].push(started.elapsed());
                        if !status.is_success() || !String::from_utf8_lossy(&body).contains(expect)
                        {
                            bail!("{path} answered {status}");
                        }
                    }
                    // About a browser's pace: a few requests a second, not a flood.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(samples)
            })
        });
        if warm.recv_timeout(Duration::from_secs(60)).is_err() {
            let error = thread.join().map_err(|_| anyhow!("the probe panicked"))?;
            bail!("the probe did not warm up: {:?}", error.err());
        }
        Ok(Probe { stop, thread })
    }

    /// Stops reading; each page's name, goal and sorted samples.
    pub fn stop(self) -> Result<Vec<(&'static str, &'static str, Vec<Duration>)>> {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self
            .thread
            .join()
            .map_err(|_| anyhow!("the probe panicked"))??;
        Ok(PAGES
            .iter()
            .zip(samples)
            .map(|((name, _, _, goal), mut s)| {
                s.sort();
                (*name, *goal, s)
            })
            .collect())
    }
}

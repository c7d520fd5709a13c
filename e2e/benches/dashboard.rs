//! The dashboard at fleet scale: 10,000 hosts and 100,000 certificates seeded through the
//! store's own ingest, then a release console serves the overview and the certificates table
//! over one kept-alive HTTPS connection. Prints p50/p95 of each, and the store's table query
//! alone.
//!
//! cargo build --release -p certfleet-server
//! cargo bench -p certfleet-e2e --bench dashboard            (HOSTS=10000 CERTS_PER_HOST=10)

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine;
use certfleet_e2e::Console;
use certfleet_e2e::api::{Api, tls_config, tls_connect};
use certfleet_proto::{CertificateInfo, Endpoint, Finding, Hello, Inventory, Snapshot};
use certfleet_store::{CertificateFilter, NewAgent, NewToken, Store};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

const DAY: i64 = 86_400;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name}: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms ({} requests)",
        percentile(&samples, 0.5),
        percentile(&samples, 0.95),
        percentile(&samples, 1.0),
        samples.len()
    );
}

async fn seed(store: &Store, hosts: usize, per_host: usize, now: i64, der: &[u8]) -> Result<()> {
    let der64 = base64::engine::general_purpose::STANDARD.encode(der);
    for h in 0..hosts {
        let id = format!("00000000-0000-4000-8000-{h:012}");
        store
            .create_token(&NewToken {
                id: format!("t{h}"),
                secret_sha256: "x".into(),
                host_hint: None,
                created_by: "seed".into(),
                created_at: now,
                expires_at: now + DAY,
            })
            .await?;
        store
            .enroll_agent(
                &format!("t{h}"),
                "x",
                now,
                &NewAgent {
                    id: &id,
                    cert_serial: "01",
                    cert_not_after: now + 30 * DAY,
                },
            )
            .await?;
        let host_id = store
            .upsert_host(
                &id,
                &Hello {
                    agent_version: "seed".into(),
                    protocol: 1,
                    hostname: format!("host{h:05}"),
                    fqdn: format!("host{h:05}.example.test"),
                    os: "linux".into(),
                    arch: "x86_64".into(),
                    groups: vec![],
                },
                now,
            )
            .await?;
        let mut certificates = Vec::with_capacity(per_host);
        let mut endpoints = Vec::with_capacity(per_host);
        for c in 0..per_host {
            let n = h * per_host + c;
            // Expiries spread from 30 days ago to 400 days ahead.
            let not_after = now - 30 * DAY + ((n * 7919) % (430 * 86_400)) as i64;
            let sha = format!("{n:064X}");
            let name = format!("site{c}.host{h:05}.example.test");
            certificates.push(CertificateInfo {
                sha256: sha.clone(),
                thumbprint: format!("{n:040X}"),
                subject: format!("CN={name}"),
                issuer: if n.is_multiple_of(3) {
                    "CN=R11, O=Let's Encrypt".into()
                } else {
                    "CN=Corp Issuing CA".into()
                },
                serial: format!("{n:X}"),
                dns_names: vec![name.clone()],
                ip_addresses: vec![],
                not_before: not_after - 365 * DAY,
                not_after,
                key_algorithm: "RSA".into(),
                key_bits: 2048,
                signature_algorithm: "sha256WithRSAEncryption".into(),
                self_signed: false,
                der_base64: der64.clone(),
            });
            let findings = if n.is_multiple_of(20) {
                vec![Finding {
                    code: "name_not_covered".into(),
                    severity: certfleet_proto::Severity::Error,
                    message: "seeded".into(),
                    certificate: None,
                }]
            } else {
                vec![]
            };
            endpoints.push(Endpoint {
                key: format!("pem:site{c}"),
                kind: if c % 2 == 0 {
                    certfleet_proto::EndpointKind::Apache
                } else {
                    certfleet_proto::EndpointKind::Pem
                },
                name,
                address: Some(format!("127.0.0.1:{}", 8000 + c)),
                config_path: None,
                configured_sha256: Some(sha.clone()),
                served_sha256: Some(sha),
                errors: vec![],
                findings,
            });
        }
        store
            .ingest_inventory(
                &id,
                host_id,
                &Inventory::of(Snapshot {
                    endpoints,
                    certificates,
                    trust: Vec::new(),
                }),
                now,
            )
            .await?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let hosts: usize = std::env::var("HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let per_host: usize = std::env::var("CERTS_PER_HOST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let temp = tempfile::tempdir()?;
    // DASHBOARD_KEEP=dir keeps the seeded database there for a look with sqlite3.
    let root = std::env::var_os("DASHBOARD_KEEP")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().to_path_buf());
    let data = root.join("data");
    std::fs::create_dir_all(&data)?;
    let der = pem::parse(std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../crates/certkit/tests/fixtures/leaf.pem"),
    )?)?
    .into_contents();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    let started = Instant::now();
    runtime.block_on(async {
        let store = Store::open(&data.join("certfleet.db")).await?;
        seed(&store, hosts, per_host, now, &der).await?;
        // The table query alone, in process, on the seeded file.
        let mut samples = Vec::new();
        for i in 0..200 {
            let filter = CertificateFilter {
                limit: 50,
                now,
                status: (i % 4 == 1).then(|| "expiring".to_owned()),
                search: (i % 4 == 2).then(|| format!("host{:05}", hosts / 2)),
                ..CertificateFilter::default()
            };
            let t = Instant::now();
            let page = store.certificates(&filter).await?;
            samples.push(t.elapsed());
            if page.items.is_empty() {
                bail!("the seeded store returned no certificates");
            }
        }
        report(
            "store: certificates page (50 rows; plain, expiring, search mixed)",
            samples,
        );
        let mut samples = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            store.summary(now, 90).await?;
            samples.push(t.elapsed());
        }
        report("store: summary counts", samples);
        store.close().await;
        anyhow::Ok(())
    })?;
    println!(
        "seeded {hosts} hosts, {} certificates in {:.1} s",
        hosts * per_host,
        started.elapsed().as_secs_f64()
    );

    let console = Console::start(&root)?;
    let api = Api::admin(&console)?;
    let token = api.token.clone().context("session")?;
    let ca = console.ca_pem()?;
    runtime.block_on(async {
        let tls = tls_connect(console.api, tls_config(&ca, None)?).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(connection);
        for (name, path, expect) in [
            ("overview page (SSR)", "/", "Fleet overview"),
            ("certificates page (SSR, 50 rows)", "/certificates", "site"),
            (
                "certificates page filtered to expiring (SSR)",
                "/certificates?status=expiring",
                "site",
            ),
            (
                "API certificates (JSON, 50 rows)",
                "/api/v1/certificates",
                "sha256",
            ),
        ] {
            let mut samples = Vec::new();
            for i in 0..120 {
                let request = hyper::Request::get(path)
                    .header("host", format!("localhost:{}", console.api.port()))
                    .header("cookie", format!("certfleet_session={token}"))
                    .header("authorization", format!("Bearer {token}"))
                    .body(Empty::<Bytes>::new())?;
                sender.ready().await?;
                let t = Instant::now();
                let response = sender.send_request(request).await?;
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                let elapsed = t.elapsed();
                if !status.is_success() || !String::from_utf8_lossy(&body).contains(expect) {
                    bail!(
                        "{path}: {status} {}",
                        String::from_utf8_lossy(&body)
                            .chars()
                            .take(300)
                            .collect::<String>()
                    );
                }
                // The first requests warm caches; they are not counted.
                if i >= 20 {
                    samples.push(elapsed);
                }
            }
            report(name, samples);
        }
        anyhow::Ok(())
    })?;
    Ok(())
}

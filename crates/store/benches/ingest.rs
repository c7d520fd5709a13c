//! Inventory ingest in process, on a real SQLite file: first snapshots of many hosts (every
//! certificate new), then the same snapshots again (nothing to write), then changed ones.
//! Prints certificate rows per second for each.
//!
//! HOSTS=2000 CERTS_PER_HOST=10 BATCH=64 READERS=0 cargo bench -p certfleet-store --bench ingest

use std::time::Instant;

use sha2::Digest;

use certfleet_proto::{CertificateInfo, Endpoint, Finding, Hello, Inventory, Severity, Snapshot};
use certfleet_store::{IngestRequest, NewAgent, NewToken, Store};

const DAY: i64 = 86_400;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Host `h`'s inventory in `round`: `per_host` certificates, each used by one endpoint,
/// one in twenty with an error finding.
fn inventory(h: usize, per_host: usize, round: usize, now: i64) -> Inventory {
    let mut certificates = Vec::with_capacity(per_host);
    let mut endpoints = Vec::with_capacity(per_host);
    for c in 0..per_host {
        let n = (round * 1_000_000 + h) * per_host + c;
        let not_after = now - 30 * DAY + ((n * 7919) % (430 * 86_400)) as i64;
        // A real SHA-256 (and thumbprint) lands anywhere in the hash-keyed indexes; a counter
        // would append to them and hide what a fleet's first snapshots cost.
        let sha = hex::encode_upper(sha2::Sha256::digest(n.to_le_bytes()));
        let name = format!("site{c}.host{h:05}.example.test");
        // A DER-sized blob: the store keeps it as given (the gateway checked it).
        let der = vec![(n % 251) as u8; 1200];
        certificates.push(CertificateInfo {
            sha256: sha.clone(),
            thumbprint: sha[..40].to_owned(),
            subject: format!("CN={name}"),
            issuer: "CN=Corp Issuing CA".into(),
            serial: format!("{n:X}"),
            dns_names: vec![name.clone()],
            ip_addresses: vec![],
            not_before: not_after - 365 * DAY,
            not_after,
            key_algorithm: "RSA".into(),
            key_bits: 2048,
            signature_algorithm: "sha256WithRSAEncryption".into(),
            self_signed: false,
            der_base64: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der),
        });
        endpoints.push(Endpoint {
            key: format!("pem:site{c}"),
            kind: certfleet_proto::EndpointKind::Pem,
            name,
            address: Some(format!("127.0.0.1:{}", 8000 + c)),
            config_path: None,
            configured_sha256: Some(sha.clone()),
            served_sha256: Some(sha),
            errors: vec![],
            findings: if n.is_multiple_of(20) {
                vec![Finding {
                    code: "name_not_covered".into(),
                    severity: Severity::Error,
                    message: "seeded".into(),
                    certificate: None,
                }]
            } else {
                vec![]
            },
        });
    }
    Inventory::of(Snapshot {
        endpoints,
        certificates,
        trust: Vec::new(),
    })
}

async fn hosts(
    store: &Store,
    n: usize,
    now: i64,
) -> Result<Vec<(String, i64)>, Box<dyn std::error::Error>> {
    let mut out = Vec::with_capacity(n);
    for h in 0..n {
        let id = format!("00000000-0000-4000-8000-{h:012}");
        let token = NewToken {
            id: format!("t{h}"),
            secret_sha256: "x".into(),
            host_hint: None,
            created_by: "bench".into(),
            created_at: now,
            expires_at: now + DAY,
        };
        store.create_token(&token).await?;
        let agent = NewAgent {
            id: &id,
            cert_serial: "01",
            cert_not_after: now + 30 * DAY,
        };
        store.enroll_agent(&token.id, "x", now, &agent).await?;
        let hello = Hello {
            agent_version: "bench".into(),
            protocol: 1,
            hostname: format!("host{h:05}"),
            fqdn: format!("host{h:05}.example.test"),
            os: "linux".into(),
            arch: "x86_64".into(),
            groups: vec![],
        };
        let host_id = store.upsert_host(&id, &hello, now).await?;
        out.push((id, host_id));
    }
    Ok(out)
}

/// Ingests `inventories` (one per host) `batch` at a time; returns certificate rows added.
async fn ingest_all(
    store: &Store,
    hosts: &[(String, i64)],
    inventories: &[Inventory],
    batch: usize,
    now: i64,
) -> Result<u64, Box<dyn std::error::Error>> {
    let requests: Vec<IngestRequest<'_>> = hosts
        .iter()
        .zip(inventories)
        .map(|((agent_id, host_id), inventory)| IngestRequest {
            agent_id,
            host_id: *host_id,
            inventory,
        })
        .collect();
    let mut added = 0;
    for chunk in requests.chunks(batch.max(1)) {
        for outcome in store.ingest_inventories(chunk, now).await {
            added += outcome?.certificates_added;
        }
    }
    Ok(added)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // RUST_LOG=certfleet_store=info prints each transaction's steps and their times.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let n = env("HOSTS", 2000);
    let per_host = env("CERTS_PER_HOST", 10);
    let batch = env("BATCH", 64);
    let now = 1_800_000_000;
    let temp = tempfile::tempdir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = Store::open(&temp.path().join("certfleet.db")).await?;
        let hosts = hosts(&store, n, now).await?;
        let first: Vec<Inventory> = (0..n).map(|h| inventory(h, per_host, 0, now)).collect();
        let changed: Vec<Inventory> = (0..n).map(|h| inventory(h, per_host, 1, now)).collect();
        // READERS=N: N tasks reading one agent's stored hash after another meanwhile, as
        // the console's sessions do, so the writer shares the file with readers.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..env("READERS", 0))
            .map(|r| {
                let (store, stop) = (store.clone(), stop.clone());
                let agents: Vec<String> = hosts.iter().map(|(a, _)| a.clone()).collect();
                tokio::spawn(async move {
                    let mut i = r;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let _ = store.inventory_hash(&agents[i % agents.len()]).await;
                        i += 7;
                    }
                })
            })
            .collect();
        let phases = [
            ("first snapshots", &first),
            ("the same again", &first),
            ("changed snapshots", &changed),
        ];
        for (what, inventories) in phases {
            let started = Instant::now();
            let added = ingest_all(&store, &hosts, inventories, batch, now).await?;
            let secs = started.elapsed().as_secs_f64();
            let wal = std::fs::metadata(temp.path().join("certfleet.db-wal")).map_or(0, |m| m.len());
            println!("  (the WAL file is {} MiB now)", wal >> 20);
            println!(
                "{what}: {n} hosts x {per_host} certificates, {batch} hosts a transaction, in {secs:.2} s -> {:.0} snapshots/s, {:.0} certificate rows/s ({added} added)",
                n as f64 / secs,
                (n * per_host) as f64 / secs
            );
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for reader in readers {
            reader.await?;
        }
        Ok(())
    })
}

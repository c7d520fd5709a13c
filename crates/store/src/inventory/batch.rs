//! One write transaction for a round of snapshots of distinct agents: every step is one
//! statement over a JSON array (`json_each`) of all of them.

use std::collections::{BTreeSet, HashMap, HashSet};

use certfleet_proto::{CertificateInfo, Endpoint, EndpointKind, Severity};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Checked, IngestOutcome, counts};
use crate::claims::{claimed_names, record_claims};
use crate::json;
use crate::trust::record_trust;
use crate::{Error, Result, Store};

fn endpoint_hash(endpoint: &Endpoint) -> String {
    hex::encode(Sha256::digest(
        serde_json::to_vec(endpoint).unwrap_or_default(),
    ))
}

/// A certificate's row, as a JSON array (read by position: shorter to parse than keys).
#[derive(Serialize)]
struct CertificateRow<'a>(
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    String,
    String,
    i64,
    i64,
    &'a str,
    u32,
    &'a str,
    bool,
    Option<i64>,
    i64,
    i64,
    i64,
);

impl<'a> CertificateRow<'a> {
    fn of(cert: &'a CertificateInfo, usage: Usage, unused_since: Option<i64>) -> Self {
        CertificateRow(
            &cert.sha256,
            &cert.thumbprint,
            &cert.subject,
            &cert.issuer,
            &cert.serial,
            json(&cert.dns_names),
            json(&cert.ip_addresses),
            cert.not_before,
            cert.not_after,
            &cert.key_algorithm,
            cert.key_bits,
            &cert.signature_algorithm,
            cert.self_signed,
            unused_since,
            usage.endpoints,
            usage.errors,
            usage.warnings,
        )
    }
}

/// How the endpoints written in this transaction use a new certificate: the counts the
/// stored ones get from `counts::recompute`.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    endpoints: i64,
    errors: i64,
    warnings: i64,
}

impl Usage {
    fn add(&mut self, endpoint: &Endpoint) {
        self.endpoints += 1;
        for finding in &endpoint.findings {
            match finding.severity {
                Severity::Error => self.errors += 1,
                Severity::Warning => self.warnings += 1,
                _ => {}
            }
        }
    }

    fn in_use(self) -> i64 {
        i64::from(self.endpoints > 0)
    }

    fn broken(self) -> i64 {
        i64::from(self.endpoints > 0 && self.errors > 0)
    }
}

#[derive(Serialize)]
struct EndpointRow<'a> {
    host_id: i64,
    key: &'a str,
    kind: EndpointKind,
    name: &'a str,
    address: Option<&'a str>,
    config_path: Option<&'a str>,
    configured: Option<&'a str>,
    served: Option<&'a str>,
    errors: String,
    content: String,
}

#[derive(Serialize)]
struct FindingRow<'a> {
    host_id: i64,
    key: &'a str,
    code: &'a str,
    severity: Severity,
    message: &'a str,
    certificate: Option<&'a str>,
}

/// An endpoint as stored before this transaction.
struct Stored {
    id: i64,
    content: String,
    shas: [Option<String>; 2],
}

/// Writes the round; one outcome per item, in order. An error is the transaction's: nothing
/// of the round was written.
pub(super) async fn write(
    store: &Store,
    items: &[&Checked<'_>],
    now: i64,
) -> Result<Vec<Result<IngestOutcome>>> {
    let mut steps = Steps::start();
    let mut tx = store.write_transaction().await?;
    steps.mark("begin");
    let agent_ids = json(&items.iter().map(|c| c.request.agent_id).collect::<Vec<_>>());
    let stored_hashes: HashMap<String, Option<String>> = sqlx::query!(
        r#"SELECT id AS "id!", inventory_hash FROM agents
           WHERE id IN (SELECT value FROM json_each(?))"#,
        agent_ids
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| (r.id, r.inventory_hash))
    .collect();

    steps.mark("hashes");
    let mut outcomes: Vec<Result<IngestOutcome>> = Vec::with_capacity(items.len());
    let mut changed: Vec<(usize, &Checked<'_>)> = Vec::new();
    for (at, item) in items.iter().enumerate() {
        match stored_hashes.get(item.request.agent_id) {
            None => outcomes.push(Err(Error::NotFound { what: "agent" })),
            Some(Some(hash)) if *hash == item.request.inventory.hash => {
                outcomes.push(Ok(IngestOutcome::default()))
            }
            Some(_) => {
                // Filled in below.
                outcomes.push(Ok(IngestOutcome::default()));
                changed.push((at, item));
            }
        }
    }
    if changed.is_empty() {
        tx.commit().await?;
        return Ok(outcomes);
    }
    // The outcome of each changed snapshot, by its place in `changed`.
    let mut done: Vec<IngestOutcome> = changed
        .iter()
        .map(|_| IngestOutcome {
            changed: true,
            ..IngestOutcome::default()
        })
        .collect();

    // Every certificate once, with the first snapshot that lists it.
    let mut first_lister: HashMap<&str, (usize, &CertificateInfo, &[u8])> = HashMap::new();
    for (at, (_, item)) in changed.iter().enumerate() {
        let snapshot = &item.request.inventory.snapshot;
        for (cert, der) in snapshot.certificates.iter().zip(&item.ders) {
            first_lister.entry(&cert.sha256).or_insert((at, cert, der));
        }
    }
    let listed = json(&first_lister.keys().collect::<Vec<_>>());
    let known: HashSet<String> = sqlx::query_scalar!(
        r#"SELECT sha256 AS "sha256!" FROM certificates
           WHERE sha256 IN (SELECT value FROM json_each(?))"#,
        listed
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();

    steps.mark("known");
    // Endpoints: what each host had, what it has now.
    let host_ids = json(
        &changed
            .iter()
            .map(|(_, c)| c.request.host_id)
            .collect::<Vec<_>>(),
    );
    // By host, then endpoint key.
    let mut before: HashMap<i64, HashMap<String, Stored>> = HashMap::new();
    for row in sqlx::query!(
        r#"SELECT id AS "id!", host_id, key, content_sha256, configured_sha256, served_sha256
           FROM endpoints WHERE host_id IN (SELECT value FROM json_each(?))"#,
        host_ids
    )
    .fetch_all(&mut *tx)
    .await?
    {
        before.entry(row.host_id).or_default().insert(
            row.key,
            Stored {
                id: row.id,
                content: row.content_sha256,
                shas: [row.configured_sha256, row.served_sha256],
            },
        );
    }

    steps.mark("endpoints_read");
    // Stored certificates whose usage counts are recomputed at the end; a new certificate's
    // are counted here, as every endpoint that uses it is written in this transaction.
    let mut affected: BTreeSet<String> = BTreeSet::new();
    let mut new_usage: HashMap<&str, Usage> = HashMap::new();
    let mut written: Vec<EndpointRow<'_>> = Vec::new();
    let mut rewritten_ids: Vec<i64> = Vec::new();
    let mut findings_of: Vec<(i64, &Endpoint)> = Vec::new();
    let mut claims: Vec<(String, i64)> = Vec::new();
    let mut removed_ids: Vec<i64> = Vec::new();
    for (at, (_, item)) in changed.iter().enumerate() {
        let host_id = item.request.host_id;
        let snapshot = &item.request.inventory.snapshot;
        let facts: HashMap<&str, &CertificateInfo> = snapshot
            .certificates
            .iter()
            .map(|c| (c.sha256.as_str(), c))
            .collect();
        let stored = before.remove(&host_id).unwrap_or_default();
        let mut claimed = BTreeSet::new();
        let mut endpoints_written = 0;
        for endpoint in &snapshot.endpoints {
            let content = endpoint_hash(endpoint);
            let old = stored.get(endpoint.key.as_str());
            if old.is_some_and(|o| o.content == content) {
                continue;
            }
            let uses: BTreeSet<&str> = [&endpoint.configured_sha256, &endpoint.served_sha256]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            for sha in uses {
                if known.contains(sha) {
                    affected.insert(sha.to_owned());
                } else {
                    new_usage.entry(sha).or_default().add(endpoint);
                }
            }
            if let Some(old) = old {
                affected.extend(old.shas.iter().flatten().cloned());
                rewritten_ids.push(old.id);
            }
            written.push(EndpointRow {
                host_id,
                key: &endpoint.key,
                kind: endpoint.kind,
                name: &endpoint.name,
                address: endpoint.address.as_deref(),
                config_path: endpoint.config_path.as_deref(),
                configured: endpoint.configured_sha256.as_deref(),
                served: endpoint.served_sha256.as_deref(),
                errors: json(&endpoint.errors),
                content,
            });
            findings_of.push((host_id, endpoint));
            let certificate_names = [&endpoint.configured_sha256, &endpoint.served_sha256]
                .into_iter()
                .flatten()
                .filter_map(|sha| facts.get(sha.as_str()))
                .flat_map(|c| c.dns_names.iter());
            claimed.extend(claimed_names(&endpoint.name, certificate_names));
            endpoints_written += 1;
        }
        claims.extend(claimed.into_iter().map(|name| (name, host_id)));
        let keep: HashSet<&str> = snapshot.endpoints.iter().map(|e| e.key.as_str()).collect();
        let mut endpoints_removed = 0;
        for (key, old) in &stored {
            if !keep.contains(key.as_str()) {
                affected.extend(old.shas.iter().flatten().cloned());
                removed_ids.push(old.id);
                endpoints_removed += 1;
            }
        }
        done[at].endpoints_written = endpoints_written;
        done[at].endpoints_removed = endpoints_removed;
    }

    steps.mark("plan");
    // New certificates, written once with their counts; their DERs as one blob and each
    // one's place in it (no hex or JSON for the bulk).
    let mut days = counts::Days::default();
    let mut rows = Vec::new();
    let mut blob: Vec<u8> = Vec::new();
    let mut places: Vec<(&str, usize, usize)> = Vec::new();
    for (sha, (at, cert, der)) in &first_lister {
        if known.contains(*sha) {
            continue;
        }
        let usage = new_usage.get(sha).copied().unwrap_or_default();
        days.add(cert.not_after, usage.in_use(), usage.broken());
        rows.push(CertificateRow::of(
            cert,
            usage,
            (usage.endpoints == 0).then_some(now),
        ));
        done[*at].certificates_added += 1;
        // substr() counts from 1.
        places.push((sha, blob.len() + 1, der.len()));
        blob.extend_from_slice(der);
    }
    if !rows.is_empty() {
        let rows = json(&rows);
        sqlx::query!(
            "INSERT INTO certificates (sha256, thumbprint, subject, issuer, serial,
                 dns_names_json, ip_addresses_json, not_before, not_after, key_algorithm,
                 key_bits, signature_algorithm, self_signed, first_seen_at, unused_since,
                 endpoint_count, error_count, warning_count)
             SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5,
                 value->>6, value->>7, value->>8, value->>9, value->>10, value->>11,
                 value->>12, ?1, value->>13, value->>14, value->>15, value->>16
             FROM json_each(?2)",
            now,
            rows
        )
        .execute(&mut *tx)
        .await?;
        steps.mark("certificates");
        let places = json(&places);
        sqlx::query!(
            "INSERT INTO certificate_ders (sha256, der)
             SELECT value->>0, substr(?1, value->>1, value->>2) FROM json_each(?2)",
            blob,
            places
        )
        .execute(&mut *tx)
        .await?;
        steps.mark("ders");
    }

    if !written.is_empty() {
        let rows = json(&written);
        // No RETURNING: SQLite's worker hands each returned row over on its own, waking this
        // task once per endpoint; the findings below find their endpoint by its key instead.
        sqlx::query!(
            r#"INSERT INTO endpoints (host_id, key, kind, name, address, config_path,
                   configured_sha256, served_sha256, errors_json, content_sha256, updated_at)
               SELECT value->>'host_id', value->>'key', value->>'kind', value->>'name',
                   value->>'address', value->>'config_path', value->>'configured',
                   value->>'served', value->>'errors', value->>'content', ?1
               FROM json_each(?2) WHERE true
               ON CONFLICT (host_id, key) DO UPDATE SET
                   kind = excluded.kind, name = excluded.name, address = excluded.address,
                   config_path = excluded.config_path,
                   configured_sha256 = excluded.configured_sha256,
                   served_sha256 = excluded.served_sha256, errors_json = excluded.errors_json,
                   content_sha256 = excluded.content_sha256, updated_at = excluded.updated_at"#,
            now,
            rows
        )
        .execute(&mut *tx)
        .await?;
        steps.mark("endpoint_upsert");
        if !rewritten_ids.is_empty() {
            let rewritten = json(&rewritten_ids);
            sqlx::query!(
                "DELETE FROM findings WHERE endpoint_id IN (SELECT value FROM json_each(?))",
                rewritten
            )
            .execute(&mut *tx)
            .await?;
            steps.mark("findings_delete");
        }
        let mut findings = Vec::new();
        for (host_id, endpoint) in &findings_of {
            findings.extend(endpoint.findings.iter().map(|f| FindingRow {
                host_id: *host_id,
                key: &endpoint.key,
                code: &f.code,
                severity: f.severity,
                message: &f.message,
                certificate: f.certificate.as_deref(),
            }));
        }
        if !findings.is_empty() {
            let findings = json(&findings);
            sqlx::query!(
                "INSERT INTO findings (endpoint_id, code, severity, message, certificate)
                 SELECT e.id, j.value->>'code', j.value->>'severity', j.value->>'message',
                     j.value->>'certificate'
                 FROM json_each(?) AS j
                 JOIN endpoints e ON e.host_id = j.value->>'host_id' AND e.key = j.value->>'key'",
                findings
            )
            .execute(&mut *tx)
            .await?;
            steps.mark("findings");
        }
    }

    record_claims(&mut tx, &claims, now).await?;
    steps.mark("claims");
    let trust: Vec<(i64, &[certfleet_proto::TrustCheck])> = changed
        .iter()
        .map(|(_, c)| {
            (
                c.request.host_id,
                c.request.inventory.snapshot.trust.as_slice(),
            )
        })
        .collect();
    let mut newly_trusted = record_trust(&mut tx, &trust, now).await?;
    steps.mark("trust");
    for (at, (_, item)) in changed.iter().enumerate() {
        if let Some(servers) = newly_trusted.remove(&item.request.host_id) {
            done[at].newly_trusted = servers;
        }
    }

    if !removed_ids.is_empty() {
        let removed = json(&removed_ids);
        sqlx::query!(
            "DELETE FROM endpoints WHERE id IN (SELECT value FROM json_each(?))",
            removed
        )
        .execute(&mut *tx)
        .await?;
        steps.mark("removed");
    }

    counts::recompute(&mut tx, &affected, now, &mut days).await?;
    days.write(&mut tx).await?;
    steps.mark("counts");

    let hashes = json(
        &changed
            .iter()
            .map(|(_, c)| (c.request.agent_id, c.request.inventory.hash.as_str()))
            .collect::<Vec<_>>(),
    );
    sqlx::query!(
        "UPDATE agents SET inventory_hash = j.value->>1
         FROM json_each(?) AS j WHERE agents.id = j.value->>0",
        hashes
    )
    .execute(&mut *tx)
    .await?;
    steps.mark("agents");
    tx.commit().await?;
    steps.mark("commit");
    tracing::info!(
        snapshots = items.len(),
        changed = changed.len(),
        certificates_added = done.iter().map(|d| d.certificates_added).sum::<u64>(),
        endpoints_written = done.iter().map(|d| d.endpoints_written).sum::<u64>(),
        recounted = affected.len(),
        "ingest batch stored: {}",
        steps.report()
    );
    for ((at, _), outcome) in changed.iter().zip(done) {
        outcomes[*at] = Ok(outcome);
    }
    Ok(outcomes)
}

/// How long each step of a batch took, for the log line that says a batch was stored.
struct Steps {
    last: std::time::Instant,
    took: Vec<(&'static str, std::time::Duration)>,
}

impl Steps {
    fn start() -> Self {
        Steps {
            last: std::time::Instant::now(),
            took: Vec::new(),
        }
    }

    fn mark(&mut self, step: &'static str) {
        let now = std::time::Instant::now();
        self.took.push((step, now - self.last));
        self.last = now;
    }

    fn report(&self) -> String {
        let total: std::time::Duration = self.took.iter().map(|(_, d)| *d).sum();
        let steps: Vec<String> = self
            .took
            .iter()
            .map(|(step, d)| format!("{step} {:.1}", d.as_secs_f64() * 1000.0))
            .collect();
        format!(
            "{:.1} ms ({} ms)",
            total.as_secs_f64() * 1000.0,
            steps.join(", ")
        )
    }
}

//! Inventory ingest: a full snapshot comes in, only what changed is written, in one
//! transaction.

use std::collections::{HashMap, HashSet};

use certfleet_proto::{CertificateInfo, Endpoint, Inventory};
use sha2::{Digest, Sha256};

use crate::claims::{claimed_names, record_claims};
use crate::trust::record_trust;
use crate::{Error, Result, Store};

/// What an ingest did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// False when the snapshot's hash equals the stored one: nothing was written.
    pub changed: bool,
    pub certificates_added: u64,
    pub endpoints_written: u64,
    pub endpoints_removed: u64,
    /// Servers (name, port) this host, as a client, now trusts over a chain it did not
    /// trust before.
    pub newly_trusted: Vec<(String, u16)>,
}

fn endpoint_hash(endpoint: &Endpoint) -> String {
    hex::encode(Sha256::digest(
        serde_json::to_vec(endpoint).unwrap_or_default(),
    ))
}

impl Store {
    /// Stores `inventory` for the agent's host. The caller has checked `inventory.hash`.
    pub async fn ingest_inventory(
        &self,
        agent_id: &str,
        host_id: i64,
        inventory: &Inventory,
        now: i64,
    ) -> Result<IngestOutcome> {
        let snapshot = &inventory.snapshot;
        // Each certificate's facts by SHA-256: what endpoints name must be included, and
        // what names they claim.
        let facts: HashMap<&str, &CertificateInfo> = snapshot
            .certificates
            .iter()
            .map(|c| (c.sha256.as_str(), c))
            .collect();
        for endpoint in &snapshot.endpoints {
            for sha in [&endpoint.configured_sha256, &endpoint.served_sha256]
                .into_iter()
                .flatten()
            {
                if !facts.contains_key(sha.as_str()) {
                    return Err(Error::Corrupt(format!(
                        "endpoint {} names certificate {sha}, which the inventory does not include",
                        endpoint.key
                    )));
                }
            }
        }
        for check in &snapshot.trust {
            if let Some(sha) = check.chain.iter().find(|s| !facts.contains_key(s.as_str())) {
                return Err(Error::Corrupt(format!(
                    "the trust check of {} names certificate {sha}, which the inventory does not \
                     include",
                    check.endpoint
                )));
            }
        }

        let mut tx = self.write_transaction().await?;
        let stored =
            sqlx::query_scalar!("SELECT inventory_hash FROM agents WHERE id = ?", agent_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(Error::NotFound { what: "agent" })?;
        if stored.as_deref() == Some(inventory.hash.as_str()) {
            return Ok(IngestOutcome::default());
        }
        let mut outcome = IngestOutcome {
            changed: true,
            ..IngestOutcome::default()
        };

        for cert in &snapshot.certificates {
            let dns = serde_json::to_string(&cert.dns_names).unwrap_or_else(|_| "[]".into());
            let ips = serde_json::to_string(&cert.ip_addresses).unwrap_or_else(|_| "[]".into());
            let der = base64_decode(&cert.der_base64).ok_or_else(|| {
                Error::Corrupt(format!("certificate {} has bad base64", cert.sha256))
            })?;
            let key_bits = i64::from(cert.key_bits);
            let added = sqlx::query!(
                "INSERT OR IGNORE INTO certificates (sha256, thumbprint, subject, issuer, serial,
                     dns_names_json, ip_addresses_json, not_before, not_after, key_algorithm,
                     key_bits, signature_algorithm, self_signed, first_seen_at, unused_since)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                cert.sha256,
                cert.thumbprint,
                cert.subject,
                cert.issuer,
                cert.serial,
                dns,
                ips,
                cert.not_before,
                cert.not_after,
                cert.key_algorithm,
                key_bits,
                cert.signature_algorithm,
                cert.self_signed,
                now,
                now
            )
            .execute(&mut *tx)
            .await?;
            if added.rows_affected() == 1 {
                sqlx::query!(
                    "INSERT INTO certificate_ders (sha256, der) VALUES (?, ?)",
                    cert.sha256,
                    der
                )
                .execute(&mut *tx)
                .await?;
            }
            outcome.certificates_added += added.rows_affected();
        }

        // Certificates whose usage counts must be recomputed at the end.
        let mut affected: HashSet<String> = HashSet::new();
        let mut existing: HashMap<String, (i64, String)> = HashMap::new();
        let mut previous: HashMap<String, [Option<String>; 2]> = HashMap::new();
        for row in sqlx::query!(
            r#"SELECT id AS "id!", key, content_sha256, configured_sha256, served_sha256
               FROM endpoints WHERE host_id = ?"#,
            host_id
        )
        .fetch_all(&mut *tx)
        .await?
        {
            previous.insert(row.key.clone(), [row.configured_sha256, row.served_sha256]);
            existing.insert(row.key, (row.id, row.content_sha256));
        }

        // The names the written endpoints claim, recorded in one statement.
        let mut claimed = std::collections::BTreeSet::new();
        for endpoint in &snapshot.endpoints {
            let content = endpoint_hash(endpoint);
            let errors = serde_json::to_string(&endpoint.errors).unwrap_or_else(|_| "[]".into());
            let kind = endpoint.kind.as_str();
            let id = match existing.get(&endpoint.key) {
                Some((_, hash)) if *hash == content => continue,
                _ => {
                    affected.extend(endpoint.configured_sha256.iter().cloned());
                    affected.extend(endpoint.served_sha256.iter().cloned());
                    if let Some(old) = previous.get(&endpoint.key) {
                        affected.extend(old.iter().flatten().cloned());
                    }
                    existing.get(&endpoint.key)
                }
            };
            let id = match id {
                Some((id, _)) => {
                    sqlx::query!(
                        "UPDATE endpoints SET kind = ?, name = ?, address = ?, config_path = ?,
                             configured_sha256 = ?, served_sha256 = ?, errors_json = ?,
                             content_sha256 = ?, updated_at = ?
                         WHERE id = ?",
                        kind,
                        endpoint.name,
                        endpoint.address,
                        endpoint.config_path,
                        endpoint.configured_sha256,
                        endpoint.served_sha256,
                        errors,
                        content,
                        now,
                        id
                    )
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query!("DELETE FROM findings WHERE endpoint_id = ?", id)
                        .execute(&mut *tx)
                        .await?;
                    *id
                }
                None => sqlx::query!(
                    "INSERT INTO endpoints (host_id, key, kind, name, address, config_path,
                         configured_sha256, served_sha256, errors_json, content_sha256, updated_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    host_id,
                    endpoint.key,
                    kind,
                    endpoint.name,
                    endpoint.address,
                    endpoint.config_path,
                    endpoint.configured_sha256,
                    endpoint.served_sha256,
                    errors,
                    content,
                    now
                )
                .execute(&mut *tx)
                .await?
                .last_insert_rowid(),
            };
            for finding in &endpoint.findings {
                sqlx::query!(
                    "INSERT INTO findings (endpoint_id, code, severity, message, certificate)
                     VALUES (?, ?, ?, ?, ?)",
                    id,
                    finding.code,
                    finding.severity,
                    finding.message,
                    finding.certificate
                )
                .execute(&mut *tx)
                .await?;
            }
            let certificate_names = [&endpoint.configured_sha256, &endpoint.served_sha256]
                .into_iter()
                .flatten()
                .filter_map(|sha| facts.get(sha.as_str()))
                .flat_map(|c| c.dns_names.iter());
            claimed.extend(claimed_names(&endpoint.name, certificate_names));
            outcome.endpoints_written += 1;
        }

        record_claims(&mut tx, host_id, &claimed, now).await?;
        outcome.newly_trusted = record_trust(&mut tx, host_id, &snapshot.trust, now).await?;

        let keep: HashSet<&str> = snapshot.endpoints.iter().map(|e| e.key.as_str()).collect();
        for (key, (id, _)) in &existing {
            if !keep.contains(key.as_str()) {
                if let Some(old) = previous.get(key) {
                    affected.extend(old.iter().flatten().cloned());
                }
                sqlx::query!("DELETE FROM endpoints WHERE id = ?", id)
                    .execute(&mut *tx)
                    .await?;
                outcome.endpoints_removed += 1;
            }
        }

        for sha in &affected {
            let before = sqlx::query!(
                "SELECT endpoint_count, error_count, not_after FROM certificates WHERE sha256 = ?",
                sha
            )
            .fetch_one(&mut *tx)
            .await?;
            let after = sqlx::query!(
                r#"UPDATE certificates SET
                     endpoint_count = (SELECT COUNT(*) FROM endpoints e
                                       WHERE e.configured_sha256 = ?1 OR e.served_sha256 = ?1),
                     error_count = (SELECT COUNT(*) FROM endpoints e
                                    JOIN findings f ON f.endpoint_id = e.id
                                    WHERE (e.configured_sha256 = ?1 OR e.served_sha256 = ?1)
                                      AND f.severity = 'error'),
                     warning_count = (SELECT COUNT(*) FROM endpoints e
                                      JOIN findings f ON f.endpoint_id = e.id
                                      WHERE (e.configured_sha256 = ?1 OR e.served_sha256 = ?1)
                                        AND f.severity = 'warning')
                   WHERE sha256 = ?1
                   RETURNING endpoint_count AS "endpoint_count!: i64", error_count AS "error_count!: i64""#,
                sha
            )
            .fetch_one(&mut *tx)
            .await?;
            let used = |count: i64| i64::from(count > 0);
            let broken = |count: i64, errors: i64| i64::from(count > 0 && errors > 0);
            let in_use_delta = used(after.endpoint_count) - used(before.endpoint_count);
            let broken_delta = broken(after.endpoint_count, after.error_count)
                - broken(before.endpoint_count, before.error_count);
            if in_use_delta != 0 {
                // Used again, or unused from now on: the clean-up goes by this.
                let unused_since = (after.endpoint_count == 0).then_some(now);
                sqlx::query!(
                    "UPDATE certificates SET unused_since = ? WHERE sha256 = ?",
                    unused_since,
                    sha
                )
                .execute(&mut *tx)
                .await?;
            }
            if in_use_delta != 0 || broken_delta != 0 {
                let day = before.not_after.div_euclid(86_400);
                sqlx::query!(
                    "INSERT INTO expiry_days (day, in_use, broken) VALUES (?, ?, ?)
                     ON CONFLICT (day) DO UPDATE SET
                         in_use = in_use + excluded.in_use, broken = broken + excluded.broken",
                    day,
                    in_use_delta,
                    broken_delta
                )
                .execute(&mut *tx)
                .await?;
            }
        }

        sqlx::query!(
            "UPDATE agents SET inventory_hash = ? WHERE id = ?",
            inventory.hash,
            agent_id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(outcome)
    }
}

impl Store {
    /// Removes the certificates no endpoint has used since before `before` (with their DER
    /// and search entry); returns how many. Renewals keep their own copy.
    pub async fn remove_unused_certificates(&self, before: i64) -> Result<u64> {
        let mut tx = self.write_transaction().await?;
        let unused = sqlx::query_scalar!(
            r#"SELECT c.sha256 AS "sha256!" FROM certificates c
               WHERE c.endpoint_count = 0 AND c.unused_since < ?1
                 AND NOT EXISTS (SELECT 1 FROM endpoints e WHERE e.configured_sha256 = c.sha256)
                 AND NOT EXISTS (SELECT 1 FROM endpoints e WHERE e.served_sha256 = c.sha256)
                 AND NOT EXISTS (SELECT 1 FROM trust_checks t, json_each(t.chain_json) j
                                 WHERE j.value = c.sha256)"#,
            before
        )
        .fetch_all(&mut *tx)
        .await?;
        let list = serde_json::to_string(&unused).unwrap_or_else(|_| "[]".into());
        sqlx::query!(
            "DELETE FROM certificate_ders WHERE sha256 IN (SELECT value FROM json_each(?))",
            list
        )
        .execute(&mut *tx)
        .await?;
        let removed = sqlx::query!(
            "DELETE FROM certificates WHERE sha256 IN (SELECT value FROM json_each(?))",
            list
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(removed)
    }
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

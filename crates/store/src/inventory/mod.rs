//! Inventory ingest: full snapshots come in, only what changed is written. Many hosts'
//! snapshots share one write transaction (the console's ingest writer gathers them), each
//! step one statement over all of them, so the cost of a transaction and of a round trip to
//! SQLite is paid once per batch instead of once per host and row.

mod batch;
mod counts;

use std::collections::{HashMap, HashSet};

use certfleet_proto::{CertificateInfo, Inventory};

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

/// One agent's inventory to store for its host. The caller has checked `inventory.hash`.
#[derive(Debug, Clone, Copy)]
pub struct IngestRequest<'a> {
    pub agent_id: &'a str,
    pub host_id: i64,
    pub inventory: &'a Inventory,
}

/// A request that passed the checks that need no database, with its DERs decoded.
struct Checked<'a> {
    request: IngestRequest<'a>,
    ders: Vec<Vec<u8>>,
}

/// The checks of one snapshot's own consistency: a refusal names what is wrong, and only
/// that snapshot is refused.
fn check<'a>(request: IngestRequest<'a>) -> Result<Checked<'a>> {
    let snapshot = &request.inventory.snapshot;
    let facts: HashMap<&str, &CertificateInfo> = snapshot
        .certificates
        .iter()
        .map(|c| (c.sha256.as_str(), c))
        .collect();
    let mut keys = HashSet::new();
    for endpoint in &snapshot.endpoints {
        if !keys.insert(endpoint.key.as_str()) {
            return Err(Error::Corrupt(format!(
                "the inventory lists endpoint {} twice",
                endpoint.key
            )));
        }
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
    let ders = snapshot
        .certificates
        .iter()
        .map(|cert| {
            base64_decode(&cert.der_base64).ok_or_else(|| {
                Error::Corrupt(format!("certificate {} has bad base64", cert.sha256))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Checked { request, ders })
}

impl Store {
    /// Stores one agent's inventory for its host.
    pub async fn ingest_inventory(
        &self,
        agent_id: &str,
        host_id: i64,
        inventory: &Inventory,
        now: i64,
    ) -> Result<IngestOutcome> {
        let request = IngestRequest {
            agent_id,
            host_id,
            inventory,
        };
        self.ingest_inventories(&[request], now)
            .await
            .pop()
            .unwrap_or(Err(Error::NotFound { what: "agent" }))
    }

    /// Stores many agents' inventories, one outcome per request in the same order. They
    /// share write transactions (one, unless an agent is listed twice: its later snapshot
    /// goes in a later one, so the newest wins); when a shared transaction fails, each
    /// snapshot in it is tried in a transaction of its own, so one cannot fail the others.
    pub async fn ingest_inventories(
        &self,
        requests: &[IngestRequest<'_>],
        now: i64,
    ) -> Vec<Result<IngestOutcome>> {
        let mut outcomes: Vec<Option<Result<IngestOutcome>>> =
            requests.iter().map(|_| None).collect();
        let mut waiting: Vec<(usize, Checked<'_>)> = Vec::new();
        for (at, request) in requests.iter().enumerate() {
            match check(*request) {
                Ok(checked) => waiting.push((at, checked)),
                Err(e) => outcomes[at] = Some(Err(e)),
            }
        }
        while !waiting.is_empty() {
            // This round: each agent's first waiting snapshot.
            let mut agents = HashSet::new();
            let (round, later): (Vec<_>, Vec<_>) = waiting
                .into_iter()
                .partition(|(_, c)| agents.insert(c.request.agent_id));
            waiting = later;
            let items: Vec<&Checked<'_>> = round.iter().map(|(_, c)| c).collect();
            match batch::write(self, &items, now).await {
                Ok(done) => {
                    for ((at, _), outcome) in round.iter().zip(done) {
                        outcomes[*at] = Some(outcome);
                    }
                }
                Err(e) if round.len() == 1 => outcomes[round[0].0] = Some(Err(e)),
                Err(e) => {
                    tracing::warn!(
                        snapshots = round.len(),
                        "a shared ingest transaction failed ({e}); storing each on its own"
                    );
                    for (at, checked) in &round {
                        outcomes[*at] = Some(match batch::write(self, &[checked], now).await {
                            Ok(mut done) => {
                                done.pop().unwrap_or(Err(Error::NotFound { what: "agent" }))
                            }
                            Err(e) => Err(e),
                        });
                    }
                }
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Err(Error::NotFound { what: "agent" })))
            .collect()
    }

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
        let list = crate::json(&unused);
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

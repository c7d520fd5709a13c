//! Client trust: each client machine's last trust checks, and for a server endpoint the
//! clients that must trust it (found by the name and port they connect to).

use std::collections::HashMap;

use certfleet_proto::{Revocation, TrustCheck, TrustOrigin, TrustVerdict};
use serde::Serialize;
use sqlx::SqliteConnection;

use crate::read::json_list;
use crate::{Result, Store};

/// One client's verdict on one server it must trust.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TrustRow {
    pub host_id: i64,
    pub hostname: String,
    /// The client's agent (a rollout's trust step is sent to it).
    pub agent_id: String,
    /// `host:port`, as the client is configured.
    pub endpoint: String,
    pub server_name: String,
    pub port: i64,
    pub origin: TrustOrigin,
    pub verdict: TrustVerdict,
    pub reason: String,
    /// SHA-256 of each certificate the client was served, leaf first.
    pub chain: Vec<String>,
    /// The trust store it judged against.
    pub store: String,
    pub revocation: Revocation,
    /// When this verdict was first reported.
    pub since: i64,
}

/// Replaces each host's trust checks with its new ones (every host listed, also those that
/// now have none), keeping `since` where a verdict stayed. Returns, per host, the servers
/// (name, port) that client now trusts over a chain it did not trust before. Two
/// statements for the whole batch.
pub(crate) async fn record_trust(
    tx: &mut SqliteConnection,
    hosts: &[(i64, &[TrustCheck])],
    now: i64,
) -> Result<HashMap<i64, Vec<(String, u16)>>> {
    #[derive(Serialize)]
    struct Row<'a> {
        host_id: i64,
        endpoint: &'a str,
        server_name: String,
        port: i64,
        origin: TrustOrigin,
        verdict: TrustVerdict,
        reason: &'a str,
        chain: String,
        store: &'a str,
        revocation: Revocation,
        since: i64,
    }
    let ids = crate::json(&hosts.iter().map(|(id, _)| *id).collect::<Vec<_>>());
    let before: HashMap<(i64, String, String), (TrustVerdict, i64, String)> = sqlx::query!(
        r#"DELETE FROM trust_checks WHERE host_id IN (SELECT value FROM json_each(?))
           RETURNING host_id AS "host_id!", endpoint AS "endpoint!",
                     server_name AS "server_name!", verdict AS "verdict!: TrustVerdict",
                     since AS "since!", chain_json AS "chain_json!""#,
        ids
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| {
        (
            (r.host_id, r.endpoint, r.server_name),
            (r.verdict, r.since, r.chain_json),
        )
    })
    .collect();
    let mut newly_trusted: HashMap<i64, Vec<(String, u16)>> = HashMap::new();
    let mut rows = Vec::new();
    for (host_id, checks) in hosts {
        for check in *checks {
            let server_name = check.server_name.to_ascii_lowercase();
            let chain = crate::json(&check.chain);
            let earlier = before.get(&(*host_id, check.endpoint.clone(), server_name.clone()));
            let since = match earlier {
                Some((verdict, since, _)) if *verdict == check.verdict => *since,
                _ => now,
            };
            let port = certfleet_proto::host_and_port(&check.endpoint).map_or(0, |(_, p)| p);
            let was_trusted = earlier.is_some_and(|(v, _, c)| v.is_trusted() && *c == chain);
            if check.verdict.is_trusted() && !was_trusted && port > 0 {
                newly_trusted
                    .entry(*host_id)
                    .or_default()
                    .push((server_name.clone(), port));
            }
            rows.push(Row {
                host_id: *host_id,
                endpoint: &check.endpoint,
                server_name,
                port: i64::from(port),
                origin: check.origin,
                verdict: check.verdict,
                reason: &check.reason,
                chain,
                store: &check.store,
                revocation: check.revocation,
                since,
            });
        }
    }
    if rows.is_empty() {
        return Ok(newly_trusted);
    }
    let rows = crate::json(&rows);
    sqlx::query!(
        "INSERT OR REPLACE INTO trust_checks (host_id, endpoint, server_name, port, origin,
             verdict, reason, chain_json, store, revocation, since)
         SELECT value->>'host_id', value->>'endpoint', value->>'server_name', value->>'port',
             value->>'origin', value->>'verdict', value->>'reason', value->>'chain',
             value->>'store', value->>'revocation', value->>'since'
         FROM json_each(?)",
        rows
    )
    .execute(&mut *tx)
    .await?;
    Ok(newly_trusted)
}

impl Store {
    /// What one client host must trust, and whether it does.
    pub async fn trust_of_host(&self, host_id: i64) -> Result<Vec<TrustRow>> {
        self.trust_rows(Some(host_id), None).await
    }

    /// The clients that must trust a server reached as `server_name` on `port`.
    pub async fn clients_of(&self, server_name: &str, port: u16) -> Result<Vec<TrustRow>> {
        let name = server_name.to_ascii_lowercase();
        self.trust_rows(None, Some((&name, i64::from(port)))).await
    }

    /// Every client's trust checks.
    pub async fn all_trust_checks(&self) -> Result<Vec<TrustRow>> {
        self.trust_rows(None, None).await
    }

    async fn trust_rows(
        &self,
        host_id: Option<i64>,
        server: Option<(&str, i64)>,
    ) -> Result<Vec<TrustRow>> {
        let (name, port) = server.unzip();
        let rows = sqlx::query!(
            r#"SELECT t.host_id, h.hostname, h.agent_id, t.endpoint, t.server_name, t.port,
                      t.origin AS "origin: TrustOrigin", t.verdict AS "verdict: TrustVerdict",
                      t.reason, t.chain_json, t.store,
                      t.revocation AS "revocation: Revocation", t.since
               FROM trust_checks t JOIN hosts h ON h.id = t.host_id
               WHERE (?1 IS NULL OR t.host_id = ?1)
                 AND (?2 IS NULL OR (t.server_name = ?2 AND t.port = ?3))
               ORDER BY h.hostname, t.endpoint, t.server_name"#,
            host_id,
            name,
            port
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| TrustRow {
                host_id: r.host_id,
                hostname: r.hostname,
                agent_id: r.agent_id,
                endpoint: r.endpoint,
                server_name: r.server_name,
                port: r.port,
                origin: r.origin,
                verdict: r.verdict,
                reason: r.reason,
                chain: json_list(&r.chain_json),
                store: r.store,
                revocation: r.revocation,
                since: r.since,
            })
            .collect())
    }
}

/// A client's check that says it does not trust a server it must (an unreachable server
/// aside: its own agent going silent has its alert).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UntrustedCheck {
    pub host_id: i64,
    pub hostname: String,
    pub groups: Vec<String>,
    pub endpoint: String,
    pub server_name: String,
    pub verdict: TrustVerdict,
    pub reason: String,
    pub since: i64,
}

impl Store {
    /// Every client check whose verdict is neither trusted nor unreachable.
    pub async fn untrusted_checks(&self) -> Result<Vec<UntrustedCheck>> {
        let rows = sqlx::query!(
            r#"SELECT t.host_id, h.hostname, h.groups_json, t.endpoint, t.server_name,
                      t.verdict AS "verdict: TrustVerdict", t.reason, t.since
               FROM trust_checks t JOIN hosts h ON h.id = t.host_id
               WHERE t.verdict NOT IN ('trusted', 'unreachable')
               ORDER BY h.hostname, t.endpoint"#
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| UntrustedCheck {
                host_id: r.host_id,
                hostname: r.hostname,
                groups: json_list(&r.groups_json),
                endpoint: r.endpoint,
                server_name: r.server_name,
                verdict: r.verdict,
                reason: r.reason,
                since: r.since,
            })
            .collect())
    }
}

impl Store {
    /// The agents of servers reached as `server_name` on `port` that report a chain
    /// `chain_incomplete`, each forgetting its last inventory so the next one it sends is
    /// stored (and judged) again: a client's trust can close such a chain.
    pub async fn rejudge_incomplete_chains(
        &self,
        server_name: &str,
        port: u16,
    ) -> Result<Vec<String>> {
        let name = server_name.to_ascii_lowercase();
        let suffix = format!("%:{port}");
        let mut tx = self.write_transaction().await?;
        let agents = sqlx::query_scalar!(
            r#"SELECT DISTINCT h.agent_id AS "agent_id!"
               FROM endpoints e JOIN hosts h ON h.id = e.host_id
               WHERE lower(e.name) = ?1 AND e.address LIKE ?2
                 AND EXISTS (SELECT 1 FROM findings f
                             WHERE f.endpoint_id = e.id AND f.code = 'chain_incomplete')"#,
            name,
            suffix
        )
        .fetch_all(&mut *tx)
        .await?;
        for agent in &agents {
            sqlx::query!(
                "UPDATE agents SET inventory_hash = NULL WHERE id = ?",
                agent
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(agents)
    }
}

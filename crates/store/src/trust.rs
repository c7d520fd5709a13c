//! Client trust: each client machine's last trust checks, and for a server endpoint the
//! clients that must trust it (found by the name and port they connect to).

use std::collections::HashMap;

use certfleet_proto::{Revocation, TrustCheck, TrustOrigin, TrustVerdict};
use serde::Serialize;
use sqlx::SqliteConnection;

use crate::read::json_list;
use crate::{Result, Store};

/// One client's verdict on one server it must trust.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
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

/// Replaces the host's trust checks with `checks`, keeping `since` where a verdict stayed.
pub(crate) async fn record_trust(
    tx: &mut SqliteConnection,
    host_id: i64,
    checks: &[TrustCheck],
    now: i64,
) -> Result<()> {
    // One statement on every ingest, also of the many servers that have no checks.
    let before: HashMap<(String, String), (TrustVerdict, i64)> = sqlx::query!(
        r#"DELETE FROM trust_checks WHERE host_id = ?
           RETURNING endpoint AS "endpoint!", server_name AS "server_name!",
                     verdict AS "verdict!: TrustVerdict", since AS "since!""#,
        host_id
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| ((r.endpoint, r.server_name), (r.verdict, r.since)))
    .collect();
    for check in checks {
        let server_name = check.server_name.to_ascii_lowercase();
        let since = match before.get(&(check.endpoint.clone(), server_name.clone())) {
            Some((verdict, since)) if *verdict == check.verdict => *since,
            _ => now,
        };
        let chain = serde_json::to_string(&check.chain).unwrap_or_else(|_| "[]".into());
        let port = certfleet_proto::host_and_port(&check.endpoint).map_or(0, |(_, p)| i64::from(p));
        sqlx::query!(
            "INSERT OR REPLACE INTO trust_checks (host_id, endpoint, server_name, port, origin,
                 verdict, reason, chain_json, store, revocation, since)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            host_id,
            check.endpoint,
            server_name,
            port,
            check.origin,
            check.verdict,
            check.reason,
            chain,
            check.store,
            check.revocation,
            since
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
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

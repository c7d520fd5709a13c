//! Enrolled agents, their hosts, liveness and revocation.

use certfleet_proto::Hello;
use serde::Serialize;

use crate::{Result, Store};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentRow {
    pub id: String,
    pub enrolled_at: i64,
    pub cert_serial: String,
    pub cert_not_after: i64,
    /// The certificate the newest replaced: still good for the renewal's overlap.
    pub previous_cert_serial: Option<String>,
    pub last_seen_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub agent_version: Option<String>,
    pub host_id: Option<i64>,
    pub hostname: Option<String>,
    pub fqdn: Option<String>,
}

impl Store {
    pub async fn agent(&self, id: &str) -> Result<Option<AgentRow>> {
        Ok(sqlx::query_as!(
            AgentRow,
            r#"SELECT a.id AS "id!", a.enrolled_at, a.cert_serial, a.cert_not_after,
                      a.previous_cert_serial, a.last_seen_at,
                      a.revoked_at, a.agent_version, h.id AS "host_id?", h.hostname AS "hostname?",
                      h.fqdn AS "fqdn?"
               FROM agents a LEFT JOIN hosts h ON h.agent_id = a.id
               WHERE a.id = ?"#,
            id
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The hash of the agent's stored inventory: a snapshot with the same hash is the one
    /// stored, and needs neither checking nor writing again.
    pub async fn inventory_hash(&self, agent_id: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar!("SELECT inventory_hash FROM agents WHERE id = ?", agent_id)
                .fetch_optional(&self.pool)
                .await?
                .flatten(),
        )
    }

    pub async fn list_agents(&self) -> Result<Vec<AgentRow>> {
        Ok(sqlx::query_as!(
            AgentRow,
            r#"SELECT a.id AS "id!", a.enrolled_at, a.cert_serial, a.cert_not_after,
                      a.previous_cert_serial, a.last_seen_at,
                      a.revoked_at, a.agent_version, h.id AS "host_id?", h.hostname AS "hostname?",
                      h.fqdn AS "fqdn?"
               FROM agents a LEFT JOIN hosts h ON h.agent_id = a.id
               ORDER BY h.hostname, a.enrolled_at"#
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Marks the agent revoked; `false` when it was unknown or already revoked.
    pub async fn revoke_agent(&self, id: &str, now: i64) -> Result<bool> {
        let done = sqlx::query!(
            "UPDATE agents SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            now,
            id
        )
        .execute(&self.writes)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every revoked agent, loaded at start-up into the gateway's handshake check.
    pub async fn revoked_agent_ids(&self) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar!(r#"SELECT id AS "id!" FROM agents WHERE revoked_at IS NOT NULL"#)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// After a renewal over the mTLS channel.
    pub async fn record_agent_certificate(
        &self,
        id: &str,
        serial: &str,
        not_after: i64,
    ) -> Result<()> {
        // The one replaced stays good for the overlap; the one before it no longer.
        sqlx::query!(
            "UPDATE agents SET
                 previous_cert_serial = CASE WHEN cert_serial = ?1 THEN previous_cert_serial
                                             ELSE cert_serial END,
                 cert_serial = ?1, cert_not_after = ?2
             WHERE id = ?3",
            serial,
            not_after,
            id
        )
        .execute(&self.writes)
        .await?;
        Ok(())
    }

    /// Records what the agent said in `hello`; returns its host's id. Its groups join the
    /// labels set in the UI.
    pub async fn upsert_host(&self, agent_id: &str, hello: &Hello, now: i64) -> Result<i64> {
        let mut tx = self.write_transaction().await?;
        let id = upsert_host_in(&mut tx, agent_id, hello, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Many agents' hellos in one transaction; their hosts' ids, in order. An error is the
    /// transaction's: none was recorded.
    pub async fn upsert_hosts(&self, hellos: &[(&str, &Hello)], now: i64) -> Result<Vec<i64>> {
        let mut tx = self.write_transaction().await?;
        let mut ids = Vec::with_capacity(hellos.len());
        for (agent_id, hello) in hellos {
            ids.push(upsert_host_in(&mut tx, agent_id, hello, now).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Records that the agents were heard from (their heartbeats), in one statement.
    pub async fn touch_agents(&self, agent_ids: &[&str], now: i64) -> Result<()> {
        if agent_ids.is_empty() {
            return Ok(());
        }
        let ids = crate::json(agent_ids);
        sqlx::query!(
            "UPDATE agents SET last_seen_at = ?1 WHERE id IN (SELECT value FROM json_each(?2))",
            now,
            ids
        )
        .execute(&self.writes)
        .await?;
        Ok(())
    }

    /// Sets the labels given in the UI; the host's groups become them plus its agent's.
    pub async fn set_host_labels(&self, host_id: i64, labels: &[String]) -> Result<Vec<String>> {
        let mut tx = self.write_transaction().await?;
        let agent_json =
            sqlx::query_scalar!("SELECT agent_groups_json FROM hosts WHERE id = ?", host_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(crate::Error::NotFound { what: "host" })?;
        let agent: Vec<String> = serde_json::from_str(&agent_json).unwrap_or_default();
        let groups = union(&agent, labels);
        let groups_json = serde_json::to_string(&groups).unwrap_or_default();
        let labels_json = serde_json::to_string(labels).unwrap_or_default();
        sqlx::query!(
            "UPDATE hosts SET labels_json = ?, groups_json = ? WHERE id = ?",
            labels_json,
            groups_json,
            host_id
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(groups)
    }

    /// The labels set in the UI (not the agent's groups).
    pub async fn host_labels(&self, host_id: i64) -> Result<Vec<String>> {
        let json = sqlx::query_scalar!("SELECT labels_json FROM hosts WHERE id = ?", host_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(crate::Error::NotFound { what: "host" })?;
        Ok(serde_json::from_str(&json).unwrap_or_default())
    }
}

fn union(a: &[String], b: &[String]) -> Vec<String> {
    let mut all: Vec<String> = a.iter().chain(b).cloned().collect();
    all.sort();
    all.dedup();
    all
}

async fn upsert_host_in(
    tx: &mut sqlx::SqliteConnection,
    agent_id: &str,
    hello: &Hello,
    now: i64,
) -> Result<i64> {
    let agent_groups = serde_json::to_string(&hello.groups).unwrap_or_else(|_| "[]".into());
    sqlx::query!(
        "UPDATE agents SET agent_version = ?, last_seen_at = ? WHERE id = ?",
        hello.agent_version,
        now,
        agent_id
    )
    .execute(&mut *tx)
    .await?;
    let labels: Vec<String> =
        sqlx::query_scalar!("SELECT labels_json FROM hosts WHERE agent_id = ?", agent_id)
            .fetch_optional(&mut *tx)
            .await?
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default();
    let groups = serde_json::to_string(&union(&hello.groups, &labels)).unwrap_or_default();
    Ok(sqlx::query_scalar!(
        r#"INSERT INTO hosts (agent_id, hostname, fqdn, os, arch, groups_json,
               agent_groups_json, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (agent_id) DO UPDATE SET
               hostname = excluded.hostname, fqdn = excluded.fqdn, os = excluded.os,
               arch = excluded.arch, groups_json = excluded.groups_json,
               agent_groups_json = excluded.agent_groups_json,
               updated_at = excluded.updated_at
           RETURNING id AS "id!""#,
        agent_id,
        hello.hostname,
        hello.fqdn,
        hello.os,
        hello.arch,
        groups,
        agent_groups,
        now
    )
    .fetch_one(&mut *tx)
    .await?)
}

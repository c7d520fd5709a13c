//! Enrolled agents, their hosts, liveness and revocation.

use certfleet_proto::Hello;
use serde::Serialize;

use crate::{Result, Store};

#[derive(Debug, Clone, Serialize)]
pub struct AgentRow {
    pub id: String,
    pub enrolled_at: i64,
    pub cert_serial: String,
    pub cert_not_after: i64,
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
            r#"SELECT a.id AS "id!", a.enrolled_at, a.cert_serial, a.cert_not_after, a.last_seen_at,
                      a.revoked_at, a.agent_version, h.id AS "host_id?", h.hostname AS "hostname?",
                      h.fqdn AS "fqdn?"
               FROM agents a LEFT JOIN hosts h ON h.agent_id = a.id
               WHERE a.id = ?"#,
            id
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn list_agents(&self) -> Result<Vec<AgentRow>> {
        Ok(sqlx::query_as!(
            AgentRow,
            r#"SELECT a.id AS "id!", a.enrolled_at, a.cert_serial, a.cert_not_after, a.last_seen_at,
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
        .execute(&self.pool)
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

    pub async fn touch_agent(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query!("UPDATE agents SET last_seen_at = ? WHERE id = ?", now, id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// After a renewal over the mTLS channel.
    pub async fn record_agent_certificate(
        &self,
        id: &str,
        serial: &str,
        not_after: i64,
    ) -> Result<()> {
        sqlx::query!(
            "UPDATE agents SET cert_serial = ?, cert_not_after = ? WHERE id = ?",
            serial,
            not_after,
            id
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records what the agent said in `hello`; returns its host's id.
    pub async fn upsert_host(&self, agent_id: &str, hello: &Hello, now: i64) -> Result<i64> {
        let groups = serde_json::to_string(&hello.groups).unwrap_or_else(|_| "[]".into());
        let mut tx = self.write_transaction().await?;
        sqlx::query!(
            "UPDATE agents SET agent_version = ?, last_seen_at = ? WHERE id = ?",
            hello.agent_version,
            now,
            agent_id
        )
        .execute(&mut *tx)
        .await?;
        let id = sqlx::query_scalar!(
            r#"INSERT INTO hosts (agent_id, hostname, fqdn, os, arch, groups_json, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (agent_id) DO UPDATE SET
                   hostname = excluded.hostname, fqdn = excluded.fqdn, os = excluded.os,
                   arch = excluded.arch, groups_json = excluded.groups_json,
                   updated_at = excluded.updated_at
               RETURNING id AS "id!""#,
            agent_id,
            hello.hostname,
            hello.fqdn,
            hello.os,
            hello.arch,
            groups,
            now
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }
}

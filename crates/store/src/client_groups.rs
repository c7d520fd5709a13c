//! Client host groups attached to server endpoints: every host in such a group must trust
//! the endpoint, and the console sends each client the endpoints its groups add.

use certfleet_proto::AttachedEndpoint;
use serde::Serialize;

use crate::{Error, Result, Store};

/// One attachment, as a server's host page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ClientGroupRow {
    pub endpoint_key: String,
    pub group_name: String,
    pub created_by: String,
    pub created_at: i64,
}

impl Store {
    /// Attaches `group` to the endpoint `endpoint_key` of `server_host_id`; `false` when it
    /// was attached already.
    pub async fn attach_client_group(
        &self,
        server_host_id: i64,
        endpoint_key: &str,
        group: &str,
        by: &str,
        at: i64,
    ) -> Result<bool> {
        let mut tx = self.write_transaction().await?;
        let exists = sqlx::query_scalar!(
            r#"SELECT COUNT(*) AS "n!: i64" FROM endpoints WHERE host_id = ? AND key = ?"#,
            server_host_id,
            endpoint_key
        )
        .fetch_one(&mut *tx)
        .await?;
        if exists == 0 {
            return Err(Error::NotFound { what: "endpoint" });
        }
        let added = sqlx::query!(
            "INSERT OR IGNORE INTO client_groups
                 (server_host_id, endpoint_key, group_name, created_by, created_at)
             VALUES (?, ?, ?, ?, ?)",
            server_host_id,
            endpoint_key,
            group,
            by,
            at
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(added == 1)
    }

    /// `false` when it was not attached.
    pub async fn detach_client_group(
        &self,
        server_host_id: i64,
        endpoint_key: &str,
        group: &str,
    ) -> Result<bool> {
        let removed = sqlx::query!(
            "DELETE FROM client_groups
             WHERE server_host_id = ? AND endpoint_key = ? AND group_name = ?",
            server_host_id,
            endpoint_key,
            group
        )
        .execute(&self.writes)
        .await?
        .rows_affected();
        Ok(removed == 1)
    }

    /// The client groups attached to a server's endpoints.
    pub async fn client_groups(&self, server_host_id: i64) -> Result<Vec<ClientGroupRow>> {
        Ok(sqlx::query_as!(
            ClientGroupRow,
            "SELECT endpoint_key, group_name, created_by, created_at FROM client_groups
             WHERE server_host_id = ? ORDER BY endpoint_key, group_name",
            server_host_id
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The server endpoints a host must trust through its groups (not its own endpoints),
    /// each by the name and port it is reached at.
    pub async fn attached_endpoints(&self, host_id: i64) -> Result<Vec<AttachedEndpoint>> {
        let rows = sqlx::query!(
            r#"SELECT DISTINCT e.name AS "name!", e.address
               FROM client_groups g
               JOIN endpoints e ON e.host_id = g.server_host_id AND e.key = g.endpoint_key
               WHERE g.server_host_id != ?1
                 AND g.group_name IN (SELECT value FROM json_each(
                     (SELECT groups_json FROM hosts WHERE id = ?1)))
               ORDER BY e.name"#,
            host_id
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<AttachedEndpoint> = rows
            .into_iter()
            .filter_map(|r| {
                let (_, port) = certfleet_proto::host_and_port(r.address.as_deref()?)?;
                Some(AttachedEndpoint {
                    endpoint: format!("{}:{port}", r.name.to_ascii_lowercase()),
                    server_name: r.name.to_ascii_lowercase(),
                })
            })
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The agents of the hosts in `group`.
    pub async fn agents_in_group(&self, group: &str) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query!(
            r#"SELECT h.id AS "id!", h.agent_id FROM hosts h
               WHERE ? IN (SELECT value FROM json_each(h.groups_json))"#,
            group
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| (r.id, r.agent_id))
        .collect())
    }
}

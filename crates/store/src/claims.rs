//! Names an endpoint claims, and who owns them: the first host seen serving a DNS name owns
//! it, and another host's endpoint with that name waits for an operator's acceptance before
//! a renewal's key may go to it. Recorded by inventory ingest; read by the console's plan.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::{Result, Store};

/// True for a name that reads as a DNS name (`sage.example.com`, `*.example.com`), as
/// opposed to a label such as `site` or a file path.
pub fn is_dns_like(name: &str) -> bool {
    name.contains('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '*')
}

/// The names an endpoint claims: the DNS names of the certificates it names or serves, and
/// its own name when that is a DNS name; lowercase.
pub fn claimed_names<'a>(
    endpoint_name: &str,
    certificate_names: impl IntoIterator<Item = &'a String>,
) -> BTreeSet<String> {
    certificate_names
        .into_iter()
        .map(|n| n.to_ascii_lowercase())
        .chain(is_dns_like(endpoint_name).then(|| endpoint_name.to_ascii_lowercase()))
        .collect()
}

/// The host that owns a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameOwner {
    pub host_id: i64,
    pub hostname: String,
}

impl Store {
    /// The owners of `names` (lowercase), by name; a name nobody owns is absent.
    pub async fn name_owners(&self, names: &[String]) -> Result<HashMap<String, NameOwner>> {
        let names = serde_json::to_string(names).unwrap_or_else(|_| "[]".into());
        let rows = sqlx::query!(
            r#"SELECT o.name, o.host_id AS "host_id!", h.hostname
               FROM name_owners o JOIN hosts h ON h.id = o.host_id
               WHERE o.name IN (SELECT value FROM json_each(?))"#,
            names
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.name,
                    NameOwner {
                        host_id: r.host_id,
                        hostname: r.hostname,
                    },
                )
            })
            .collect())
    }

    /// Every endpoint an operator accepted, as (host id, endpoint key).
    pub async fn accepted_endpoints(&self) -> Result<HashSet<(i64, String)>> {
        Ok(
            sqlx::query!("SELECT host_id, endpoint_key FROM endpoint_acceptances")
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|r| (r.host_id, r.endpoint_key))
                .collect(),
        )
    }

    /// Records that `by` accepted the endpoint; false when it was accepted before.
    pub async fn accept_endpoint(
        &self,
        host_id: i64,
        endpoint_key: &str,
        by: &str,
        at: i64,
    ) -> Result<bool> {
        let done = sqlx::query!(
            "INSERT OR IGNORE INTO endpoint_acceptances (host_id, endpoint_key, accepted_by, accepted_at)
             VALUES (?, ?, ?, ?)",
            host_id,
            endpoint_key,
            by,
            at
        )
        .execute(&self.writes)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// Inside ingest's transaction: each host claims its names, in order; the ones nobody
/// owned are the first claimer's. One statement for the whole batch.
pub(crate) async fn record_claims(
    tx: &mut sqlx::SqliteConnection,
    claims: &[(String, i64)],
    now: i64,
) -> Result<()> {
    if claims.is_empty() {
        return Ok(());
    }
    let claims = crate::json(claims);
    sqlx::query!(
        "INSERT OR IGNORE INTO name_owners (name, host_id, since)
         SELECT value->>0, value->>1, ? FROM json_each(?)",
        now,
        claims
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

//! Renewed certificates uploaded for rollouts. The sealed private key is read only by the
//! code that builds a deploy job and by key rotation; listings never carry it.

use certfleet_proto::RenewalSource;
use serde::Serialize;

use crate::{Error, Result, Store};

/// What an upload stores; `sealed_key` is already encrypted by the caller, and empty when
/// the key never left its host (`key_agent_id`, `pending_key`).
#[derive(Debug, Clone)]
pub struct NewRenewal<'a> {
    pub source: RenewalSource,
    /// The agent that keeps the key, and the id it keeps it under.
    pub key_agent_id: Option<&'a str>,
    pub pending_key: Option<&'a str>,
    pub sha256: &'a str,
    pub thumbprint: &'a str,
    pub subject: &'a str,
    pub issuer: &'a str,
    pub dns_names: &'a [String],
    pub ip_addresses: &'a [String],
    pub not_before: i64,
    pub not_after: i64,
    pub key_algorithm: &'a str,
    pub chain_pem: &'a str,
    /// The root the upload came with, PEM; empty when none.
    pub root_pem: &'a str,
    pub sealed_key: &'a str,
    pub warnings: &'a [String],
    pub uploaded_by: &'a str,
    pub uploaded_at: i64,
}

/// A renewal as the API and UI show it: no key, sealed or not.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RenewalRow {
    pub id: i64,
    pub source: RenewalSource,
    /// The agent that keeps this renewal's key: it can be deployed on that host only.
    pub key_agent_id: Option<String>,
    pub pending_key: Option<String>,
    pub sha256: String,
    pub thumbprint: String,
    pub subject: String,
    pub issuer: String,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
    pub key_algorithm: String,
    pub chain_pem: String,
    /// The root the upload came with (never deployed to a server); empty when none.
    pub root_pem: String,
    pub warnings: Vec<String>,
    pub uploaded_by: String,
    pub uploaded_at: i64,
}

struct RawRenewal {
    id: i64,
    source: RenewalSource,
    key_agent_id: Option<String>,
    pending_key: Option<String>,
    sha256: String,
    thumbprint: String,
    subject: String,
    issuer: String,
    dns_names_json: String,
    ip_addresses_json: String,
    not_before: i64,
    not_after: i64,
    key_algorithm: String,
    chain_pem: String,
    root_pem: String,
    warnings_json: String,
    uploaded_by: String,
    uploaded_at: i64,
}

impl From<RawRenewal> for RenewalRow {
    fn from(r: RawRenewal) -> Self {
        let list = |json: &str| serde_json::from_str(json).unwrap_or_default();
        RenewalRow {
            id: r.id,
            source: r.source,
            key_agent_id: r.key_agent_id,
            pending_key: r.pending_key,
            dns_names: list(&r.dns_names_json),
            ip_addresses: list(&r.ip_addresses_json),
            warnings: list(&r.warnings_json),
            sha256: r.sha256,
            thumbprint: r.thumbprint,
            subject: r.subject,
            issuer: r.issuer,
            not_before: r.not_before,
            not_after: r.not_after,
            key_algorithm: r.key_algorithm,
            chain_pem: r.chain_pem,
            root_pem: r.root_pem,
            uploaded_by: r.uploaded_by,
            uploaded_at: r.uploaded_at,
        }
    }
}

/// One sealed secret held in the database, for key rotation.
#[derive(Debug, Clone, PartialEq)]
pub enum SealedPlace {
    RenewalKey(i64),
    /// A setting whose JSON value is the sealed text as a JSON string.
    Setting(String),
}

impl Store {
    /// Stores an upload; the same leaf twice is refused with the id it already has.
    pub async fn insert_renewal(&self, new: &NewRenewal<'_>) -> Result<i64> {
        let mut tx = self.write_transaction().await?;
        let id = insert_renewal_in(&mut tx, new).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Newest first.
    pub async fn renewals(&self, limit: i64) -> Result<Vec<RenewalRow>> {
        Ok(sqlx::query_as!(
            RawRenewal,
            r#"SELECT id AS "id!", source AS "source: RenewalSource", key_agent_id, pending_key,
                      sha256, thumbprint, subject, issuer, dns_names_json,
                      ip_addresses_json, not_before, not_after, key_algorithm, chain_pem,
                      root_pem, warnings_json, uploaded_by, uploaded_at
               FROM renewals ORDER BY id DESC LIMIT ?"#,
            limit
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(RenewalRow::from)
        .collect())
    }

    /// The SHA-256 of every renewal from `source`.
    pub async fn renewal_shas(&self, source: RenewalSource) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar!("SELECT sha256 FROM renewals WHERE source = ?", source)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub async fn renewal(&self, id: i64) -> Result<RenewalRow> {
        sqlx::query_as!(
            RawRenewal,
            r#"SELECT id AS "id!", source AS "source: RenewalSource", key_agent_id, pending_key,
                      sha256, thumbprint, subject, issuer, dns_names_json,
                      ip_addresses_json, not_before, not_after, key_algorithm, chain_pem,
                      root_pem, warnings_json, uploaded_by, uploaded_at
               FROM renewals WHERE id = ?"#,
            id
        )
        .fetch_optional(&self.pool)
        .await?
        .map(RenewalRow::from)
        .ok_or(Error::NotFound { what: "renewal" })
    }

    /// The roots uploads came with (PEM), each once: roots the console knows.
    pub async fn renewal_roots(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar!(
            "SELECT DISTINCT root_pem FROM renewals WHERE root_pem != '' ORDER BY root_pem"
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The sealed private key of a renewal, for a deploy job.
    pub async fn renewal_sealed_key(&self, id: i64) -> Result<String> {
        sqlx::query_scalar!("SELECT sealed_key FROM renewals WHERE id = ?", id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound { what: "renewal" })
    }

    /// Every sealed secret: renewal keys, and the settings named in `settings`.
    pub async fn sealed_secrets(&self, settings: &[&str]) -> Result<Vec<(SealedPlace, String)>> {
        let mut out = Vec::new();
        // A key kept on its host has nothing sealed here.
        for row in sqlx::query!(
            r#"SELECT id AS "id!", sealed_key FROM renewals WHERE sealed_key != '' ORDER BY id"#
        )
        .fetch_all(&self.pool)
        .await?
        {
            out.push((SealedPlace::RenewalKey(row.id), row.sealed_key));
        }
        for name in settings {
            if let Some(json) = self.setting(name).await? {
                let sealed: String = serde_json::from_str(&json).map_err(|_| {
                    Error::Corrupt(format!("the setting {name} is not a sealed secret"))
                })?;
                out.push((SealedPlace::Setting((*name).to_owned()), sealed));
            }
        }
        Ok(out)
    }

    /// Replaces sealed secrets in one transaction (key rotation): all or none.
    pub async fn replace_sealed_secrets(
        &self,
        secrets: &[(SealedPlace, String)],
        now: i64,
    ) -> Result<()> {
        let mut tx = self.write_transaction().await?;
        for (place, sealed) in secrets {
            let changed = match place {
                SealedPlace::RenewalKey(id) => sqlx::query!(
                    "UPDATE renewals SET sealed_key = ? WHERE id = ?",
                    sealed,
                    id
                )
                .execute(&mut *tx)
                .await?
                .rows_affected(),
                SealedPlace::Setting(name) => {
                    let json = serde_json::to_string(sealed).unwrap_or_default();
                    sqlx::query!(
                        "UPDATE settings SET value_json = ?, updated_at = ? WHERE name = ?",
                        json,
                        now,
                        name
                    )
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                }
            };
            if changed != 1 {
                return Err(Error::Corrupt(format!(
                    "{place:?} vanished during key rotation; nothing was changed, run it again"
                )));
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Stores a renewal inside the caller's write transaction; the same leaf twice is refused
/// with the id it already has.
pub(crate) async fn insert_renewal_in(
    conn: &mut sqlx::SqliteConnection,
    new: &NewRenewal<'_>,
) -> Result<i64> {
    if let Some(id) = sqlx::query_scalar!(
        r#"SELECT id AS "id!" FROM renewals WHERE sha256 = ?"#,
        new.sha256
    )
    .fetch_optional(&mut *conn)
    .await?
    {
        return Err(Error::Duplicate(format!(
            "this certificate was already uploaded as renewal #{id}: roll that one out"
        )));
    }
    let dns = serde_json::to_string(new.dns_names).unwrap_or_else(|_| "[]".into());
    let ips = serde_json::to_string(new.ip_addresses).unwrap_or_else(|_| "[]".into());
    let warnings = serde_json::to_string(new.warnings).unwrap_or_else(|_| "[]".into());
    let id = sqlx::query_scalar!(
        r#"INSERT INTO renewals (sha256, thumbprint, subject, issuer, dns_names_json,
               ip_addresses_json, not_before, not_after, key_algorithm, chain_pem,
               root_pem, sealed_key, warnings_json, uploaded_by, uploaded_at, source,
               key_agent_id, pending_key)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           RETURNING id AS "id!""#,
        new.sha256,
        new.thumbprint,
        new.subject,
        new.issuer,
        dns,
        ips,
        new.not_before,
        new.not_after,
        new.key_algorithm,
        new.chain_pem,
        new.root_pem,
        new.sealed_key,
        warnings,
        new.uploaded_by,
        new.uploaded_at,
        new.source,
        new.key_agent_id,
        new.pending_key
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

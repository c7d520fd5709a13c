//! Alerts and their emails: each alert is raised once (its key), and its email or digest
//! entry is written in the same transaction; the outbox is what the mailer sends, with
//! retries, exactly once.

use std::collections::HashSet;

use serde::Serialize;

use crate::read::json_list;
use crate::{Result, Store};

/// An email to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEmail {
    /// Unique per email; also its Message-ID.
    pub idempotency_key: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutboxRow {
    pub id: i64,
    pub idempotency_key: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub created_at: i64,
    pub attempts: i64,
    pub sent_at: Option<i64>,
    pub last_error: Option<String>,
}

/// What raising an alert does besides remembering it.
#[derive(Debug, Clone)]
pub enum AlertAction<'a> {
    /// Send this email now.
    Email(&'a NewEmail),
    /// Nothing besides remembering it (a farther threshold passed together with a nearer one).
    Silent,
    /// Put a line into the next daily digest.
    Digest {
        host_id: i64,
        sha256: &'a str,
        endpoint: &'a str,
        threshold: i64,
    },
}

/// A certificate in use somewhere, expiring before a given time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpiringUse {
    pub host_id: i64,
    pub hostname: String,
    pub groups: Vec<String>,
    pub endpoint_key: String,
    pub endpoint_name: String,
    pub kind: String,
    pub address: Option<String>,
    pub sha256: String,
    pub subject: String,
    pub names: Vec<String>,
    pub not_after: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorFindingRow {
    pub host_id: i64,
    pub hostname: String,
    pub groups: Vec<String>,
    pub endpoint_key: String,
    pub endpoint_name: String,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfflineAgent {
    pub agent_id: String,
    pub host_id: i64,
    pub hostname: String,
    pub groups: Vec<String>,
    pub last_seen_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestItemRow {
    pub id: i64,
    pub alert_key: String,
    pub host_id: i64,
    pub sha256: String,
    pub endpoint: String,
    pub threshold: i64,
    pub created_at: i64,
}

struct RawOutbox {
    id: i64,
    idempotency_key: String,
    recipients_json: String,
    subject: String,
    text_body: String,
    html_body: String,
    created_at: i64,
    attempts: i64,
    sent_at: Option<i64>,
    last_error: Option<String>,
}

impl From<RawOutbox> for OutboxRow {
    fn from(r: RawOutbox) -> Self {
        OutboxRow {
            id: r.id,
            recipients: json_list(&r.recipients_json),
            idempotency_key: r.idempotency_key,
            subject: r.subject,
            text_body: r.text_body,
            html_body: r.html_body,
            created_at: r.created_at,
            attempts: r.attempts,
            sent_at: r.sent_at,
            last_error: r.last_error,
        }
    }
}

impl Store {
    /// Raises the alert `key` once. Returns `false` (and does nothing) when it was raised
    /// before; otherwise records it together with its email or digest line, atomically.
    pub async fn raise_alert(&self, key: &str, now: i64, action: AlertAction<'_>) -> Result<bool> {
        let mut tx = self.write_transaction().await?;
        let inserted = sqlx::query!(
            "INSERT OR IGNORE INTO alert_keys (key, created_at) VALUES (?, ?)",
            key,
            now
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        match action {
            AlertAction::Silent => {}
            AlertAction::Email(email) => insert_email(&mut tx, email, now).await?,
            AlertAction::Digest {
                host_id,
                sha256,
                endpoint,
                threshold,
            } => {
                sqlx::query!(
                    "INSERT INTO digest_items (alert_key, host_id, sha256, endpoint, threshold, created_at)
                     VALUES (?, ?, ?, ?, ?, ?)",
                    key,
                    host_id,
                    sha256,
                    endpoint,
                    threshold,
                    now
                )
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Which of `keys` were raised already.
    pub async fn raised_alerts(&self, keys: &[String]) -> Result<HashSet<String>> {
        let mut raised = HashSet::new();
        for key in keys {
            let found = sqlx::query_scalar!(
                r#"SELECT created_at AS "created_at!" FROM alert_keys WHERE key = ?"#,
                key
            )
            .fetch_optional(&self.pool)
            .await?;
            if found.is_some() {
                raised.insert(key.clone());
            }
        }
        Ok(raised)
    }

    /// Raises several alerts told in one email, atomically; the email is queued only if at
    /// least one of them is new. Returns whether it was.
    pub async fn raise_alerts(&self, keys: &[String], now: i64, email: &NewEmail) -> Result<bool> {
        let mut tx = self.write_transaction().await?;
        let mut inserted = 0;
        for key in keys {
            inserted += sqlx::query!(
                "INSERT OR IGNORE INTO alert_keys (key, created_at) VALUES (?, ?)",
                key,
                now
            )
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        if inserted == 0 {
            return Ok(false);
        }
        insert_email(&mut tx, email, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Forgets raised alerts under `prefix` whose condition is gone (not in `still_true`), so
    /// they can alert again if they come back (a finding fixed, then broken again).
    pub async fn clear_alert_keys(
        &self,
        prefix: &str,
        still_true: &HashSet<String>,
    ) -> Result<u64> {
        let pattern = format!("{prefix}%");
        let keys: Vec<String> = sqlx::query_scalar!(
            r#"SELECT key AS "key!" FROM alert_keys WHERE key LIKE ?"#,
            pattern
        )
        .fetch_all(&self.pool)
        .await?;
        let mut cleared = 0;
        for key in keys.iter().filter(|k| !still_true.contains(*k)) {
            cleared += sqlx::query!("DELETE FROM alert_keys WHERE key = ?", key)
                .execute(&self.writes)
                .await?
                .rows_affected();
        }
        Ok(cleared)
    }

    /// Certificates in use (configured or served) that expire before `before`.
    pub async fn expiring_uses(&self, before: i64) -> Result<Vec<ExpiringUse>> {
        let rows = sqlx::query!(
            r#"SELECT e.host_id AS "host_id!", h.hostname AS "hostname!", h.groups_json AS "groups_json!",
                      e.key AS "endpoint_key!", e.name AS "endpoint_name!", e.kind AS "kind!",
                      e.address, c.sha256 AS "sha256!", c.subject AS "subject!",
                      c.dns_names_json AS "dns_names_json!", c.not_after AS "not_after!"
               FROM certificates c
               JOIN endpoints e ON e.configured_sha256 = c.sha256
               JOIN hosts h ON h.id = e.host_id
               JOIN agents a ON a.id = h.agent_id AND a.revoked_at IS NULL
               WHERE c.endpoint_count > 0 AND c.not_after < ?1
               UNION
               SELECT e.host_id, h.hostname, h.groups_json, e.key, e.name, e.kind, e.address,
                      c.sha256, c.subject, c.dns_names_json, c.not_after
               FROM certificates c
               JOIN endpoints e ON e.served_sha256 = c.sha256
               JOIN hosts h ON h.id = e.host_id
               JOIN agents a ON a.id = h.agent_id AND a.revoked_at IS NULL
               WHERE c.endpoint_count > 0 AND c.not_after < ?1"#,
            before
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| ExpiringUse {
                host_id: r.host_id,
                hostname: r.hostname,
                groups: json_list(&r.groups_json),
                endpoint_key: r.endpoint_key,
                endpoint_name: r.endpoint_name,
                kind: r.kind,
                address: r.address,
                sha256: r.sha256,
                subject: r.subject,
                names: json_list(&r.dns_names_json),
                not_after: r.not_after,
            })
            .collect())
    }

    /// Every error finding on hosts of agents that are not revoked.
    pub async fn error_findings(&self) -> Result<Vec<ErrorFindingRow>> {
        let rows = sqlx::query!(
            r#"SELECT e.host_id, h.hostname, h.groups_json, e.key AS endpoint_key,
                      e.name AS endpoint_name, f.code, f.message
               FROM findings f
               JOIN endpoints e ON e.id = f.endpoint_id
               JOIN hosts h ON h.id = e.host_id
               JOIN agents a ON a.id = h.agent_id AND a.revoked_at IS NULL
               WHERE f.severity = 'error'
               ORDER BY h.hostname, e.key, f.code"#
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| ErrorFindingRow {
                host_id: r.host_id,
                hostname: r.hostname,
                groups: json_list(&r.groups_json),
                endpoint_key: r.endpoint_key,
                endpoint_name: r.endpoint_name,
                code: r.code,
                message: r.message,
            })
            .collect())
    }

    /// Agents not revoked whose last sign of life is older than `seen_before`.
    pub async fn offline_agents(&self, seen_before: i64) -> Result<Vec<OfflineAgent>> {
        let rows = sqlx::query!(
            r#"SELECT a.id AS "agent_id!", h.id AS "host_id!", h.hostname, h.groups_json,
                      a.last_seen_at AS "last_seen_at!"
               FROM agents a JOIN hosts h ON h.agent_id = a.id
               WHERE a.revoked_at IS NULL AND a.last_seen_at IS NOT NULL AND a.last_seen_at < ?"#,
            seen_before
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| OfflineAgent {
                agent_id: r.agent_id,
                host_id: r.host_id,
                hostname: r.hostname,
                groups: json_list(&r.groups_json),
                last_seen_at: r.last_seen_at,
            })
            .collect())
    }

    pub async fn pending_digest_items(&self) -> Result<Vec<DigestItemRow>> {
        Ok(sqlx::query_as!(
            DigestItemRow,
            r#"SELECT id AS "id!", alert_key, host_id, sha256, endpoint, threshold, created_at
               FROM digest_items WHERE digested_at IS NULL ORDER BY created_at, id"#
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Queues a digest email and marks its items as sent in it, atomically. `false` when an
    /// email with this key exists already (the digest of this day went out).
    pub async fn queue_digest(&self, email: &NewEmail, item_ids: &[i64], now: i64) -> Result<bool> {
        let mut tx = self.write_transaction().await?;
        let exists = sqlx::query_scalar!(
            "SELECT COUNT(*) FROM outbox WHERE idempotency_key = ?",
            email.idempotency_key
        )
        .fetch_one(&mut *tx)
        .await?;
        if exists > 0 {
            return Ok(false);
        }
        insert_email(&mut tx, email, now).await?;
        for id in item_ids {
            sqlx::query!(
                "UPDATE digest_items SET digested_at = ? WHERE id = ?",
                now,
                id
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Marks digest items done without an email (their certificate is no longer in use).
    pub async fn drop_digest_items(&self, item_ids: &[i64], now: i64) -> Result<()> {
        for id in item_ids {
            sqlx::query!(
                "UPDATE digest_items SET digested_at = ? WHERE id = ?",
                now,
                id
            )
            .execute(&self.writes)
            .await?;
        }
        Ok(())
    }

    /// Queues an email unless one with its key exists (test emails, rollout reports).
    pub async fn queue_email(&self, email: &NewEmail, now: i64) -> Result<bool> {
        let mut tx = self.write_transaction().await?;
        let exists = sqlx::query_scalar!(
            "SELECT COUNT(*) FROM outbox WHERE idempotency_key = ?",
            email.idempotency_key
        )
        .fetch_one(&mut *tx)
        .await?;
        if exists > 0 {
            return Ok(false);
        }
        insert_email(&mut tx, email, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Emails due for a (first or next) attempt.
    pub async fn due_emails(&self, now: i64, limit: i64) -> Result<Vec<OutboxRow>> {
        Ok(sqlx::query_as!(
            RawOutbox,
            r#"SELECT id AS "id!", idempotency_key, recipients_json, subject, text_body, html_body,
                      created_at, attempts, sent_at, last_error
               FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= ?
               ORDER BY next_attempt_at, id LIMIT ?"#,
            now,
            limit
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(OutboxRow::from)
        .collect())
    }

    pub async fn mark_email_sent(&self, id: i64, now: i64) -> Result<()> {
        sqlx::query!(
            "UPDATE outbox SET sent_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?",
            now,
            id
        )
        .execute(&self.writes)
        .await?;
        Ok(())
    }

    pub async fn mark_email_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: i64,
    ) -> Result<()> {
        sqlx::query!(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
            error,
            next_attempt_at,
            id
        )
        .execute(&self.writes)
        .await?;
        Ok(())
    }

    /// The newest emails, sent or not.
    pub async fn outbox(&self, limit: i64) -> Result<Vec<OutboxRow>> {
        Ok(sqlx::query_as!(
            RawOutbox,
            r#"SELECT id AS "id!", idempotency_key, recipients_json, subject, text_body, html_body,
                      created_at, attempts, sent_at, last_error
               FROM outbox ORDER BY id DESC LIMIT ?"#,
            limit
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(OutboxRow::from)
        .collect())
    }

    pub async fn setting(&self, name: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar!("SELECT value_json FROM settings WHERE name = ?", name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The names of the settings that start with `prefix`, in order.
    pub async fn setting_names(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar!(
            r#"SELECT name AS "name!" FROM settings WHERE substr(name, 1, length(?1)) = ?1
               ORDER BY name"#,
            prefix
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Removes a setting; `false` when there was none.
    pub async fn delete_setting(&self, name: &str) -> Result<bool> {
        let done = sqlx::query!("DELETE FROM settings WHERE name = ?", name)
            .execute(&self.writes)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn set_setting(&self, name: &str, value_json: &str, now: i64) -> Result<()> {
        sqlx::query!(
            "INSERT INTO settings (name, value_json, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET value_json = excluded.value_json,
                 updated_at = excluded.updated_at",
            name,
            value_json,
            now
        )
        .execute(&self.writes)
        .await?;
        Ok(())
    }
}

async fn insert_email(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    email: &NewEmail,
    now: i64,
) -> Result<()> {
    let recipients = serde_json::to_string(&email.recipients).unwrap_or_else(|_| "[]".into());
    sqlx::query!(
        "INSERT INTO outbox (idempotency_key, recipients_json, subject, text_body, html_body,
             created_at, next_attempt_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
        email.idempotency_key,
        recipients,
        email.subject,
        email.text_body,
        email.html_body,
        now,
        now
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

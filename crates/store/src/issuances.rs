//! Renewals the console obtains itself, one endpoint each, from "due" to verified: at most
//! one active per endpoint (a unique index), and every state change conditional on the
//! state it leaves, so two passes of the renewal scheduler never start or move one twice.

use certfleet_proto::{IssuanceState, KeyType, RenewalSource};
use serde::Serialize;

use crate::renewals::insert_renewal_in;
use crate::{Error, NewRenewal, Result, Store};

/// What starting a renewal stores.
#[derive(Debug, Clone)]
pub struct NewIssuance<'a> {
    pub host_id: i64,
    pub endpoint_key: &'a str,
    pub source: RenewalSource,
    pub key_type: KeyType,
    pub names: &'a [String],
    pub request_id: &'a str,
    pub old_sha256: &'a str,
    pub started_by: &'a str,
    pub now: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct IssuanceRow {
    pub id: i64,
    pub host_id: i64,
    pub hostname: String,
    pub agent_id: String,
    pub endpoint_key: String,
    pub source: RenewalSource,
    pub state: IssuanceState,
    pub key_type: KeyType,
    pub names: Vec<String>,
    pub request_id: String,
    pub old_sha256: String,
    pub renewal_id: Option<i64>,
    pub rollout_id: Option<i64>,
    pub started_by: String,
    pub detail: String,
    /// A failed renewal is not started again before this (Unix seconds).
    pub retry_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

struct RawIssuance {
    id: i64,
    host_id: i64,
    hostname: String,
    agent_id: String,
    endpoint_key: String,
    source: RenewalSource,
    state: IssuanceState,
    key_type: String,
    names_json: String,
    request_id: String,
    old_sha256: String,
    renewal_id: Option<i64>,
    rollout_id: Option<i64>,
    started_by: String,
    detail: String,
    retry_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<RawIssuance> for IssuanceRow {
    type Error = Error;

    fn try_from(r: RawIssuance) -> Result<Self> {
        let key_type = KeyType::parse(&r.key_type).ok_or_else(|| {
            Error::Corrupt(format!(
                "renewal #{} has the key type {:?}, which this console does not know",
                r.id, r.key_type
            ))
        })?;
        Ok(IssuanceRow {
            id: r.id,
            host_id: r.host_id,
            hostname: r.hostname,
            agent_id: r.agent_id,
            endpoint_key: r.endpoint_key,
            source: r.source,
            state: r.state,
            key_type,
            names: serde_json::from_str(&r.names_json).unwrap_or_default(),
            request_id: r.request_id,
            old_sha256: r.old_sha256,
            renewal_id: r.renewal_id,
            rollout_id: r.rollout_id,
            started_by: r.started_by,
            detail: r.detail,
            retry_at: r.retry_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// The rows' query with its joins; each caller adds its condition and order.
macro_rules! issuances {
    ($tail:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            RawIssuance,
            r#"SELECT i.id AS "id!", i.host_id, h.hostname, h.agent_id, i.endpoint_key,
                      i.source AS "source: RenewalSource", i.state AS "state: IssuanceState",
                      i.key_type, i.names_json, i.request_id, i.old_sha256, i.renewal_id,
                      i.rollout_id, i.started_by, i.detail, i.retry_at, i.created_at, i.updated_at
               FROM issuances i JOIN hosts h ON h.id = i.host_id "# + $tail
            $(, $arg)*
        )
    };
}

impl Store {
    /// Starts a renewal of one endpoint; `None` when one is already under way for it.
    pub async fn start_issuance(&self, new: &NewIssuance<'_>) -> Result<Option<i64>> {
        let names = serde_json::to_string(new.names).unwrap_or_else(|_| "[]".into());
        let state = IssuanceState::Requested;
        let key_type = new.key_type.as_str();
        let mut tx = self.write_transaction().await?;
        let inserted = sqlx::query_scalar!(
            r#"INSERT INTO issuances (host_id, endpoint_key, source, state, key_type, names_json,
                   request_id, old_sha256, started_by, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id AS "id!""#,
            new.host_id,
            new.endpoint_key,
            new.source,
            state,
            key_type,
            names,
            new.request_id,
            new.old_sha256,
            new.started_by,
            new.now,
            new.now
        )
        .fetch_one(&mut *tx)
        .await;
        match inserted {
            Ok(id) => {
                tx.commit().await?;
                Ok(Some(id))
            }
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Moves a renewal on from one of `from` to `to`, with what it now has; `false` when it
    /// had already left those states (another pass moved it).
    #[allow(clippy::too_many_arguments)]
    pub async fn set_issuance(
        &self,
        id: i64,
        from: &[IssuanceState],
        to: IssuanceState,
        renewal_id: Option<i64>,
        rollout_id: Option<i64>,
        detail: &str,
        now: i64,
    ) -> Result<bool> {
        let from = serde_json::to_string(from).unwrap_or_else(|_| "[]".into());
        let mut tx = self.write_transaction().await?;
        let changed = sqlx::query!(
            r#"UPDATE issuances
               SET state = ?, renewal_id = COALESCE(?, renewal_id),
                   rollout_id = COALESCE(?, rollout_id), detail = ?, updated_at = ?
               WHERE id = ? AND state IN (SELECT value FROM json_each(?))"#,
            to,
            renewal_id,
            rollout_id,
            detail,
            now,
            id,
            from
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// Ends an active renewal as failed, not to be tried again before `retry_at`; `false`
    /// when it had already ended.
    pub async fn fail_issuance(
        &self,
        id: i64,
        detail: &str,
        retry_at: i64,
        now: i64,
    ) -> Result<bool> {
        let from = serde_json::to_string(IssuanceState::ACTIVE).unwrap_or_else(|_| "[]".into());
        let to = IssuanceState::Failed;
        let mut tx = self.write_transaction().await?;
        let changed = sqlx::query!(
            r#"UPDATE issuances SET state = ?, detail = ?, retry_at = ?, updated_at = ?
               WHERE id = ? AND state IN (SELECT value FROM json_each(?))"#,
            to,
            detail,
            retry_at,
            now,
            id,
            from
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// The certificate obtained for a requested renewal, stored as a renewal in the same
    /// transaction that moves it on: `None` (nothing stored) when it was no longer waiting.
    pub async fn record_issued(
        &self,
        id: i64,
        renewal: &NewRenewal<'_>,
        detail: &str,
        now: i64,
    ) -> Result<Option<i64>> {
        let mut tx = self.write_transaction().await?;
        let renewal_id = insert_renewal_in(&mut tx, renewal).await?;
        let state = IssuanceState::Issued;
        let moved = sqlx::query!(
            "UPDATE issuances SET state = ?, renewal_id = ?, detail = ?, updated_at = ?
             WHERE id = ? AND state = 'requested'",
            state,
            renewal_id,
            detail,
            now,
            id
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved != 1 {
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(renewal_id))
    }

    /// The rollout made for a renewal, if one was (a restart between creating it and
    /// recording it finds it here instead of making a second).
    pub async fn rollout_of_renewal(&self, renewal_id: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar!(
            r#"SELECT id AS "id!" FROM rollouts WHERE renewal_id = ? ORDER BY id LIMIT 1"#,
            renewal_id
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn issuance(&self, id: i64) -> Result<IssuanceRow> {
        issuances!("WHERE i.id = ?", id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound { what: "renewal" })?
            .try_into()
    }

    /// Every renewal still under way, oldest first.
    pub async fn active_issuances(&self) -> Result<Vec<IssuanceRow>> {
        issuances!("WHERE i.state IN ('requested', 'issued', 'rolling_out') ORDER BY i.id")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(IssuanceRow::try_from)
            .collect()
    }

    /// The newest renewals, newest first.
    pub async fn recent_issuances(&self, limit: i64) -> Result<Vec<IssuanceRow>> {
        issuances!("ORDER BY i.id DESC LIMIT ?", limit)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(IssuanceRow::try_from)
            .collect()
    }

    /// The last renewal of each endpoint that had one: what the scheduler waits on after a
    /// failure, and the overview shows.
    pub async fn latest_issuances(&self) -> Result<Vec<IssuanceRow>> {
        issuances!(
            "WHERE i.id IN (SELECT MAX(id) FROM issuances GROUP BY host_id, endpoint_key)
             ORDER BY i.id"
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(IssuanceRow::try_from)
        .collect()
    }
}

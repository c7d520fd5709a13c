//! Rollouts and their targets: the durable state machine the console's scheduler drives.
//! State changes are conditional updates (`WHERE state IN …`), so a restart or a late
//! message can never move a target or a rollout backwards.

use certfleet_proto::EndpointKind;
use serde::Serialize;

use certfleet_proto::{RolloutState, TargetAction, TargetState};

use crate::{Error, Result, Store};

/// An endpoint that uses some certificate, with what the planner needs to judge it.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointUse {
    pub host_id: i64,
    pub hostname: String,
    pub agent_id: String,
    pub groups: Vec<String>,
    pub endpoint_key: String,
    pub endpoint_name: String,
    pub kind: EndpointKind,
    pub address: Option<String>,
    pub sha256: String,
    pub subject: String,
    pub dns_names: Vec<String>,
    pub not_after: i64,
    pub not_before: i64,
    /// The certificate is the one the endpoint's configuration names (not only served).
    pub configured: bool,
    /// A Sage 300 connector on it still listens on http (`sage_http_only`).
    pub http_only: bool,
}

#[derive(Debug, Clone)]
pub struct NewRollout<'a> {
    pub renewal_id: i64,
    pub start_at: i64,
    pub time_zone: &'a str,
    pub wave_hosts: Option<i64>,
    pub wave_percent: Option<i64>,
    pub max_failures: i64,
    pub created_by: &'a str,
    pub created_at: i64,
    /// Starts as `scheduled`; the scheduler moves it to `running` at `start_at`.
    pub targets: Vec<NewTarget>,
}

#[derive(Debug, Clone)]
pub struct NewTarget {
    pub host_id: i64,
    pub endpoint_key: String,
    pub endpoint_name: String,
    pub wave: i64,
    pub action: TargetAction,
    /// For a trust or untrust target: the certificate the client installs or takes out.
    pub trust_sha256: Option<String>,
    /// The endpoint's connector listened on http until this rollout.
    pub first_https: bool,
    /// For a trust target: the client's old anchor, which a cleanup may take out later.
    pub replaces_sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RolloutRow {
    pub id: i64,
    pub renewal_id: i64,
    pub state: RolloutState,
    pub start_at: i64,
    pub time_zone: String,
    pub wave_hosts: Option<i64>,
    pub wave_percent: Option<i64>,
    pub max_failures: i64,
    pub created_by: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub detail: String,
    /// The renewal's subject, and how many targets it has and how many are verified.
    pub subject: String,
    pub targets: i64,
    pub verified: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct TargetRow {
    pub id: i64,
    pub rollout_id: i64,
    pub host_id: i64,
    pub hostname: String,
    pub agent_id: String,
    pub endpoint_key: String,
    pub endpoint_name: String,
    pub wave: i64,
    pub action: TargetAction,
    pub trust_sha256: Option<String>,
    pub first_https: bool,
    pub replaces_sha256: Option<String>,
    pub state: TargetState,
    pub job_id: Option<String>,
    pub step: String,
    pub detail: String,
    pub updated_at: i64,
}

impl Store {
    /// Every endpoint with the certificate it is configured with or serves (a row each; an
    /// endpoint without any, such as a managed site not deployed yet, has an empty `sha256`).
    pub async fn endpoint_uses(&self) -> Result<Vec<EndpointUse>> {
        self.endpoint_uses_on(None).await
    }

    /// [`Store::endpoint_uses`], of one host only when `host_id` is given.
    pub async fn endpoint_uses_on(&self, host_id: Option<i64>) -> Result<Vec<EndpointUse>> {
        let rows = sqlx::query!(
            r#"SELECT h.id AS "host_id!", h.hostname, h.agent_id, h.groups_json,
                      e.key AS endpoint_key, e.name AS endpoint_name, e.kind, e.address,
                      COALESCE(c.sha256, '') AS "sha256!: String",
                      COALESCE(c.subject, '') AS "subject!: String",
                      COALESCE(c.dns_names_json, '[]') AS "dns_names_json!: String",
                      COALESCE(c.not_after, 0) AS "not_after!: i64",
                      COALESCE(c.not_before, 0) AS "not_before!: i64",
                      COALESCE(c.sha256 = e.configured_sha256, 0) AS "configured!: bool",
                      EXISTS (SELECT 1 FROM findings f WHERE f.endpoint_id = e.id
                              AND f.code = 'sage_http_only') AS "http_only!: bool"
               FROM endpoints e
               JOIN hosts h ON h.id = e.host_id
               JOIN agents a ON a.id = h.agent_id AND a.revoked_at IS NULL
               LEFT JOIN certificates c
                 ON c.sha256 = e.configured_sha256 OR c.sha256 = e.served_sha256
               WHERE ?1 IS NULL OR h.id = ?1
               ORDER BY h.hostname, e.key"#,
            host_id
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| EndpointUse {
                host_id: r.host_id,
                hostname: r.hostname,
                agent_id: r.agent_id,
                groups: serde_json::from_str(&r.groups_json).unwrap_or_default(),
                endpoint_key: r.endpoint_key,
                endpoint_name: r.endpoint_name,
                kind: EndpointKind::parse(&r.kind).unwrap_or(EndpointKind::Other),
                address: r.address,
                sha256: r.sha256,
                subject: r.subject,
                dns_names: serde_json::from_str(&r.dns_names_json).unwrap_or_default(),
                not_after: r.not_after,
                not_before: r.not_before,
                configured: r.configured,
                http_only: r.http_only,
            })
            .collect())
    }

    pub async fn create_rollout(&self, new: &NewRollout<'_>) -> Result<i64> {
        let mut tx = self.write_transaction().await?;
        let id = sqlx::query_scalar!(
            r#"INSERT INTO rollouts (renewal_id, state, start_at, time_zone, wave_hosts,
                   wave_percent, max_failures, created_by, created_at)
               VALUES (?, 'scheduled', ?, ?, ?, ?, ?, ?, ?) RETURNING id AS "id!""#,
            new.renewal_id,
            new.start_at,
            new.time_zone,
            new.wave_hosts,
            new.wave_percent,
            new.max_failures,
            new.created_by,
            new.created_at
        )
        .fetch_one(&mut *tx)
        .await?;
        for t in &new.targets {
            sqlx::query!(
                "INSERT INTO rollout_targets (rollout_id, host_id, endpoint_key, endpoint_name,
                     wave, action, trust_sha256, first_https, replaces_sha256, state, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                id,
                t.host_id,
                t.endpoint_key,
                t.endpoint_name,
                t.wave,
                t.action,
                t.trust_sha256,
                t.first_https,
                t.replaces_sha256,
                new.created_at
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    pub async fn rollout(&self, id: i64) -> Result<RolloutRow> {
        sqlx::query_as!(
            RolloutRow,
            r#"SELECT r.id AS "id!", r.renewal_id, r.state AS "state: RolloutState", r.start_at, r.time_zone, r.wave_hosts,
                      r.wave_percent, r.max_failures, r.created_by, r.created_at, r.started_at,
                      r.finished_at, r.detail,
                      (SELECT n.subject FROM renewals n WHERE n.id = r.renewal_id)
                          AS "subject!: String",
                      (SELECT COUNT(*) FROM rollout_targets t WHERE t.rollout_id = r.id)
                          AS "targets!: i64",
                      (SELECT COUNT(*) FROM rollout_targets t
                        WHERE t.rollout_id = r.id AND t.state = 'verified') AS "verified!: i64"
               FROM rollouts r WHERE r.id = ?"#,
            id
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound { what: "rollout" })
    }

    /// Newest first.
    pub async fn rollouts(&self, limit: i64) -> Result<Vec<RolloutRow>> {
        Ok(sqlx::query_as!(
            RolloutRow,
            r#"SELECT r.id AS "id!", r.renewal_id, r.state AS "state: RolloutState", r.start_at, r.time_zone, r.wave_hosts,
                      r.wave_percent, r.max_failures, r.created_by, r.created_at, r.started_at,
                      r.finished_at, r.detail,
                      (SELECT n.subject FROM renewals n WHERE n.id = r.renewal_id)
                          AS "subject!: String",
                      (SELECT COUNT(*) FROM rollout_targets t WHERE t.rollout_id = r.id)
                          AS "targets!: i64",
                      (SELECT COUNT(*) FROM rollout_targets t
                        WHERE t.rollout_id = r.id AND t.state = 'verified') AS "verified!: i64"
               FROM rollouts r ORDER BY r.id DESC LIMIT ?"#,
            limit
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Rollouts the scheduler has work for.
    pub async fn active_rollouts(&self) -> Result<Vec<RolloutRow>> {
        Ok(sqlx::query_as!(
            RolloutRow,
            r#"SELECT r.id AS "id!", r.renewal_id, r.state AS "state: RolloutState", r.start_at, r.time_zone, r.wave_hosts,
                      r.wave_percent, r.max_failures, r.created_by, r.created_at, r.started_at,
                      r.finished_at, r.detail,
                      (SELECT n.subject FROM renewals n WHERE n.id = r.renewal_id)
                          AS "subject!: String",
                      (SELECT COUNT(*) FROM rollout_targets t WHERE t.rollout_id = r.id)
                          AS "targets!: i64",
                      (SELECT COUNT(*) FROM rollout_targets t
                        WHERE t.rollout_id = r.id AND t.state = 'verified') AS "verified!: i64"
               FROM rollouts r WHERE r.state IN ('scheduled', 'running') ORDER BY r.id"#
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn rollout_targets(&self, rollout_id: i64) -> Result<Vec<TargetRow>> {
        Ok(sqlx::query_as!(
            TargetRow,
            r#"SELECT t.id AS "id!", t.rollout_id, t.host_id, h.hostname, h.agent_id,
                      t.endpoint_key, t.endpoint_name, t.wave, t.action AS "action: TargetAction",
                      t.trust_sha256, t.first_https AS "first_https: bool", t.replaces_sha256,
                      t.state AS "state: TargetState", t.job_id, t.step,
                      t.detail, t.updated_at
               FROM rollout_targets t JOIN hosts h ON h.id = t.host_id
               WHERE t.rollout_id = ? ORDER BY t.wave, h.hostname, t.endpoint_key"#,
            rollout_id
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Moves a rollout from one of `from` to `to`; `false` when it was in another state.
    pub async fn set_rollout_state(
        &self,
        id: i64,
        from: &[RolloutState],
        to: RolloutState,
        detail: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let from = serde_json::to_string(from).unwrap_or_default();
        let finished = to.is_final().then_some(now);
        let started = (to == RolloutState::Running).then_some(now);
        let to = to.as_str();
        let changed = sqlx::query!(
            "UPDATE rollouts SET state = ?,
                 detail = COALESCE(?, detail),
                 started_at = COALESCE(started_at, ?),
                 finished_at = COALESCE(?, finished_at)
             WHERE id = ? AND state IN (SELECT value FROM json_each(?))",
            to,
            detail,
            started,
            finished,
            id,
            from
        )
        .execute(&self.writes)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    /// Moves a target from one of `from` to `to`; `false` when it was elsewhere already.
    pub async fn set_target_state(
        &self,
        target_id: i64,
        from: &[TargetState],
        to: TargetState,
        job_id: Option<&str>,
        detail: &str,
        now: i64,
    ) -> Result<bool> {
        let from = serde_json::to_string(from).unwrap_or_default();
        let to = to.as_str();
        let changed = sqlx::query!(
            "UPDATE rollout_targets SET state = ?, job_id = COALESCE(?, job_id), detail = ?,
                 updated_at = ?
             WHERE id = ? AND state IN (SELECT value FROM json_each(?))",
            to,
            job_id,
            detail,
            now,
            target_id,
            from
        )
        .execute(&self.writes)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    /// Marks targets sent under their job ids in one transaction: `(target, job id, from
    /// pending)`; one not from pending (a re-send) only has its time refreshed. Returns the
    /// targets recorded (a target that moved meanwhile is left out).
    pub async fn mark_targets_sent(
        &self,
        sends: &[(i64, String, bool)],
        now: i64,
    ) -> Result<Vec<i64>> {
        // Two statements for the whole wave (one UPDATE per target took 300 ms at 10,000).
        let (first, again): (Vec<_>, Vec<_>) = sends.iter().partition(|(_, _, pending)| *pending);
        let first = crate::json(
            &first
                .iter()
                .map(|(target, job, _)| (target, job))
                .collect::<Vec<_>>(),
        );
        let again = crate::json(
            &again
                .iter()
                .map(|(target, job, _)| (target, job))
                .collect::<Vec<_>>(),
        );
        let mut tx = self.write_transaction().await?;
        let mut recorded = sqlx::query_scalar!(
            r#"UPDATE rollout_targets
               SET state = 'sent', job_id = s.value ->> 1, detail = 'sent to the agent',
                   updated_at = ?1
               FROM json_each(?2) AS s
               WHERE rollout_targets.id = s.value ->> 0 AND rollout_targets.state = 'pending'
               RETURNING rollout_targets.id AS "id!: i64""#,
            now,
            first
        )
        .fetch_all(&mut *tx)
        .await?;
        recorded.extend(
            sqlx::query_scalar!(
                r#"UPDATE rollout_targets SET updated_at = ?1
                   FROM json_each(?2) AS s
                   WHERE rollout_targets.id = s.value ->> 0
                     AND rollout_targets.job_id = s.value ->> 1
                     AND rollout_targets.state IN ('sent', 'preflighted', 'applied')
                   RETURNING rollout_targets.id AS "id!: i64""#,
                now,
                again
            )
            .fetch_all(&mut *tx)
            .await?,
        );
        tx.commit().await?;
        Ok(recorded)
    }

    /// The endpoints of a host that a rollout switched to https for the first time, newest
    /// first: (endpoint name, rollout id, when it was verified).
    pub async fn first_https_done(&self, host_id: i64) -> Result<Vec<(String, i64, i64)>> {
        Ok(sqlx::query!(
            r#"SELECT endpoint_name, rollout_id, updated_at FROM rollout_targets
               WHERE host_id = ? AND first_https = 1 AND state = 'verified'
               ORDER BY updated_at DESC"#,
            host_id
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| (r.endpoint_name, r.rollout_id, r.updated_at))
        .collect())
    }

    /// The target a job belongs to.
    pub async fn target_by_job(&self, job_id: &str) -> Result<Option<TargetRow>> {
        Ok(sqlx::query_as!(
            TargetRow,
            r#"SELECT t.id AS "id!", t.rollout_id, t.host_id, h.hostname, h.agent_id,
                      t.endpoint_key, t.endpoint_name, t.wave, t.action AS "action: TargetAction",
                      t.trust_sha256, t.first_https AS "first_https: bool", t.replaces_sha256,
                      t.state AS "state: TargetState", t.job_id, t.step,
                      t.detail, t.updated_at
               FROM rollout_targets t JOIN hosts h ON h.id = t.host_id
               WHERE t.job_id = ?"#,
            job_id
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records a progress step of a running job (not for final targets).
    pub async fn set_target_step(
        &self,
        job_id: &str,
        state: TargetState,
        step: &str,
        now: i64,
    ) -> Result<bool> {
        let state = state.as_str();
        let changed = sqlx::query!(
            "UPDATE rollout_targets SET state = ?, step = ?, updated_at = ?
             WHERE job_id = ? AND state IN ('sent', 'preflighted', 'applied')",
            state,
            step,
            now,
            job_id
        )
        .execute(&self.writes)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }
}

/// A maintenance window of a host group, in minutes of the local day.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema)]
pub struct WindowRow {
    #[serde(default)]
    pub id: i64,
    pub group_name: String,
    pub weekdays: String,
    pub start_minute: i64,
    pub end_minute: i64,
    pub utc_offset_minutes: i64,
}

impl Store {
    pub async fn maintenance_windows(&self) -> Result<Vec<WindowRow>> {
        Ok(sqlx::query_as!(
            WindowRow,
            r#"SELECT id AS "id!", group_name, weekdays, start_minute, end_minute,
                      utc_offset_minutes
               FROM maintenance_windows ORDER BY group_name, id"#
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn add_maintenance_window(&self, w: &WindowRow) -> Result<i64> {
        Ok(sqlx::query_scalar!(
            r#"INSERT INTO maintenance_windows (group_name, weekdays, start_minute, end_minute,
                   utc_offset_minutes)
               VALUES (?, ?, ?, ?, ?) RETURNING id AS "id!""#,
            w.group_name,
            w.weekdays,
            w.start_minute,
            w.end_minute,
            w.utc_offset_minutes
        )
        .fetch_one(&self.writes)
        .await?)
    }

    pub async fn delete_maintenance_window(&self, id: i64) -> Result<bool> {
        Ok(
            sqlx::query!("DELETE FROM maintenance_windows WHERE id = ?", id)
                .execute(&self.writes)
                .await?
                .rows_affected()
                == 1,
        )
    }

    /// A host's groups (from its agent's configuration).
    pub async fn host_groups(&self, host_id: i64) -> Result<Vec<String>> {
        let json = sqlx::query_scalar!("SELECT groups_json FROM hosts WHERE id = ?", host_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound { what: "host" })?;
        Ok(serde_json::from_str(&json).unwrap_or_default())
    }
}

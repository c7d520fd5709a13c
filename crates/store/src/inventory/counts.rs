//! The usage counts the dashboard reads instead of joining endpoints and findings: each
//! touched certificate's endpoint, error and warning counts, its `unused_since`, and the
//! per-day tallies of certificates in use and broken. Recomputed for a whole batch in a few
//! statements.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlx::SqliteConnection;

use crate::Result;
use crate::json;

/// Changes to the per-day tallies, by expiry day.
#[derive(Debug, Default)]
pub(super) struct Days(BTreeMap<i64, (i64, i64)>);

impl Days {
    pub(super) fn add(&mut self, not_after: i64, in_use: i64, broken: i64) {
        if in_use != 0 || broken != 0 {
            let day = self.0.entry(not_after.div_euclid(86_400)).or_default();
            day.0 += in_use;
            day.1 += broken;
        }
    }

    pub(super) async fn write(self, tx: &mut SqliteConnection) -> Result<()> {
        let days: Vec<(i64, i64, i64)> = self
            .0
            .into_iter()
            .filter(|(_, (in_use, broken))| *in_use != 0 || *broken != 0)
            .map(|(day, (in_use, broken))| (day, in_use, broken))
            .collect();
        if days.is_empty() {
            return Ok(());
        }
        let days = json(&days);
        sqlx::query!(
            "INSERT INTO expiry_days (day, in_use, broken)
             SELECT value->>0, value->>1, value->>2 FROM json_each(?) WHERE true
             ON CONFLICT (day) DO UPDATE SET
                 in_use = in_use + excluded.in_use, broken = broken + excluded.broken",
            days
        )
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

/// Recomputes the counts of the stored certificates in `affected` from their endpoints and
/// findings, and adds the changes of the in-use and broken tallies to `days`.
pub(super) async fn recompute(
    tx: &mut SqliteConnection,
    affected: &BTreeSet<String>,
    now: i64,
    days: &mut Days,
) -> Result<()> {
    if affected.is_empty() {
        return Ok(());
    }
    let shas = json(affected);
    let before: HashMap<String, (i64, i64, i64)> = sqlx::query!(
        r#"SELECT sha256 AS "sha256!", endpoint_count, error_count, not_after FROM certificates
           WHERE sha256 IN (SELECT value FROM json_each(?))"#,
        shas
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| (r.sha256, (r.endpoint_count, r.error_count, r.not_after)))
    .collect();
    let after = sqlx::query!(
        r#"UPDATE certificates SET
             endpoint_count = (SELECT COUNT(*) FROM endpoints e
                               WHERE e.configured_sha256 = certificates.sha256
                                  OR e.served_sha256 = certificates.sha256),
             error_count = (SELECT COUNT(*) FROM endpoints e
                            JOIN findings f ON f.endpoint_id = e.id
                            WHERE (e.configured_sha256 = certificates.sha256
                                   OR e.served_sha256 = certificates.sha256)
                              AND f.severity = 'error'),
             warning_count = (SELECT COUNT(*) FROM endpoints e
                              JOIN findings f ON f.endpoint_id = e.id
                              WHERE (e.configured_sha256 = certificates.sha256
                                     OR e.served_sha256 = certificates.sha256)
                                AND f.severity = 'warning')
           WHERE sha256 IN (SELECT value FROM json_each(?))
           RETURNING sha256 AS "sha256!", endpoint_count AS "endpoint_count!: i64",
                     error_count AS "error_count!: i64""#,
        shas
    )
    .fetch_all(&mut *tx)
    .await?;

    let used = |count: i64| i64::from(count > 0);
    let broken = |count: i64, errors: i64| i64::from(count > 0 && errors > 0);
    let mut usage_changed = Vec::new();
    for row in &after {
        let Some(&(count, errors, not_after)) = before.get(&row.sha256) else {
            continue;
        };
        let in_use_delta = used(row.endpoint_count) - used(count);
        if in_use_delta != 0 {
            usage_changed.push(row.sha256.as_str());
        }
        days.add(
            not_after,
            in_use_delta,
            broken(row.endpoint_count, row.error_count) - broken(count, errors),
        );
    }
    if !usage_changed.is_empty() {
        // Used again, or unused from now on: the clean-up goes by this.
        let changed = json(&usage_changed);
        sqlx::query!(
            "UPDATE certificates SET unused_since = CASE WHEN endpoint_count = 0 THEN ?1 END
             WHERE sha256 IN (SELECT value FROM json_each(?2))",
            now,
            changed
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

//! The audit log: who did what, when. Written for every admin action and security event.

use serde::Serialize;

use crate::{Result, Store};

#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
}

impl Store {
    pub async fn audit(
        &self,
        at: i64,
        actor: &str,
        action: &str,
        target: Option<&str>,
        detail: Option<&str>,
    ) -> Result<()> {
        sqlx::query!(
            "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            at,
            actor,
            action,
            target,
            detail
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Newest first; `before` is the id of the last row of the previous page.
    pub async fn audit_log(&self, before: Option<i64>, limit: i64) -> Result<Vec<AuditRow>> {
        let before = before.unwrap_or(i64::MAX);
        Ok(sqlx::query_as!(
            AuditRow,
            "SELECT id, at, actor, action, target, detail FROM audit_log
             WHERE id < ? ORDER BY id DESC LIMIT ?",
            before,
            limit
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

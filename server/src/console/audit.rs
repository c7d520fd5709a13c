//! The audit entry every change writes: awaited, so a change whose entry cannot be written
//! fails instead of going unrecorded.

use super::{Admin, Can, Console, Result};
use certfleet_store::AuditAction;

/// One line of the audit log, as read back.
pub use certfleet_store::AuditRow as AuditEntry;

impl Console {
    pub(super) async fn record(
        &self,
        actor: &str,
        action: AuditAction,
        target: Option<&str>,
        detail: Option<&str>,
    ) -> Result<()> {
        self.store
            .audit(self.now_secs(), actor, action, target, detail)
            .await?;
        Ok(())
    }

    /// The audit log, newest first, `limit` entries before the entry id `before`.
    pub async fn audit_log(
        &self,
        _who: Can<'_, Admin>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        Ok(self.store.audit_log(before, limit.clamp(1, 1000)).await?)
    }
}

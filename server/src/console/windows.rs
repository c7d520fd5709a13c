//! Maintenance windows per host group: read (viewer), add and delete (admin).

use super::{Admin, Can, Console, Error, Result, Viewer};
use certfleet_store::AuditAction;

pub use certfleet_store::WindowRow;

/// `HH:MM` of a minute of the day.
pub fn hhmm(minutes: i64) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// `+HH:MM` / `-HH:MM` of an offset from UTC; empty for UTC itself.
pub fn utc_offset(minutes: i64) -> String {
    if minutes == 0 {
        String::new()
    } else {
        format!(
            "{}{}",
            if minutes < 0 { '-' } else { '+' },
            hhmm(minutes.abs())
        )
    }
}

impl Console {
    pub async fn windows(&self, _who: Can<'_, Viewer>) -> Result<Vec<WindowRow>> {
        Ok(self.store.maintenance_windows().await?)
    }

    /// Checks and stores a window; returns it with its id.
    pub async fn add_window(
        &self,
        who: Can<'_, Admin>,
        mut window: WindowRow,
    ) -> Result<WindowRow> {
        crate::rollout::windows::check(&window).map_err(Error::Invalid)?;
        window.id = self.store.add_maintenance_window(&window).await?;
        self.record(
            who.name(),
            AuditAction::WindowAdded,
            Some(&window.group_name),
            Some(&format!(
                "window #{}: {} {}-{} UTC{}",
                window.id,
                window.weekdays,
                hhmm(window.start_minute),
                hhmm(window.end_minute),
                utc_offset(window.utc_offset_minutes)
            )),
        )
        .await?;
        Ok(window)
    }

    pub async fn delete_window(&self, who: Can<'_, Admin>, id: i64) -> Result<()> {
        if !self.store.delete_maintenance_window(id).await? {
            return Err(Error::NotFound {
                what: "maintenance window",
            });
        }
        self.record(
            who.name(),
            AuditAction::WindowDeleted,
            Some(&format!("window #{id}")),
            None,
        )
        .await
    }
}

//! Alert settings, the test email and the outbox as an admin sees them.

use certfleet_store::AuditAction;
use zeroize::Zeroizing;

use super::{Admin, Can, Console, Error, Result};
use crate::alerts;

pub use crate::alerts::settings::AlertSettings;
/// One alert email and its delivery state.
pub use certfleet_store::OutboxRow as OutboxEntry;

/// The settings page's content: never the password, only whether one is set.
#[derive(Debug, Clone)]
pub struct AlertsView {
    pub settings: AlertSettings,
    pub password_set: bool,
    /// Saved on the settings page (else they come from the configuration file).
    pub saved_on_page: bool,
    pub outbox: Vec<OutboxEntry>,
}

impl Console {
    /// The latest alert emails, newest first (admins only: it shows who is told what).
    pub async fn outbox(&self, _who: Can<'_, Admin>, limit: i64) -> Result<Vec<OutboxEntry>> {
        Ok(self.store.outbox(limit.clamp(1, 500)).await?)
    }

    /// The settings in force (saved on the page, else the configuration file's).
    pub async fn current_alert_settings(&self, _who: Can<'_, Admin>) -> AlertSettings {
        alerts::effective(&self.alerts).await
    }

    pub async fn alerts(&self, who: Can<'_, Admin>) -> Result<AlertsView> {
        let settings = alerts::effective(&self.alerts).await;
        let saved_on_page = self.store.setting(alerts::SETTINGS).await?.is_some();
        let password_set = alerts::password(&self.alerts, &settings).await.is_some();
        let outbox = self.outbox(who, 50).await?;
        Ok(AlertsView {
            settings,
            password_set,
            saved_on_page,
            outbox,
        })
    }

    /// Saves the settings; a non-empty `password` replaces the stored (sealed) one.
    pub async fn save_alert_settings(
        &self,
        who: Can<'_, Admin>,
        settings: &AlertSettings,
        password: Option<Zeroizing<String>>,
    ) -> Result<()> {
        let password = password.filter(|p| !p.is_empty());
        alerts::save(
            &self.alerts,
            settings,
            password.as_deref().map(String::as_str),
        )
        .await
        .map_err(Error::Invalid)?;
        let detail = format!(
            "smtp {}:{}; {} recipients{}",
            settings.smtp.host,
            settings.smtp.port,
            settings.recipients.len(),
            if password.is_some() {
                "; new password"
            } else {
                ""
            }
        );
        self.record(
            who.name(),
            AuditAction::AlertSettingsSaved,
            None,
            Some(&detail),
        )
        .await
    }

    /// Sends a test email now with the saved settings; the SMTP server's answer, or its
    /// refusal as the error. Audited either way.
    pub async fn send_test_email(&self, who: Can<'_, Admin>, to: &str) -> Result<String> {
        let result = alerts::test_email(&self.alerts, to).await;
        let detail = match &result {
            Ok(answer) => answer.clone(),
            Err(e) => format!("failed: {e}"),
        };
        self.record(
            who.name(),
            AuditAction::AlertTestEmail,
            Some(to),
            Some(&detail),
        )
        .await?;
        result.map_err(Error::Invalid)
    }
}

//! The alert settings in force and their saving: what an admin saved on the settings page
//! (the SMTP password sealed), else the configuration file's.

use zeroize::Zeroizing;

use super::Alerts;
use super::settings::AlertSettings;
use super::{PASSWORD, SETTINGS};

/// The settings in force: what an admin saved, else the configuration file's.
pub async fn effective(alerts: &Alerts) -> AlertSettings {
    match alerts.store.setting(SETTINGS).await {
        Ok(Some(json)) => serde_json::from_str(&json).unwrap_or_else(|e| {
            tracing::error!(
                "the saved alert settings are unreadable ({e}); using the config file's"
            );
            alerts.config.alerts.clone()
        }),
        _ => alerts.config.alerts.clone(),
    }
}

/// The SMTP password: saved (sealed) on the settings page, else from the configuration.
pub async fn password(alerts: &Alerts, settings: &AlertSettings) -> Option<Zeroizing<String>> {
    if let Ok(Some(sealed)) = alerts.store.setting(PASSWORD).await
        && let Ok(sealed) = serde_json::from_str::<String>(&sealed)
    {
        match alerts.kek.open(&sealed) {
            Ok(bytes) => return Some(Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned())),
            Err(e) => tracing::error!("{e}"),
        }
    }
    if let Some(p) = &settings.smtp.password {
        return Some(Zeroizing::new(p.clone()));
    }
    let path = settings.smtp.password_file.as_ref()?;
    let text = Zeroizing::new(std::fs::read_to_string(path).ok()?);
    Some(Zeroizing::new(text.lines().next().unwrap_or("").to_owned()))
}

/// Saves settings from the settings page; a new password (if given) is sealed. A saved
/// password is for one relay and account: changing the host, port, user or security mode
/// without giving it again clears it, so it is never sent somewhere it was not meant for.
pub async fn save(
    alerts: &Alerts,
    settings: &AlertSettings,
    new_password: Option<&str>,
) -> Result<(), String> {
    settings.check()?;
    let before = effective(alerts).await.smtp;
    let after = &settings.smtp;
    let elsewhere = before.host != after.host
        || before.port != after.port
        || before.username != after.username
        || before.security != after.security;
    let json = serde_json::to_string(settings).map_err(|e| e.to_string())?;
    let now = alerts.now_secs();
    alerts
        .store
        .set_setting(SETTINGS, &json, now)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(password) = new_password.filter(|p| !p.is_empty()) {
        let sealed = alerts
            .kek
            .seal(password.as_bytes())
            .map_err(|e| e.to_string())?;
        let json = serde_json::to_string(&sealed).map_err(|e| e.to_string())?;
        alerts
            .store
            .set_setting(PASSWORD, &json, now)
            .await
            .map_err(|e| e.to_string())?;
    } else if elsewhere {
        alerts
            .store
            .delete_setting(PASSWORD)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

//! Alerts by email: certificates crossing their expiry thresholds (once per certificate,
//! endpoint and threshold; the nearer ones at once, the rest in a daily digest), error
//! findings, agents gone silent, failed deployments. Every email goes through the outbox,
//! written in the same transaction as the alert that causes it, and is sent with retries.
//! `rules` raises, `digest` gathers the daily email, `outbox` delivers, `saved` holds the
//! settings in force, `render` words every email, `mailer` talks SMTP.

mod digest;
pub mod mailer;
mod outbox;
pub mod render;
mod rules;
mod saved;
pub mod settings;

use std::time::Duration;

use tokio::sync::watch;

use crate::state::AppState;
use settings::AlertSettings;

use outbox::email_row;
pub use outbox::{send_due, test_email};
pub use rules::{RolloutProblem, check, rollout_problem};
pub use saved::{effective, password, save};

const DAY: i64 = 86_400;
pub const SETTINGS: &str = "alerts";
pub const PASSWORD: &str = "alerts.smtp_password";

fn base_url(state: &AppState, settings: &AlertSettings) -> String {
    settings
        .base_url
        .clone()
        .unwrap_or_else(|| state.ui_url())
        .trim_end_matches('/')
        .to_owned()
}

/// The background loop: checks conditions and sends the outbox on their intervals.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut last_check = i64::MIN;
    let mut last_send = i64::MIN;
    loop {
        let settings = effective(&state).await;
        let now = state.now_secs();
        if now.saturating_sub(last_check) >= settings.check_secs as i64 {
            last_check = now;
            if let Err(e) = check(&state, &settings, now).await {
                tracing::error!("checking alerts failed: {e:#}");
            }
        }
        if now.saturating_sub(last_send) >= settings.send_secs as i64 {
            last_send = now;
            if let Err(e) = send_due(&state, &settings, now).await {
                tracing::error!("sending the outbox failed: {e:#}");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

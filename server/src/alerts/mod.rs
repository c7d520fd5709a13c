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

use certfleet_store::Store;
use tokio::sync::watch;

use crate::addresses::Addresses;
use crate::clock::Clock;
use crate::config::Config;
use crate::secrets::Kek;
use settings::AlertSettings;

use outbox::email_row;
pub use outbox::{send_due, test_email};
pub use rules::{RenewalProblem, RolloutProblem, check, renewal_problem, rollout_problem};
pub use saved::{effective, password, save};

const DAY: i64 = 86_400;
pub const SETTINGS: &str = "alerts";
pub const PASSWORD: &str = "alerts.smtp_password";

/// What alerting uses: the store (alerts, outbox, saved settings), the configured defaults,
/// the key that seals the SMTP password, the clock, and the web UI's address for links.
#[derive(Clone, Debug)]
pub struct Alerts {
    store: Store,
    config: std::sync::Arc<Config>,
    kek: Kek,
    clock: Clock,
    addresses: Addresses,
}

impl Alerts {
    pub fn new(
        store: Store,
        config: std::sync::Arc<Config>,
        kek: Kek,
        clock: Clock,
        addresses: Addresses,
    ) -> Self {
        Alerts {
            store,
            config,
            kek,
            clock,
            addresses,
        }
    }

    fn now_secs(&self) -> i64 {
        self.clock.now_secs()
    }
}

fn base_url(alerts: &Alerts, settings: &AlertSettings) -> String {
    settings
        .base_url
        .clone()
        .unwrap_or_else(|| alerts.addresses.ui_url())
        .trim_end_matches('/')
        .to_owned()
}

/// The background loop: checks conditions and sends the outbox on their intervals.
pub async fn run(alerts: Alerts, mut shutdown: watch::Receiver<bool>) {
    let mut last_check = i64::MIN;
    let mut last_send = i64::MIN;
    loop {
        let settings = effective(&alerts).await;
        let now = alerts.now_secs();
        if now.saturating_sub(last_check) >= settings.check_secs as i64 {
            last_check = now;
            if let Err(e) = check(&alerts, &settings, now).await {
                tracing::error!("checking alerts failed: {e:#}");
            }
        }
        if now.saturating_sub(last_send) >= settings.send_secs as i64 {
            last_send = now;
            if let Err(e) = send_due(&alerts, &settings, now).await {
                tracing::error!("sending the outbox failed: {e:#}");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

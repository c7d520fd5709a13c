//! The renewal scheduler's loop: a pass of the console core's renewal use case every
//! `[renewals] check_secs`, or at once when someone asks for a renewal now. The decisions
//! are the core's (`Console::renew_due`); this only keeps time.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::console::Console;

pub async fn run(
    console: Console,
    every: Duration,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        match console.renew_due().await {
            Ok(0) => {}
            Ok(started) => tracing::info!(started, "renewals started by policy"),
            Err(e) => tracing::error!("the renewal scheduler failed a pass: {e}"),
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(every) => {}
        }
    }
}

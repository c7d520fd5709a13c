//! What the console tidies by itself: certificates no endpoint has used for a month are
//! removed, so an agent that reports a stream of certificates it then drops cannot grow the
//! database without end (a certificate page stays for a month after its last use).

use std::time::Duration;

use certfleet_store::Store;
use tokio::sync::watch;

use crate::clock::Clock;

/// How long an unused certificate is kept.
pub const KEEP_UNUSED_SECS: i64 = 30 * 86_400;
const EVERY: Duration = Duration::from_secs(3_600);

/// One round: removes what has been unused for longer than [`KEEP_UNUSED_SECS`].
pub async fn tidy(store: &Store, now: i64) -> certfleet_store::Result<u64> {
    let removed = store
        .remove_unused_certificates(now - KEEP_UNUSED_SECS)
        .await?;
    if removed > 0 {
        tracing::info!(
            removed,
            "removed certificates no endpoint has used for 30 days"
        );
    }
    Ok(removed)
}

/// Tidies once an hour until shutdown.
pub async fn run(store: Store, clock: Clock, mut shutdown: watch::Receiver<bool>) {
    loop {
        if let Err(e) = tidy(&store, clock.now_secs()).await {
            tracing::warn!("removing unused certificates failed (tried again in an hour): {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

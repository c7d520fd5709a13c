//! Fault injection for the reliability matrix (RELIABILITY.md): with
//! `CERTFLEET_PAUSE_AT=<point>` in its environment, the agent stops a deploy at that point,
//! says so in its log, and waits there, so a test can SIGKILL it at an exact step and check
//! what the next start makes of the journal; `<point>:<secs>` waits that long and goes on,
//! so a test can kill the console while the agent is at that step. Unset — always, outside
//! the tests — it does nothing. It needs control of the agent's environment, which already
//! allows stopping it.

use std::fmt;

/// The environment variable that names the point.
pub const PAUSE_AT: &str = "CERTFLEET_PAUSE_AT";

/// Where a deploy can be held, in the order a deploy reaches them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// The job is journaled; nothing is staged.
    AfterJournal,
    /// The new files sit beside the live ones; nothing live changed.
    AfterStage,
    /// The live files are replaced (copies kept); nothing restarted.
    AfterReplace,
    /// The server restarted with the new files; not yet verified.
    AfterRestart,
    /// Waiting for the live port to serve the new certificate.
    DuringVerify,
    /// Verified and journaled as such; not yet committed or reported.
    AfterVerify,
}

impl Point {
    pub const ALL: [Point; 6] = [
        Point::AfterJournal,
        Point::AfterStage,
        Point::AfterReplace,
        Point::AfterRestart,
        Point::DuringVerify,
        Point::AfterVerify,
    ];

    pub fn word(self) -> &'static str {
        match self {
            Point::AfterJournal => "after_journal",
            Point::AfterStage => "after_stage",
            Point::AfterReplace => "after_replace",
            Point::AfterRestart => "after_restart",
            Point::DuringVerify => "during_verify",
            Point::AfterVerify => "after_verify",
        }
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

#[cfg(test)]
tokio::task_local! {
    /// In the agent's own tests: the point where a deploy running in this task is held for
    /// good, and the signal that it got there (`CERTFLEET_PAUSE_AT` in-process, where a
    /// test's environment is shared by every test).
    pub static HOLD: (Point, std::sync::Arc<tokio::sync::Notify>);
}

/// Holds the deploy here when the environment names `point`: for ever, or for the seconds
/// given after it.
pub async fn pause(point: Point) {
    #[cfg(test)]
    if let Ok(Some(reached)) =
        HOLD.try_with(|(at, reached)| (*at == point).then(|| reached.clone()))
    {
        reached.notify_one();
        std::future::pending::<()>().await;
    }
    let Ok(value) = std::env::var(PAUSE_AT) else {
        return;
    };
    let (name, secs) = match value.split_once(':') {
        Some((name, secs)) => (name, secs.parse::<u64>().ok()),
        None => (value.as_str(), None),
    };
    if name != point.word() {
        return;
    }
    match secs {
        Some(secs) => {
            tracing::warn!("deploy paused at {point} for {secs} s ({PAUSE_AT})");
            tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
        }
        None => {
            tracing::warn!("deploy paused at {point} ({PAUSE_AT}): waiting to be killed");
            std::future::pending::<()>().await;
        }
    }
}

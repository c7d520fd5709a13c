//! Login attempts, per user name and client address: after five failures within a minute
//! the next attempts from that address for that name wait (429 with `Retry-After`), 30 s
//! at first and doubling up to 15 minutes. The account itself is never locked: the same
//! user from another address, or after the wait, logs in as usual. And password hashing,
//! which is deliberately slow, runs off the async workers a few at a time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

/// Failures that start a wait, and the window they are counted in.
const FAILURES: usize = 5;
const WINDOW_SECS: i64 = 60;
const FIRST_WAIT_SECS: i64 = 30;
const MAX_WAIT_SECS: i64 = 15 * 60;
/// Password hashes computed at once (argon2id: ~19 MiB and tens of ms each).
const HASHING_AT_ONCE: usize = 4;
/// Entries kept before the oldest are dropped (an attacker cycling names must not grow
/// this without bound).
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Default, Clone)]
struct Attempts {
    /// When the recent failures happened.
    failures: Vec<i64>,
    blocked_until: i64,
    /// How many waits in a row, for the doubling.
    waits: u32,
    last_seen: i64,
}

/// A user name (lower case) and the address it was tried from.
type Key = (String, Option<IpAddr>);

/// Shared by every copy of the console core.
#[derive(Debug, Clone)]
pub struct LoginGuard {
    attempts: Arc<Mutex<HashMap<Key, Attempts>>>,
    hashing: Arc<Semaphore>,
}

impl Default for LoginGuard {
    fn default() -> Self {
        LoginGuard {
            attempts: Arc::default(),
            hashing: Arc::new(Semaphore::new(HASHING_AT_ONCE)),
        }
    }
}

fn key(username: &str, from: Option<IpAddr>) -> Key {
    (username.trim().to_lowercase(), from)
}

impl LoginGuard {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Attempts>> {
        self.attempts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds to wait before `username` may be tried again from `from`, if any.
    pub fn wait(&self, username: &str, from: Option<IpAddr>, now: i64) -> Option<i64> {
        let map = self.lock();
        let entry = map.get(&key(username, from))?;
        (entry.blocked_until > now).then(|| entry.blocked_until - now)
    }

    /// Records a failure; returns the wait it starts, if it starts one.
    pub fn failed(&self, username: &str, from: Option<IpAddr>, now: i64) -> Option<i64> {
        let mut map = self.lock();
        if map.len() >= MAX_ENTRIES {
            let oldest = map
                .iter()
                .min_by_key(|(_, a)| a.last_seen)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                map.remove(&oldest);
            }
        }
        let entry = map.entry(key(username, from)).or_default();
        entry.last_seen = now;
        entry.failures.retain(|t| now - t < WINDOW_SECS);
        entry.failures.push(now);
        if entry.failures.len() < FAILURES {
            return None;
        }
        let wait = (FIRST_WAIT_SECS << entry.waits.min(10)).min(MAX_WAIT_SECS);
        entry.waits = entry.waits.saturating_add(1);
        entry.blocked_until = now + wait;
        entry.failures.clear();
        Some(wait)
    }

    /// A success clears the record for that name and address.
    pub fn succeeded(&self, username: &str, from: Option<IpAddr>) {
        self.lock().remove(&key(username, from));
    }

    /// Runs a password hash or check on a blocking thread, a few at a time.
    pub async fn hash<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, super::Error> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(super::Error::internal)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(super::Error::internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_in_a_minute_start_a_wait_that_doubles_and_is_per_address() {
        let guard = LoginGuard::default();
        let here: Option<IpAddr> = Some("203.0.113.9".parse().unwrap());
        let there: Option<IpAddr> = Some("198.51.100.7".parse().unwrap());
        for t in 0..4 {
            assert_eq!(guard.failed("Admin", here, t), None);
        }
        assert_eq!(guard.failed("admin", here, 4), Some(30), "the fifth");
        assert_eq!(guard.wait("ADMIN", here, 10), Some(24));
        assert_eq!(guard.wait("admin", there, 10), None, "not the account");
        assert_eq!(guard.wait("admin", here, 40), None, "over");
        for t in 40..44 {
            assert_eq!(guard.failed("admin", here, t), None);
        }
        assert_eq!(guard.failed("admin", here, 44), Some(60), "doubled");
        // Spread out, failures never add up to a wait.
        for t in 0..20 {
            assert_eq!(guard.failed("bob", here, t * 61), None);
        }
        guard.succeeded("admin", here);
        assert_eq!(guard.wait("admin", here, 45), None);
        let long = LoginGuard::default();
        let mut last = None;
        for round in 0..12 {
            for t in 0..5 {
                last = long.failed("x", here, round * 10_000 + t);
            }
        }
        assert_eq!(last, Some(MAX_WAIT_SECS), "capped at 15 minutes");
    }
}

//! The console's one source of "now", injectable so tests can move time.

use std::sync::Arc;

use time::OffsetDateTime;

#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> OffsetDateTime + Send + Sync>);

impl Clock {
    pub fn new(now: impl Fn() -> OffsetDateTime + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now))
    }

    /// The wall clock.
    pub fn system() -> Self {
        Clock::new(OffsetDateTime::now_utc)
    }

    pub fn now(&self) -> OffsetDateTime {
        (self.0)()
    }

    pub fn now_secs(&self) -> i64 {
        self.now().unix_timestamp()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

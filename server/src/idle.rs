//! The API listener's idle keep-alive limit: a connection with no request in progress and
//! no bytes either way for the limit is closed, so idle kept-alive connections (a browser
//! keeps several) cannot pile up. hyper's header read timeout bounds a request's headers;
//! this bounds the quiet time between requests. A request being answered, however slowly
//! (a preflight waits for the hosts), is never idle.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// What the watchdog of one connection reads: the last time bytes moved, and the requests
/// in progress.
#[derive(Debug)]
pub struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        })
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Held while a request is answered: the connection is busy, not idle.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }

    fn quiet_until(&self, limit: Duration) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + limit
    }

    /// Resolves once the connection has been idle for `limit`.
    pub async fn idle_for(&self, limit: Duration) {
        loop {
            let until = self.quiet_until(limit);
            if Instant::now() >= until && self.in_flight.load(Ordering::Relaxed) == 0 {
                return;
            }
            // Busy past the limit: look again after another stretch.
            tokio::time::sleep_until(until.max(Instant::now() + Duration::from_millis(500))).await;
            if self.in_flight.load(Ordering::Relaxed) > 0 {
                self.touch();
            }
        }
    }
}

/// A request in progress; dropping it ends that.
#[derive(Debug)]
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A stream that records its reads and writes in an [`Activity`].
#[derive(Debug)]
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        activity.touch();
        Watched { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_only_after_the_limit_with_nothing_in_progress() {
        let activity = Activity::new();
        activity.touch();
        let limit = Duration::from_secs(60);
        let busy = activity.busy();
        // A request answered for two minutes is not idle.
        let idle = tokio::time::timeout(Duration::from_secs(120), activity.idle_for(limit));
        assert!(idle.await.is_err(), "busy is not idle");
        drop(busy);
        let started = Instant::now();
        activity.idle_for(limit).await;
        let waited = started.elapsed();
        assert!(
            waited >= limit && waited < limit + Duration::from_secs(2),
            "{waited:?}"
        );
    }
}

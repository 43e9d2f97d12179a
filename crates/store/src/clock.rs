//! [`StoreClock`]: the time the in-memory twins of the databases read for
//! their rules (leases, heartbeats, notification damping, retry backoff), so
//! a test can move that time instead of waiting for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;

/// Tokio's clock read as a date: the wall clock when the clock was made,
/// moved on by tokio's clock since (so it stands still under paused time
/// until the test's sleeps move it), plus what [`StoreClock::advance`] added
/// (for tests whose real network I/O rules paused time out). The databases
/// read their own clocks instead; this one is for the memory store and the
/// memory coordination. Cheap to clone: clones share the time added.
#[derive(Debug, Clone)]
pub struct StoreClock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    started: Instant,
    wall: OffsetDateTime,
    /// Milliseconds added by [`StoreClock::advance`].
    added_ms: AtomicU64,
}

impl Default for StoreClock {
    fn default() -> Self {
        StoreClock::new()
    }
}

impl StoreClock {
    /// A clock that reads the wall clock now.
    pub fn new() -> Self {
        StoreClock {
            inner: Arc::new(Inner {
                started: Instant::now(),
                wall: OffsetDateTime::now_utc(),
                added_ms: AtomicU64::new(0),
            }),
        }
    }

    /// The date now.
    pub fn now(&self) -> OffsetDateTime {
        self.date(Instant::now())
    }

    /// The date of an instant of tokio's clock.
    pub fn date(&self, at: Instant) -> OffsetDateTime {
        let added = Duration::from_millis(self.inner.added_ms.load(Ordering::SeqCst));
        self.inner.wall + at.saturating_duration_since(self.inner.started) + added
    }

    /// Moves every later date on by `by`, as if that much time had passed.
    /// Instants of tokio's clock (leases of the memory coordination) do not
    /// move: tests of those run with paused time.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.inner.added_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

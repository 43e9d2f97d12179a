//! [`FailureThrottle`]: slows down repeated authentication failures from one address.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;
use tokio::time::Instant;

/// Failures allowed per address and window before answers are delayed.
pub const MAX_FAILURES: u32 = 5;
/// The window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);
/// How long each further failing answer is held back.
pub const DELAY: Duration = Duration::from_secs(1);
/// Most addresses tracked at once, so a flood of addresses cannot grow memory.
pub const MAX_TRACKED: usize = 10_000;

/// Counts authentication failures per client address in a fixed window; after
/// [`MAX_FAILURES`] in [`WINDOW`], each further failure is answered [`DELAY`] late.
///
/// Guessing a 256-bit token is hopeless anyway; the delay keeps a misconfigured
/// client or a scanner from spinning the CPU on hashes and filling the logs.
#[derive(Debug)]
pub struct FailureThrottle {
    entries: Mutex<HashMap<IpAddr, Entry>>,
    max_failures: u32,
    window: Duration,
    delay: Duration,
    max_tracked: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_start: Instant,
    failures: u32,
}

impl Default for FailureThrottle {
    fn default() -> Self {
        FailureThrottle::new(MAX_FAILURES, WINDOW, DELAY, MAX_TRACKED)
    }
}

impl FailureThrottle {
    /// A throttle with these limits (see the module constants for the defaults).
    pub fn new(max_failures: u32, window: Duration, delay: Duration, max_tracked: usize) -> Self {
        FailureThrottle {
            entries: Mutex::new(HashMap::new()),
            max_failures,
            window,
            delay,
            max_tracked: max_tracked.max(1),
        }
    }

    /// Records one failure from `addr` and returns how long to hold the answer
    /// back (`None`: answer at once). An unknown address is never delayed.
    pub fn record_failure(&self, addr: Option<IpAddr>) -> Option<Duration> {
        let addr = addr?;
        let now = Instant::now();
        let mut entries = self.entries.lock();
        if !entries.contains_key(&addr) && entries.len() >= self.max_tracked {
            let window = self.window;
            entries.retain(|_, entry| now.duration_since(entry.window_start) < window);
            if entries.len() >= self.max_tracked
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, entry)| entry.window_start)
                    .map(|(addr, _)| *addr)
            {
                entries.remove(&oldest);
            }
        }
        let entry = entries.entry(addr).or_insert(Entry {
            window_start: now,
            failures: 0,
        });
        if now.duration_since(entry.window_start) >= self.window {
            *entry = Entry {
                window_start: now,
                failures: 0,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
        (entry.failures > self.max_failures).then_some(self.delay)
    }

    /// How many addresses are tracked now.
    pub fn tracked(&self) -> usize {
        self.entries.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
    }

    #[test]
    fn the_sixth_failure_in_a_minute_is_delayed() {
        let throttle = FailureThrottle::default();
        for _ in 0..5 {
            assert_eq!(throttle.record_failure(ip(1)), None);
        }
        assert_eq!(throttle.record_failure(ip(1)), Some(DELAY));
        assert_eq!(throttle.record_failure(ip(2)), None);
    }

    #[test]
    fn tracked_addresses_are_capped() {
        let throttle = FailureThrottle::new(5, WINDOW, DELAY, 3);
        for last in 1..=10 {
            throttle.record_failure(ip(last));
        }
        assert!(throttle.tracked() <= 3);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_forgotten_after_the_window() {
        let throttle = FailureThrottle::default();
        for _ in 0..6 {
            throttle.record_failure(ip(1));
        }
        tokio::time::advance(WINDOW).await;
        assert_eq!(throttle.record_failure(ip(1)), None);
    }
}

//! Request, in-flight and connection counters of a simulated proxy or fleet.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

/// Counters of `/healthz-report` requests, shared between a proxy's connections.
///
/// A proxy of a fleet has the fleet's counters as parent, so every request is counted
/// both for the proxy and for the whole fleet.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    requests: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    parent: Option<Arc<Stats>>,
}

impl Stats {
    /// Counters that also count into `parent`.
    pub(crate) fn with_parent(parent: Option<Arc<Stats>>) -> Self {
        Stats {
            parent,
            ..Stats::default()
        }
    }

    /// Counts one request and marks it in flight until the guard drops.
    pub(crate) fn begin(self: &Arc<Self>) -> InFlight {
        let mut at = Some(self);
        while let Some(stats) = at {
            stats.requests.fetch_add(1, Ordering::Relaxed);
            let now = stats.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
            stats.max_in_flight.fetch_max(now, Ordering::AcqRel);
            at = stats.parent.as_ref();
        }
        InFlight(Arc::clone(self))
    }

    /// `/healthz-report` requests received so far.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Acquire)
    }

    /// Requests received whose answer is not completely sent yet.
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// The highest [`Stats::in_flight`] seen since the start or the last reset.
    pub(crate) fn max_in_flight(&self) -> u64 {
        self.max_in_flight.load(Ordering::Acquire)
    }

    /// Sets the high-water mark back to the current in-flight count.
    pub(crate) fn reset_max_in_flight(&self) {
        self.max_in_flight
            .store(self.in_flight.load(Ordering::Acquire), Ordering::Release);
    }
}

/// Marks one request in flight; dropping it (answer sent, or connection gone) ends it.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Stats>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut at = Some(&self.0);
        while let Some(stats) = at {
            stats.in_flight.fetch_sub(1, Ordering::AcqRel);
            at = stats.parent.as_ref();
        }
    }
}

/// Counts open connections and lets a shutdown wait until they are all closed.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    open: AtomicU64,
    closed: Notify,
}

impl Connections {
    /// Marks one connection open until the guard drops.
    pub(crate) fn open(self: &Arc<Self>) -> OpenConnection {
        self.open.fetch_add(1, Ordering::AcqRel);
        OpenConnection(Arc::clone(self))
    }

    /// Connections accepted and not yet closed.
    pub(crate) fn count(&self) -> u64 {
        self.open.load(Ordering::Acquire)
    }

    /// Resolves once no connection is open.
    pub(crate) async fn all_closed(&self) {
        loop {
            let notified = self.closed.notified();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Marks one connection open; dropping it closes the count.
#[derive(Debug)]
pub(crate) struct OpenConnection(Arc<Connections>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.closed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_rises_and_falls_and_the_maximum_stays() {
        let stats = Arc::new(Stats::default());
        let a = stats.begin();
        let b = stats.begin();
        assert_eq!(
            (stats.requests(), stats.in_flight(), stats.max_in_flight()),
            (2, 2, 2)
        );
        drop(a);
        drop(b);
        assert_eq!(
            (stats.requests(), stats.in_flight(), stats.max_in_flight()),
            (2, 0, 2)
        );
        stats.reset_max_in_flight();
        assert_eq!(stats.max_in_flight(), 0);
    }

    #[test]
    fn a_child_counts_into_its_parent_too() {
        let fleet = Arc::new(Stats::default());
        let one = Arc::new(Stats::with_parent(Some(Arc::clone(&fleet))));
        let two = Arc::new(Stats::with_parent(Some(Arc::clone(&fleet))));
        let a = one.begin();
        let b = two.begin();
        assert_eq!(
            (fleet.requests(), fleet.in_flight(), fleet.max_in_flight()),
            (2, 2, 2)
        );
        assert_eq!((one.requests(), one.in_flight()), (1, 1));
        drop((a, b));
        assert_eq!(fleet.in_flight(), 0);
    }
}

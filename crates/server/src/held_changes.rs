//! [`HeldChanges`]: the changes of proxies in a maintenance window, held back
//! until the window is over. Status changes ([`crate::maintenance`]) and
//! partial outages ([`crate::held_partials`]) are held by this one book.

use parking_lot::Mutex;
use proxyhealth_core::{PartialChange, Transition};
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// A change of one proxy, which a maintenance window may hold back.
pub(crate) trait ProxyChange {
    /// The proxy the change is of.
    fn proxy_id(&self) -> Uuid;
    /// Shows the change as happening no earlier than `now`: a change held
    /// through a window is shown when the window was seen to end.
    fn not_before(&mut self, now: OffsetDateTime);
}

impl ProxyChange for Transition {
    fn proxy_id(&self) -> Uuid {
        self.proxy_id
    }

    fn not_before(&mut self, now: OffsetDateTime) {
        self.at = self.at.max(now);
    }
}

impl ProxyChange for PartialChange {
    fn proxy_id(&self) -> Uuid {
        self.proxy_id
    }

    fn not_before(&mut self, now: OffsetDateTime) {
        self.at = self.at.max(now);
    }
}

/// What may be recorded now, in this order: the changes held whose window
/// is over, then the changes of proxies in no window.
pub(crate) struct Sorted<T> {
    /// Held changes whose window is over, each the newest of its proxy.
    pub(crate) released: Vec<T>,
    /// New changes of proxies in no window.
    pub(crate) passed: Vec<T>,
}

/// The newest change of each proxy in a window, held until it is over.
pub(crate) struct HeldChanges<T>(Mutex<HashMap<Uuid, T>>);

impl<T> Default for HeldChanges<T> {
    fn default() -> Self {
        HeldChanges(Mutex::default())
    }
}

impl<T: ProxyChange> HeldChanges<T> {
    /// Holds the `changes` of proxies `in_window` says are in one (each
    /// replacing the one held before it) and releases the held changes of
    /// proxies no longer in one, shown at `now` at the earliest. A released
    /// change is left out when a new change of its proxy passes: the store
    /// compares either with what it recorded before the window.
    pub(crate) fn sort(
        &self,
        changes: Vec<T>,
        in_window: impl Fn(&Uuid) -> bool,
        now: OffsetDateTime,
    ) -> Sorted<T> {
        let mut released = Vec::new();
        let mut passed = Vec::new();
        {
            let mut held = self.0.lock();
            let over: Vec<Uuid> = held
                .keys()
                .filter(|proxy| !in_window(proxy))
                .copied()
                .collect();
            for proxy in over {
                if let Some(mut change) = held.remove(&proxy) {
                    change.not_before(now);
                    released.push(change);
                }
            }
            for change in changes {
                if in_window(&change.proxy_id()) {
                    held.insert(change.proxy_id(), change);
                } else {
                    passed.push(change);
                }
            }
        }
        released.retain(|held| !passed.iter().any(|new| new.proxy_id() == held.proxy_id()));
        Sorted { released, passed }
    }

    /// Holds released `changes` again (their recording failed), unless a
    /// newer change of the same proxy is held meanwhile.
    pub(crate) fn hold_again(&self, changes: Vec<T>) {
        let mut held = self.0.lock();
        for change in changes {
            held.entry(change.proxy_id()).or_insert(change);
        }
    }
}

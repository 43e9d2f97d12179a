//! What a write of shared results records while maintenance windows are in
//! force, decided from the windows alone (nothing held in memory), so every
//! replica of a cluster decides alike and a replica that dies loses nothing.
//!
//! A proxy in a window: its checks are left out (they count for no uptime)
//! and its status changes are not recorded (so not notified). A proxy whose
//! window ended a short while ago ([`SETTLE_WITHIN`]): its status now is
//! offered as a change even when the writer saw none, and the store, which
//! drops a change to the status it last recorded, keeps it only when the
//! status differs from the one recorded before the window: notified once,
//! at the first write after the window, by whichever replica makes it.

use std::collections::HashSet;
use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::history::{CheckRecord, HistoryBatch, Transition};
use crate::maintenance::{MaintenanceBook, MaintenanceScope, MaintenanceWindow};

/// How long after an occurrence of a window ends the status of a proxy it
/// covered is still offered as a change: long enough for any replica to
/// check it again after a failover, short enough that old windows cost
/// nothing.
pub const SETTLE_WITHIN: Duration = Duration::from_secs(24 * 3600);

/// The windows as a batch of shared results sees them at one instant.
#[derive(Debug, Clone, Default)]
pub struct MaintenanceFilter {
    /// The windows active now.
    book: MaintenanceBook,
    /// Proxies a window of their own ended for within [`SETTLE_WITHIN`].
    settling: HashSet<Uuid>,
    /// Whether a window of every proxy ended within [`SETTLE_WITHIN`].
    all_settling: bool,
}

/// One result of a batch: its check, the change its writer decided, and the
/// status it shows now as a change (offered when a window just ended).
#[derive(Debug, Clone)]
pub struct FilterInput {
    /// The check.
    pub check: CheckRecord,
    /// The change the writer saw, if any.
    pub transition: Option<Transition>,
    /// The status now shown, as a change from nothing (the store sets `from`).
    pub current: Transition,
}

impl MaintenanceFilter {
    /// The windows of `windows` at `now`, in one pass.
    pub fn compile(windows: &[MaintenanceWindow], now: OffsetDateTime) -> Self {
        let since = now - time::Duration::try_from(SETTLE_WITHIN).unwrap_or(time::Duration::DAY);
        let mut filter = MaintenanceFilter {
            book: MaintenanceBook::compile(windows, now),
            ..MaintenanceFilter::default()
        };
        for window in windows {
            let ended = window
                .occurrences_between(since, now)
                .iter()
                .any(|occurrence| occurrence.ends_at <= now);
            if !ended {
                continue;
            }
            match window.scope {
                MaintenanceScope::All => filter.all_settling = true,
                MaintenanceScope::Proxy(proxy) => {
                    filter.settling.insert(proxy);
                }
            }
        }
        filter
    }

    /// Whether no window is active or recently ended: a batch passes as it is.
    pub fn is_idle(&self) -> bool {
        self.book.all().is_none()
            && self.book.proxies().next().is_none()
            && self.settling.is_empty()
            && !self.all_settling
    }

    /// The active windows.
    pub fn book(&self) -> &MaintenanceBook {
        &self.book
    }

    /// What to record of `results` (constant time per result).
    pub fn apply(&self, results: impl IntoIterator<Item = FilterInput>) -> HistoryBatch {
        let mut batch = HistoryBatch::default();
        for result in results {
            let proxy = result.check.proxy_id;
            if self.book.covers(&proxy) {
                continue;
            }
            batch.checks.push(result.check);
            match result.transition {
                Some(change) => batch.transitions.push(change),
                None if self.all_settling || self.settling.contains(&proxy) => {
                    batch.transitions.push(result.current);
                }
                None => {}
            }
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HealthReport, Status};
    use time::macros::datetime;

    fn window(proxy: u128, starts: OffsetDateTime, ends: OffsetDateTime) -> MaintenanceWindow {
        MaintenanceWindow {
            id: Uuid::from_u128(100 + proxy),
            scope: MaintenanceScope::Proxy(Uuid::from_u128(proxy)),
            starts_at: starts,
            ends_at: ends,
            weekly: false,
            reason: "upgrade".into(),
            created_at: starts,
            ended_at: None,
        }
    }

    fn input(proxy: u128, to: Status, changed: bool) -> FilterInput {
        let current = Transition {
            proxy_id: Uuid::from_u128(proxy),
            proxy_name: format!("p{proxy}"),
            proxy_url: String::new(),
            at: datetime!(2026-12-01 03:00 UTC),
            from: None,
            to,
            report: HealthReport::default(),
            replica: None,
            previous_lasted: None,
        };
        FilterInput {
            check: CheckRecord {
                proxy_id: Uuid::from_u128(proxy),
                at: current.at,
                result: to,
                latency: None,
            },
            transition: changed.then(|| current.clone()),
            current,
        }
    }

    #[test]
    fn a_proxy_in_a_window_records_neither_its_checks_nor_its_changes() {
        let now = datetime!(2026-12-01 03:00 UTC);
        let windows = vec![window(
            1,
            datetime!(2026-12-01 02:00 UTC),
            datetime!(2026-12-01 04:00 UTC),
        )];
        let filter = MaintenanceFilter::compile(&windows, now);
        let batch = filter.apply([
            input(1, Status::Unreachable, true),
            input(2, Status::Unreachable, true),
        ]);
        assert_eq!(batch.checks.len(), 1);
        assert_eq!(batch.checks[0].proxy_id, Uuid::from_u128(2));
        assert_eq!(batch.transitions.len(), 1);
        assert_eq!(batch.transitions[0].proxy_id, Uuid::from_u128(2));
    }

    #[test]
    fn a_proxy_whose_window_just_ended_offers_its_status_as_a_change() {
        let now = datetime!(2026-12-01 05:00 UTC);
        let windows = vec![window(
            1,
            datetime!(2026-12-01 02:00 UTC),
            datetime!(2026-12-01 04:00 UTC),
        )];
        let filter = MaintenanceFilter::compile(&windows, now);
        assert!(!filter.is_idle());
        let batch = filter.apply([
            input(1, Status::Unreachable, false),
            input(2, Status::Ok, false),
        ]);
        assert_eq!(batch.checks.len(), 2);
        let changed: Vec<_> = batch.transitions.iter().map(|t| t.proxy_id).collect();
        assert_eq!(changed, vec![Uuid::from_u128(1)]);
        let later = MaintenanceFilter::compile(&windows, datetime!(2026-12-03 05:00 UTC));
        assert!(later.is_idle());
    }
}

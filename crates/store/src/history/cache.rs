//! A process's share of the hourly rollups, added up in memory (one writer
//! id per process) and written whole by the journal, so a sweep never reads
//! a row before writing it; changed only after the transaction commits.
//! Also the hour arithmetic every backend shares.

use proxyhealth_core::{CheckRecord, Rollup};
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// Hours kept in the cache behind the newest one written: a sweep that
/// started just before an hour's end still finds its row.
const HOURS_KEPT: i64 = 2;

/// Seconds in an hour.
pub(crate) const HOUR_SECS: i64 = 3600;

/// The start of the hour holding `at`, in unix seconds (UTC).
pub(crate) fn hour_of(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().div_euclid(HOUR_SECS) * HOUR_SECS
}

/// One rollup row to write whole: this writer's checks of a proxy in an hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RollupRow {
    /// The proxy.
    pub proxy_id: Uuid,
    /// The hour's start, unix seconds.
    pub hour: i64,
    /// Everything this writer counted in that hour, this batch included.
    pub rollup: Rollup,
}

/// A process's share of the rollups, added up in memory.
#[derive(Debug)]
pub(crate) struct RollupCache {
    rows: HashMap<(Uuid, i64), Rollup>,
    newest_hour: i64,
    /// Rows of hours before this one may be stored but no longer cached
    /// (evicted); such a row is read before it is written again.
    evicted_before: i64,
}

impl Default for RollupCache {
    fn default() -> Self {
        RollupCache {
            rows: HashMap::new(),
            newest_hour: i64::MIN,
            evicted_before: i64::MIN,
        }
    }
}

impl RollupCache {
    /// The (proxy, hour) rows `checks` touch that must be read from the
    /// database first (stored by this writer, but evicted from the cache).
    pub(crate) fn misses(&self, checks: &[CheckRecord]) -> Vec<(Uuid, i64)> {
        let mut misses: Vec<(Uuid, i64)> = checks
            .iter()
            .map(|check| (check.proxy_id, hour_of(check.at)))
            .filter(|key| key.1 < self.evicted_before && !self.rows.contains_key(key))
            .collect();
        misses.sort_unstable();
        misses.dedup();
        misses
    }

    /// The rows to write for `checks`: the cached (or `loaded`) rows with the
    /// checks added. Changes nothing until [`RollupCache::apply`].
    pub(crate) fn stage(
        &self,
        checks: &[CheckRecord],
        loaded: &HashMap<(Uuid, i64), Rollup>,
    ) -> Vec<RollupRow> {
        let mut staged: HashMap<(Uuid, i64), Rollup> = HashMap::new();
        for check in checks {
            let key = (check.proxy_id, hour_of(check.at));
            let row = staged.entry(key).or_insert_with(|| {
                self.rows
                    .get(&key)
                    .or_else(|| loaded.get(&key))
                    .cloned()
                    .unwrap_or_default()
            });
            row.add(check.result, check.latency);
        }
        let mut rows: Vec<RollupRow> = staged
            .into_iter()
            .map(|((proxy_id, hour), rollup)| RollupRow {
                proxy_id,
                hour,
                rollup,
            })
            .collect();
        // one order for every writer: no two transactions lock rows in
        // opposite orders
        rows.sort_unstable_by_key(|row| (row.proxy_id, row.hour));
        rows
    }

    /// Takes in rows that were committed, and forgets hours older than
    /// [`HOURS_KEPT`] behind the newest.
    pub(crate) fn apply(&mut self, committed: Vec<RollupRow>) {
        for row in committed {
            self.newest_hour = self.newest_hour.max(row.hour);
            self.rows.insert((row.proxy_id, row.hour), row.rollup);
        }
        let keep_from = self.newest_hour.saturating_sub(HOURS_KEPT * HOUR_SECS);
        if self.rows.keys().any(|(_, hour)| *hour < keep_from) {
            self.rows.retain(|(_, hour), _| *hour >= keep_from);
            self.evicted_before = self.evicted_before.max(keep_from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxyhealth_core::Status;

    fn check(proxy_id: Uuid, at: i64) -> CheckRecord {
        CheckRecord {
            proxy_id,
            at: OffsetDateTime::from_unix_timestamp(at).expect("a time"),
            result: Status::Ok,
            latency: None,
        }
    }

    #[test]
    fn an_evicted_hour_is_read_before_it_is_written_again() {
        let id = Uuid::new_v4();
        let mut cache = RollupCache::default();
        assert!(cache.misses(&[check(id, 0)]).is_empty());
        let staged = cache.stage(&[check(id, 0)], &HashMap::new());
        cache.apply(staged);
        let later = cache.stage(&[check(id, 5 * HOUR_SECS)], &HashMap::new());
        cache.apply(later);
        assert_eq!(cache.misses(&[check(id, 10)]), vec![(id, 0)]);
        assert!(cache.misses(&[check(id, 5 * HOUR_SECS + 1)]).is_empty());
    }

    #[test]
    fn staging_adds_to_the_cached_row_without_changing_it() {
        let id = Uuid::new_v4();
        let mut cache = RollupCache::default();
        let first = cache.stage(&[check(id, 10), check(id, 20)], &HashMap::new());
        assert_eq!(first[0].rollup.checks, 2);
        cache.apply(first);
        let second = cache.stage(&[check(id, 30)], &HashMap::new());
        assert_eq!(second[0].rollup.checks, 3);
        let again = cache.stage(&[check(id, 30)], &HashMap::new());
        assert_eq!(again[0].rollup.checks, 3, "staging alone changes nothing");
    }
}

//! The rollup arithmetic every backend's per-vantage history shares: a
//! batch's checks grouped into (proxy, hour) rows, each added to what is
//! already stored, so a row is written whole once per batch.

use std::collections::HashMap;

use proxyhealth_core::{CheckRecord, Rollup};
use uuid::Uuid;

use crate::history::cache::hour_of;

/// The (proxy, hour) rows `checks` touch, sorted (one lock order for every
/// writer) and without repeats.
pub(crate) fn keys_of(checks: &[CheckRecord]) -> Vec<(Uuid, i64)> {
    let mut keys: Vec<(Uuid, i64)> = checks
        .iter()
        .map(|check| (check.proxy_id, hour_of(check.at)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The rows to write for `checks`: each `stored` row (absent: empty) with
/// the checks of its proxy and hour added, sorted by (proxy, hour).
pub(crate) fn staged(
    checks: &[CheckRecord],
    mut stored: HashMap<(Uuid, i64), Rollup>,
) -> Vec<((Uuid, i64), Rollup)> {
    let mut rows: HashMap<(Uuid, i64), Rollup> = HashMap::new();
    for check in checks {
        let key = (check.proxy_id, hour_of(check.at));
        rows.entry(key)
            .or_insert_with(|| stored.remove(&key).unwrap_or_default())
            .add(check.result, check.latency);
    }
    let mut rows: Vec<((Uuid, i64), Rollup)> = rows.into_iter().collect();
    rows.sort_unstable_by_key(|(key, _)| *key);
    rows
}

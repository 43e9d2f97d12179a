//! The proxy list's index over one snapshot: every listed proxy in name
//! order, its status, its name and display name lowercased, and the other
//! sort orders, so a page, a filter, a sort or a name search answers without
//! reading the store, lowercasing a name or sorting the fleet.
//!
//! The index is made once per published snapshot (the first request after a
//! new generation makes it), and what does not depend on the results (the
//! name order and the lowercased names) is carried over from the previous
//! index while no proxy entered, left or was renamed, so the many small
//! snapshots re-checks publish cost a pass over the fleet, not a sort. The
//! other orders are made the first time they are asked for, as `u32`
//! positions (four bytes a proxy each).

use arc_swap::ArcSwapOption;
use proxyhealth_core::{ProxyStatus, Status};
use proxyhealth_engine::Snapshot;
use std::cmp::{Ordering, Reverse};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use time::OffsetDateTime;

/// What a list can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortKey {
    /// The name, case-insensitive (Coder's order).
    Name,
    /// The status, from `ok` to `unreachable` (worst last).
    Status,
    /// The last check's latency (proxies without one last).
    Latency,
    /// When the status last changed.
    Changed,
}

/// How a list is sorted: a key, ascending or descending; ties by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sort {
    /// What is compared.
    pub(crate) key: SortKey,
    /// Largest first (a latency never measured stays last either way).
    pub(crate) descending: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Sort {
            key: SortKey::Name,
            descending: false,
        }
    }
}

impl FromStr for Sort {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let (descending, key) = match value.strip_prefix('-') {
            Some(key) => (true, key),
            None => (false, value),
        };
        let key = match key {
            "name" => SortKey::Name,
            "status" => SortKey::Status,
            "latency" => SortKey::Latency,
            "changed" => SortKey::Changed,
            _ => {
                return Err(format!(
                    "invalid sort {value:?}: expected name, status, latency or changed, \
                     optionally after - for descending"
                ));
            }
        };
        Ok(Sort { key, descending })
    }
}

/// Compares two optional values with the missing ones last in either
/// direction (a proxy never measured is no fastest and no slowest).
pub(crate) fn compare_missing_last<T: Ord>(
    a: Option<T>,
    b: Option<T>,
    descending: bool,
) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) if descending => b.cmp(&a),
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The orders other than by name, each made when first asked for: by status,
/// latency and change time, ascending and descending.
const ORDERS: usize = 6;

/// The listed proxies of one snapshot, indexed for the list's queries.
pub(crate) struct FleetIndex {
    generation: u64,
    /// Every non-deleted proxy's result, by name (case-insensitively, then
    /// exactly): a row's position is its rank by name.
    rows: Vec<Arc<ProxyStatus>>,
    /// Each row's status, beside the others so a filter reads one byte a row.
    statuses: Vec<Status>,
    /// The names lowercased (shared with later indexes while nobody is
    /// added, removed or renamed).
    names: Arc<Names>,
    orders: [OnceLock<Box<[u32]>>; ORDERS],
}

/// The lowercased name and display name of each row, one after the other in
/// one string, with where each row's pair ends.
struct Names {
    text: String,
    /// Where each row's lowercased name ends in `text`, then its display name.
    ends: Vec<(u32, u32)>,
}

impl Names {
    /// The names of `rows` (in their order), or `None` past `u32` offsets.
    fn of(rows: &[Arc<ProxyStatus>]) -> Option<Names> {
        let mut text = String::new();
        let mut ends = Vec::with_capacity(rows.len());
        for row in rows {
            let proxy = &row.proxy;
            text.push_str(&proxy.name.to_lowercase());
            let name_end = u32::try_from(text.len()).ok()?;
            text.push_str(&proxy.display_name.to_lowercase());
            let display_end = u32::try_from(text.len()).ok()?;
            ends.push((name_end, display_end));
        }
        Some(Names { text, ends })
    }

    /// Whether row `index`'s lowercased name or display name holds `needle`.
    fn matches(&self, index: usize, needle: &str) -> bool {
        let start = index
            .checked_sub(1)
            .and_then(|before| self.ends.get(before))
            .map_or(0, |&(_, display_end)| display_end as usize);
        let Some(&(name_end, display_end)) = self.ends.get(index) else {
            return false;
        };
        let name = self.text.get(start..name_end as usize).unwrap_or_default();
        let display = self
            .text
            .get(name_end as usize..display_end as usize)
            .unwrap_or_default();
        name.contains(needle) || display.contains(needle)
    }
}

/// Whether a proxy of the snapshot is listed (deleted ones wait there for
/// the next sweep to drop them).
fn listed(status: &ProxyStatus) -> bool {
    !status.proxy.deleted
}

impl FleetIndex {
    /// The index of `snapshot`, reusing `previous`'s names when the snapshot
    /// lists the same proxies by the same names; `None` when the fleet is too
    /// large for `u32` positions.
    pub(crate) fn build(snapshot: &Snapshot, previous: Option<&FleetIndex>) -> Option<FleetIndex> {
        let statuses = snapshot.statuses();
        let count = statuses.values().filter(|status| listed(status)).count();
        u32::try_from(count).ok()?;
        let reused = previous.and_then(|previous| {
            if previous.rows.len() != count {
                return None;
            }
            previous
                .rows
                .iter()
                .map(|before| {
                    statuses
                        .get(&before.proxy.id)
                        .filter(|status| {
                            listed(status)
                                && status.proxy.name == before.proxy.name
                                && status.proxy.display_name == before.proxy.display_name
                        })
                        .cloned()
                })
                .collect::<Option<Vec<_>>>()
                .map(|rows| (rows, Arc::clone(&previous.names)))
        });
        let (rows, names) = match reused {
            Some(reused) => reused,
            None => {
                let mut rows: Vec<Arc<ProxyStatus>> = statuses
                    .values()
                    .filter(|status| listed(status))
                    .cloned()
                    .collect();
                // The order of `order::by_name`, each name lowercased once.
                rows.sort_by_cached_key(|row| {
                    (row.proxy.name.to_lowercase(), row.proxy.name.clone())
                });
                let names = Arc::new(Names::of(&rows)?);
                (rows, names)
            }
        };
        Some(FleetIndex {
            generation: snapshot.generation(),
            statuses: rows.iter().map(|row| row.status).collect(),
            rows,
            names,
            orders: Default::default(),
        })
    }

    /// How many proxies are listed.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Row `index`'s result (its proxy as of its check, and its status).
    pub(crate) fn row(&self, index: u32) -> Option<&Arc<ProxyStatus>> {
        self.rows.get(index as usize)
    }

    /// Whether row `index` is in one of `statuses` (any when empty) and its
    /// name or display name holds `needle` (already lowercased).
    pub(crate) fn matches(&self, index: u32, statuses: &[Status], needle: Option<&str>) -> bool {
        let index = index as usize;
        (statuses.is_empty()
            || self
                .statuses
                .get(index)
                .is_some_and(|status| statuses.contains(status)))
            && needle.is_none_or(|needle| self.names.matches(index, needle))
    }

    /// The rows in `sort`'s order, as positions.
    pub(crate) fn ordered(&self, sort: Sort) -> Box<dyn Iterator<Item = u32> + '_> {
        let count = self.rows.len() as u32;
        let slot = match (sort.key, sort.descending) {
            (SortKey::Name, false) => return Box::new(0..count),
            (SortKey::Name, true) => return Box::new((0..count).rev()),
            (SortKey::Status, false) => 0,
            (SortKey::Status, true) => 1,
            (SortKey::Latency, false) => 2,
            (SortKey::Latency, true) => 3,
            (SortKey::Changed, false) => 4,
            (SortKey::Changed, true) => 5,
        };
        let order = self.orders[slot].get_or_init(|| self.make_order(sort));
        Box::new(order.iter().copied())
    }

    /// The positions of the rows sorted by `sort`'s key, ties by name (a
    /// stable sort of the rows, which are in name order).
    fn make_order(&self, sort: Sort) -> Box<[u32]> {
        let mut order: Vec<u32> = (0..self.rows.len() as u32).collect();
        let descending = sort.descending;
        match sort.key {
            SortKey::Name => {}
            SortKey::Status => {
                let severity_of =
                    |i: u32| self.statuses.get(i as usize).map_or(0, |s| s.severity());
                if descending {
                    order.sort_by_key(|&i| Reverse(severity_of(i)));
                } else {
                    order.sort_by_key(|&i| severity_of(i));
                }
            }
            SortKey::Latency => {
                let latency = |i: u32| self.rows.get(i as usize).and_then(|row| row.latency);
                order.sort_by(|&a, &b| compare_missing_last(latency(a), latency(b), descending));
            }
            SortKey::Changed => {
                let changed = |i: u32| -> Option<OffsetDateTime> {
                    self.rows.get(i as usize).map(|row| row.status_changed_at)
                };
                order.sort_by(|&a, &b| {
                    let by_key = changed(a).cmp(&changed(b));
                    if descending { by_key.reverse() } else { by_key }
                });
            }
        }
        order.into_boxed_slice()
    }
}

/// The index of the newest snapshot asked about, kept until a newer one is.
#[derive(Default)]
pub(crate) struct FleetIndexCache {
    current: ArcSwapOption<FleetIndex>,
}

impl FleetIndexCache {
    /// The index of `snapshot`, made now only if it was not yet; `None`
    /// when the fleet is too large for `u32` positions.
    pub(crate) fn index(&self, snapshot: &Snapshot) -> Option<Arc<FleetIndex>> {
        let previous = self.current.load_full();
        if let Some(index) = &previous
            && index.generation == snapshot.generation()
        {
            return Some(Arc::clone(index));
        }
        let index = Arc::new(FleetIndex::build(snapshot, previous.as_deref())?);
        // An older snapshot read by a slow request never replaces a newer one.
        self.current.rcu(|current| match current {
            Some(current) if current.generation > index.generation => Some(Arc::clone(current)),
            _ => Some(Arc::clone(&index)),
        });
        Some(index)
    }
}

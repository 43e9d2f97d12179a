//! The proxy list as a large fleet needs it: filtered by status and name,
//! sorted, and one page at a time. Without any of its parameters the list is
//! Coder's, whole and ordered by name, so Coder's clients see no change.

use crate::error::ApiError;
use crate::fleet_index::{FleetIndex, Sort, SortKey, compare_missing_last};
use crate::paging;
use proxyhealth_core::{Proxy, ProxyStatus, Status};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::time::Duration;

/// Most proxies one page holds.
pub(crate) const MAX_LIMIT: usize = 1000;
/// The page size when only other parameters are given.
pub(crate) const DEFAULT_LIMIT: usize = 100;

/// The parameters of a paged list; see docs/api.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListQuery {
    /// Only proxies in one of these statuses (all when empty).
    statuses: Vec<Status>,
    /// Only proxies whose name or display name holds this, in any case.
    name: Option<String>,
    sort: Sort,
    offset: usize,
    limit: usize,
}

impl ListQuery {
    /// The query the parameters ask for; `None` when none of them is given
    /// (Coder's whole list). Unknown parameters are ignored, as Coder does.
    pub(crate) fn from_params(params: &HashMap<String, String>) -> Result<Option<Self>, ApiError> {
        const NAMES: [&str; 5] = ["status", "name", "sort", "offset", "limit"];
        if !NAMES.iter().any(|name| params.contains_key(*name)) {
            return Ok(None);
        }
        let statuses = match params.get("status") {
            None => Vec::new(),
            Some(value) => value
                .split(',')
                .map(|word| {
                    word.trim().parse::<Status>().map_err(|_| {
                        ApiError::invalid_param(
                            "status",
                            format!(
                                "invalid status {word:?}: expected ok, unhealthy, unreachable, \
                                 unregistered or unknown, several separated by commas"
                            ),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let name = params
            .get("name")
            .map(|name| name.trim().to_lowercase())
            .filter(|name| !name.is_empty());
        let sort = match params.get("sort") {
            None => Sort::default(),
            Some(value) => value
                .parse()
                .map_err(|detail: String| ApiError::invalid_param("sort", detail))?,
        };
        let offset = paging::offset(params.get("offset").map(String::as_str))?;
        let limit = paging::limit(
            params.get("limit").map(String::as_str),
            DEFAULT_LIMIT,
            MAX_LIMIT,
        )?;
        Ok(Some(ListQuery {
            statuses,
            name,
            sort,
            offset,
            limit,
        }))
    }

    /// The positions in `index` of the page the query asks for, and how
    /// many matched in all: a walk of one precomputed order, reading a
    /// status byte and the lowercased names of each row only when a filter
    /// asks for them, and nothing past the page when none does.
    pub(crate) fn page_of(&self, index: &FleetIndex) -> (Vec<u32>, usize) {
        let ordered = index.ordered(self.sort);
        if self.statuses.is_empty() && self.name.is_none() {
            let page = ordered.skip(self.offset).take(self.limit).collect();
            return (page, index.len());
        }
        let mut total = 0;
        let mut page = Vec::new();
        for row in ordered {
            if index.matches(row, &self.statuses, self.name.as_deref()) {
                if total >= self.offset && page.len() < self.limit {
                    page.push(row);
                }
                total += 1;
            }
        }
        (page, total)
    }

    /// The page of `proxies` (each with its status, if any) the query asks
    /// for, and how many matched in all, when no index of them is at hand
    /// (the store's proxies before the first sweep). Only the page is
    /// returned, so a caller builds answers for one page, not for the fleet.
    pub(crate) fn page<'a>(
        &self,
        proxies: Vec<(&'a Proxy, Option<&'a ProxyStatus>)>,
    ) -> (Vec<(&'a Proxy, Option<&'a ProxyStatus>)>, usize) {
        let matching: Vec<_> = proxies
            .into_iter()
            .filter(|(proxy, status)| {
                (self.statuses.is_empty() || self.statuses.contains(&status_of(*status)))
                    && self.name.as_deref().is_none_or(|name| {
                        proxy.name.to_lowercase().contains(name)
                            || proxy.display_name.to_lowercase().contains(name)
                    })
            })
            .collect();
        let total = matching.len();
        // Each name lowercased once, not at every comparison (a large fleet
        // sorts in O(n log n) comparisons).
        let mut keyed: Vec<_> = matching
            .into_iter()
            .map(|item| (item.0.name.to_lowercase(), item))
            .collect();
        keyed.sort_by(|(a_name, a), (b_name, b)| self.compare(a, b, a_name, b_name));
        let page = keyed
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .map(|(_, item)| item)
            .collect();
        (page, total)
    }

    /// Where the page starts.
    pub(crate) fn offset(&self) -> usize {
        self.offset
    }

    /// The most proxies the page holds.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// The order of two proxies, given their names lowercased.
    fn compare(
        &self,
        (a, a_status): &(&Proxy, Option<&ProxyStatus>),
        (b, b_status): &(&Proxy, Option<&ProxyStatus>),
        a_name: &str,
        b_name: &str,
    ) -> Ordering {
        let by_name = || a_name.cmp(b_name).then_with(|| a.name.cmp(&b.name));
        let by_key = match self.sort.key {
            SortKey::Name => by_name(),
            SortKey::Status => status_of(*a_status)
                .severity()
                .cmp(&status_of(*b_status).severity()),
            // the direction is applied inside: never measured stays last
            SortKey::Latency => compare_missing_last(
                latency_of(*a_status),
                latency_of(*b_status),
                self.sort.descending,
            ),
            SortKey::Changed => a_status
                .map(|s| s.status_changed_at)
                .cmp(&b_status.map(|s| s.status_changed_at)),
        };
        let by_key = if self.sort.descending && self.sort.key != SortKey::Latency {
            by_key.reverse()
        } else {
            by_key
        };
        by_key.then_with(by_name)
    }
}

/// The status a proxy is listed with (`unknown` before its first check).
fn status_of(status: Option<&ProxyStatus>) -> Status {
    status.map_or(Status::Unknown, |status| status.status)
}

fn latency_of(status: Option<&ProxyStatus>) -> Option<Duration> {
    status.and_then(|status| status.latency)
}

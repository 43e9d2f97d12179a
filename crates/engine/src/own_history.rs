//! The own vantage's history: what the service's own checks add to its
//! vantage's history besides the proxy's overall one (which is the quorum's
//! verdict). Its checks go into that vantage's hourly rollups, and each
//! change of its damped status (before the quorum) is a transition of its
//! own, as for an agents' vantage, so the own vantage (and, in a cluster,
//! each replica vantage) can be read back per place.

use crate::snapshot::Snapshot;
use crate::vantages::{own_reading, own_status};
use proxyhealth_core::{CheckRecord, ProxyStatus, VantageHistory, VantageName, VantageTransition};
use std::sync::Arc;

/// The change of the own vantage's status of a proxy from `previous` to
/// `next`, if its status changed (or `next` is its first).
pub fn own_transition(
    own: &VantageName,
    previous: Option<&ProxyStatus>,
    next: &ProxyStatus,
) -> Option<VantageTransition> {
    let before = previous.map(own_status);
    if before == Some(own_status(next)) {
        return None;
    }
    let after = own_reading(next, own);
    Some(VantageTransition {
        proxy_id: next.proxy.id,
        vantage: own.clone(),
        at: after.checked_at,
        from: before,
        to: after.status,
        report: after.report,
    })
}

/// What a merge from `current` to `next` with the own `checks` adds to the
/// own vantage's history. Only statuses the merge replaced are compared
/// (the others are the same `Arc`; a merge that names the proxies it
/// replaced is not searched for them), so the cost follows the merge.
pub(crate) fn own_history(
    own: &VantageName,
    current: &Snapshot,
    next: &Snapshot,
    checks: Vec<CheckRecord>,
) -> VantageHistory {
    let transitions = next
        .replaced_ids()
        .filter_map(|id| {
            let status = next.get(id)?;
            let previous = current.get(id);
            if previous.is_some_and(|previous| Arc::ptr_eq(previous, status)) {
                return None;
            }
            own_transition(own, previous.map(Arc::as_ref), status)
        })
        .collect();
    VantageHistory {
        checks,
        transitions,
    }
}

//! Partial outages kept by a cluster: every replica offers the changes of
//! the failing vantages its own judgement makes (a view read, another
//! vantage's readings, the fleet judged again) to the store's recorder, which
//! decides from the open outages it keeps, one writer at a time: the first
//! replica to offer a start opens the outage (and writes its notification,
//! with `--notify-partial`), the others find it open; the first to offer its
//! end closes it, the others find none. So each outage is kept, and notified,
//! once per cluster.

use crate::shared::Shared;
use proxyhealth_core::PartialChange;
use proxyhealth_engine::Snapshot;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// Offers the partial outages' changes between `before` and the engine's
/// current snapshot for the proxies `ids` (those a publish may have changed).
pub(crate) async fn offer(shared: &Shared, before: &Snapshot, ids: &[Uuid]) {
    let Some(recorder) = &shared.partials else {
        return;
    };
    let after = shared.engine.snapshot_arc();
    let at = OffsetDateTime::now_utc();
    let mut changes: Vec<PartialChange> = Vec::new();
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    for id in ids {
        if !seen.insert(*id) {
            continue;
        }
        let Some(next) = after.get(id) else {
            continue;
        };
        let previous = before.get(id);
        if previous.is_some_and(|previous| Arc::ptr_eq(previous, next)) {
            continue;
        }
        if let Some(change) = PartialChange::between(previous.map(Arc::as_ref), next, at) {
            changes.push(change);
        }
    }
    if changes.is_empty() {
        return;
    }
    if let Err(err) = recorder.record_partial(changes).await {
        tracing::warn!(error = %err, "keeping partial outages failed; the statuses are served anyway");
    }
}

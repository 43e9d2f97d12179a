//! The one way a new snapshot is published, whatever made it (a sweep, a
//! re-check, a deletion, a shared view): merge into the current snapshot,
//! write the history the merge makes before anything shows it, merge again
//! if a deletion published meanwhile, then store it, counting and logging
//! each status change once.

use super::Engine;

use crate::own_history::own_history;
use crate::snapshot::{Change, Snapshot};
use proxyhealth_core::{CheckRecord, PartialChange, Status};
use std::sync::Arc;
use time::OffsetDateTime;

impl Engine {
    /// Merges `input` into the current snapshot with `merge`, records `checks`
    /// and the changes of the merge in the history (when the engine has one)
    /// before publishing, and publishes; then records what they add to the
    /// own vantage's history (when the engine keeps it). `None` when `merge`
    /// found nothing to change.
    ///
    /// While history is written (an await) another merge may not start, so
    /// merges stay in order; only a deletion ([`Engine::forget`]) can publish
    /// meanwhile, and then `input` is merged again into what it published.
    pub(super) async fn merge_and_publish<I, M>(
        &self,
        input: I,
        checks: impl FnOnce(&I) -> Vec<CheckRecord>,
        merge: M,
    ) -> Option<Arc<Snapshot>>
    where
        I: Clone,
        M: Fn(&Snapshot, I) -> Option<(Snapshot, Vec<Change>)>,
    {
        let Some(history) = &self.inner.history else {
            let _guard = self.inner.publish.lock();
            let current = self.inner.snapshot.load();
            let (next, changes) = merge(&current, input)?;
            self.note_changes(&changes);
            return Some(self.publish(next));
        };
        let _recording = self.inner.recording.lock().await;
        let current = self.snapshot_arc();
        let checks = checks(&input);
        let (next, changes) = merge(&current, input.clone())?;
        let own = self.inner.own_history.as_ref().map(|recorder| {
            let vantage = &self.inner.options.vantage;
            let seen = own_history(vantage, &current, &next, checks.clone());
            (recorder, vantage, seen)
        });
        history.record(checks, &changes).await;
        if let Some(partial) = &self.inner.partial {
            let changes = partial_changes(&current, &next);
            if !changes.is_empty()
                && let Err(err) = partial.record_partial(changes).await
            {
                tracing::warn!(error = %err, "keeping partial outages failed; the statuses are published anyway");
            }
        }
        let published = {
            let _guard = self.inner.publish.lock();
            let latest = self.inner.snapshot.load();
            let next = if latest.generation() == current.generation() {
                Some(next)
            } else {
                merge(&latest, input).map(|(next, _)| next)
            };
            self.note_changes(&changes);
            next.map(|next| self.publish(next))
        };
        // after publishing, so the snapshot does not wait for it, and before
        // the next merge (the recording lock is held), so writes stay in order
        if let Some((recorder, vantage, seen)) = own
            && !seen.is_empty()
            && let Err(err) = recorder.record_own(vantage, seen).await
        {
            tracing::warn!(error = %err, "writing the own vantage's history failed");
        }
        published
    }

    /// Merges `input` into the current snapshot with `merge` and publishes
    /// it at once when the merge writes no history: no status changed, no
    /// partial outage began, changed or ended, and the own vantage's status
    /// of no proxy changed (other vantages' readings that change no
    /// verdict). Such a merge need not wait while a sweep's history is
    /// written: a merge in progress meanwhile merges its input again into
    /// what this published, as after a deletion. `false` when the merge
    /// writes history (then nothing was published: the caller goes through
    /// [`Engine::merge_and_publish`]); `true` when it was published or
    /// changed nothing.
    pub(super) fn publish_if_quiet<I, M>(&self, input: &I, merge: M) -> bool
    where
        I: Clone,
        M: Fn(&Snapshot, I) -> Option<(Snapshot, Vec<Change>)>,
    {
        let _guard = self.inner.publish.lock();
        let current = self.inner.snapshot.load();
        let Some((next, changes)) = merge(&current, input.clone()) else {
            return true;
        };
        if !changes.is_empty() {
            return false;
        }
        if self.inner.partial.is_some() && !partial_changes(&current, &next).is_empty() {
            return false;
        }
        if self.inner.own_history.is_some()
            && !own_history(&self.inner.options.vantage, &current, &next, Vec::new()).is_empty()
        {
            return false;
        }
        self.publish(next);
        true
    }

    /// Takes a proxy out of the snapshot at once (it was deleted).
    pub fn forget(&self, id: &uuid::Uuid) {
        let _guard = self.inner.publish.lock();
        if let Some(next) = self.inner.snapshot.load().without(id) {
            self.publish(next);
        }
    }

    /// Logs each status change a merge made and counts it in the metrics:
    /// every path that publishes changes (sweep, re-check, a cluster's view)
    /// goes through here once per change.
    pub(super) fn note_changes(&self, changes: &[Change]) {
        log_changes(changes);
        self.inner.metrics.changes.count(changes);
    }

    /// Stores `next` (the caller holds the publish lock and has counted its
    /// changes) and trims the change counts to its proxies.
    pub(super) fn publish(&self, next: Snapshot) -> Arc<Snapshot> {
        self.inner.metrics.changes.retain(&next);
        let next = Arc::new(next);
        let generation = next.generation();
        self.inner.snapshot.store(Arc::clone(&next));
        self.inner.generations.send_replace(generation);
        next
    }
}

/// The partial outages' starts, changes and ends between two snapshots:
/// only statuses the merge replaced are compared (the others are the same
/// `Arc`; a merge that names the proxies it replaced is not searched for
/// them), so the cost follows the merge, not the fleet.
fn partial_changes(current: &Snapshot, next: &Snapshot) -> Vec<PartialChange> {
    let at = OffsetDateTime::now_utc();
    next.replaced_ids()
        .filter_map(|id| {
            let status = next.get(id)?;
            let previous = current.get(id);
            if previous.is_some_and(|previous| Arc::ptr_eq(previous, status)) {
                return None;
            }
            PartialChange::between(previous.map(Arc::as_ref), status, at)
        })
        .collect()
}

/// One log line per status change: which proxy, from, to, and why.
fn log_changes(changes: &[Change]) {
    for change in changes {
        let status = &change.status;
        let why = status.report.headline();
        let from = change.from.map_or("none", Status::as_str);
        if status.status == Status::Ok || status.status == Status::Unregistered {
            tracing::info!(proxy = %status.proxy.name, proxy_id = %status.proxy.id, from, to = %status.status, "proxy status changed");
        } else {
            tracing::warn!(proxy = %status.proxy.name, proxy_id = %status.proxy.id, from, to = %status.status, why, "proxy status changed");
        }
    }
}

//! What a cluster replica does instead of sweeping: it publishes the shared
//! view it reads from the cluster's store, and says when that read failed.

use super::{Engine, SweepState};
use crate::snapshot::{SweepInfo, ViewRead};
use proxyhealth_core::ProxyStatus;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::time::Instant;

impl Engine {
    /// Publishes statuses read from a shared view (a cluster's store), merged
    /// as [`ViewRead`] says: new results, each unless the snapshot holds a
    /// newer one (a higher [`ProxyStatus::check_seq`], which a cluster sets
    /// to the result's generation), or the whole set. Status changes are
    /// logged and counted. Also records a successful read of the view (see
    /// [`Engine::view_age`]) and a successful "sweep" for `/healthz`.
    pub fn publish_view(&self, statuses: Vec<ProxyStatus>, read: ViewRead, info: SweepInfo) {
        if read != ViewRead::Since || !statuses.is_empty() {
            let _guard = self.inner.publish.lock();
            let current = self.inner.snapshot.load();
            let (next, changes) = current.with_view(statuses, read, info);
            self.note_changes(&changes);
            self.publish(next);
        }
        *self.inner.view_read_at.lock() = Some(Instant::now());
        self.inner.state.send_replace(Arc::new(SweepState {
            last_error: None,
            consecutive_failures: 0,
            last_attempt_at: Some(info.started_at),
        }));
    }

    /// Records that reading the shared view failed: the snapshot stays as it
    /// was (the last view keeps being served) and the error is reported as a
    /// failed sweep would be (`/healthz`, the summary, and
    /// `proxyhealth_sweeps_total{outcome="failed"}`: a replica's sweep is its
    /// read of the view).
    pub fn view_failed(&self, error: String) {
        self.inner
            .metrics
            .sweeps
            .with_label_values(&["failed"])
            .inc();
        let previous = self.sweep_state();
        self.inner.state.send_replace(Arc::new(SweepState {
            last_error: Some(error),
            consecutive_failures: previous.consecutive_failures.saturating_add(1),
            last_attempt_at: Some(OffsetDateTime::now_utc()),
        }));
    }

    /// How long ago a shared view was last read successfully; `None` when the
    /// engine serves no shared view (it runs its own sweeps) or none was read
    /// yet. `/healthz` calls the view stale past
    /// [`EngineOptions::stale_after`](crate::EngineOptions::stale_after).
    pub fn view_age(&self) -> Option<Duration> {
        self.inner
            .view_read_at
            .lock()
            .map(|read_at| read_at.elapsed())
    }
}

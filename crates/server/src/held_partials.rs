//! [`HeldPartials`]: partial outages of a proxy in a maintenance window held
//! back like its status changes. A change of a partial outage (its start,
//! its vantages, its end) of a proxy in a window is neither kept nor
//! notified while the window lasts; once the window is over, the newest
//! change held is offered then, once, and the store, which decides from the
//! outages it keeps open, keeps and notifies only what differs from before
//! the window: an outage that started and ended inside the window leaves
//! nothing, one still going when it ends is notified then (its start), and
//! one that ended inside it is notified as over then.
//!
//! Held changes live in this process, as [`crate::maintenance::MaintenanceRecorder`]'s
//! do: a restart inside a window forgets them, and the engine's first
//! judgement after it offers each proxy's partial outage anew. In a cluster
//! every replica holds the changes its own judgement makes and offers them
//! when the window is over; the store keeps (and notifies) each once.

use crate::held_changes::{HeldChanges, Sorted};
use crate::maintenance::Maintenance;
use proxyhealth_core::{PartialChange, PartialRecorder, RecordError};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The longest time from a window's end to the release of what it held.
const RELEASE_PERIOD: Duration = Duration::from_secs(1);

/// The store's partial outages, with the changes of proxies in a maintenance
/// window held back until it is over.
pub(crate) struct HeldPartials {
    inner: Arc<dyn PartialRecorder>,
    maintenance: Maintenance,
    held: HeldChanges<PartialChange>,
}

impl HeldPartials {
    /// `inner`, with the changes of proxies in `maintenance`'s windows held.
    pub(crate) fn new(inner: Arc<dyn PartialRecorder>, maintenance: Maintenance) -> Self {
        HeldPartials {
            inner,
            maintenance,
            held: HeldChanges::default(),
        }
    }

    /// Offers the changes held of proxies whose window is over (nothing
    /// else may change them: a proxy whose outage goes on unchanged makes no
    /// new change to carry them).
    pub(crate) async fn release(&self) -> Result<(), RecordError> {
        self.record_partial(Vec::new()).await
    }

    /// Releases what is over every second, or every `interval` when that
    /// is shorter, until `shutdown` (a look at the windows held, and a
    /// store write only when a held change is over); a failure is logged
    /// and the changes stay held for the next try.
    pub(crate) async fn run(self: Arc<Self>, interval: Duration, shutdown: CancellationToken) {
        let every = interval.min(RELEASE_PERIOD);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            if let Err(err) = self.release().await {
                tracing::warn!(error = %err, "keeping the partial outages held in a maintenance window failed");
            }
        }
    }
}

#[async_trait::async_trait]
impl PartialRecorder for HeldPartials {
    async fn record_partial(&self, changes: Vec<PartialChange>) -> Result<(), RecordError> {
        let book = self.maintenance.book();
        let now = self.maintenance.now();
        let Sorted {
            mut released,
            passed,
        } = self.held.sort(changes, |proxy| book.covers(proxy), now);
        if released.is_empty() && passed.is_empty() {
            return Ok(());
        }
        let kept = released.clone();
        released.extend(passed);
        let outcome = self.inner.record_partial(released).await;
        if outcome.is_err() {
            // held again, unless a newer change came meanwhile
            self.held.hold_again(kept);
        }
        outcome
    }
}

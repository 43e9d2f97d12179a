//! [`JudgedChanges`]: the history seam of a replica's engine. A replica's
//! checks and the changes they make are recorded by its fenced result
//! writes; what reaches the engine's own recording is only what its
//! judgement changes between checks: another vantage's reading arrived (an
//! agent's batch, a replica vantage's result read from the view, an agent's
//! reading another replica kept) or went stale, and the quorum's verdict
//! moved. Those changes are offered to the cluster's journal at once, before
//! the snapshot that shows them is published; every replica that sees the
//! reading offers the same change, and the journal, which drops a change to
//! the status already recorded, records and notifies it once.

use proxyhealth_core::{HistoryBatch, HistoryRecorder, RecordError, Transition};
use proxyhealth_store::Claims;
use std::sync::Arc;

/// Offers the overall changes of a replica's own judgement to the cluster
/// ([`Claims::record_judged`]); checks are left to the fenced writes.
pub(crate) struct JudgedChanges {
    claims: Arc<dyn Claims>,
}

impl JudgedChanges {
    /// Changes recorded through `claims`.
    pub(crate) fn new(claims: Arc<dyn Claims>) -> Self {
        JudgedChanges { claims }
    }
}

#[async_trait::async_trait]
impl HistoryRecorder for JudgedChanges {
    async fn record(&self, batch: HistoryBatch) -> Result<Vec<Transition>, RecordError> {
        // a replica's engine never sweeps or re-checks on its own: its checks
        // are its fenced writes' to record, so only the changes count here
        if batch.transitions.is_empty() {
            return Ok(Vec::new());
        }
        self.claims
            .record_judged(batch.transitions)
            .await
            .map_err(|err| RecordError::new(format!("recording a judged change: {err}")))
    }
}

//! Recording history from the engine: the batch of a sweep or a
//! re-check (its checks and the transitions its merge made) is handed to
//! the [`HistoryRecorder`] set on the builder, before the snapshot that
//! shows those transitions is published.
//!
//! A failed write is logged and counted
//! (`proxyhealth_history_writes_total{outcome="failed"}`) and the snapshot is
//! published anyway: a health checker keeps showing the present when its
//! history cannot be written (say a full disk), and a transition shown then
//! may be missing from the history.

use crate::error::EngineError;
use crate::snapshot::Change;
use crate::sweep::CheckResult;
use prometheus::{IntCounterVec, Opts, Registry};
use proxyhealth_core::{CheckRecord, HistoryBatch, HistoryRecorder, Transition};
use std::sync::Arc;

/// The recorder and its counter.
pub(crate) struct HistoryWriter {
    recorder: Arc<dyn HistoryRecorder>,
    writes: IntCounterVec,
}

impl HistoryWriter {
    /// A writer over `recorder`, its counter registered on `registry`.
    pub(crate) fn new(
        recorder: Arc<dyn HistoryRecorder>,
        registry: &Registry,
    ) -> Result<Self, EngineError> {
        let fail = |err: prometheus::Error| EngineError::Metrics(err.to_string());
        let writes = IntCounterVec::new(
            Opts::new(
                "proxyhealth_history_writes_total",
                "Batches of history (a sweep's or a re-check's checks and transitions) \
                 written, by outcome (ok or failed).",
            ),
            &["outcome"],
        )
        .map_err(fail)?;
        registry.register(Box::new(writes.clone())).map_err(fail)?;
        Ok(HistoryWriter { recorder, writes })
    }

    /// Writes the checks of `results` and the transitions of `changes` (one
    /// transaction); a failure is logged and counted, never returned.
    pub(crate) async fn record(&self, checks: Vec<CheckRecord>, changes: &[Change]) {
        let batch = HistoryBatch {
            checks,
            // the rule a replica's fenced write decides by, too
            transitions: changes
                .iter()
                .filter_map(|change| Transition::between(change.from, &change.status, None))
                .collect(),
        };
        if batch.is_empty() {
            return;
        }
        match self.recorder.record(batch).await {
            Ok(_) => self.writes.with_label_values(&["ok"]).inc(),
            Err(err) => {
                self.writes.with_label_values(&["failed"]).inc();
                tracing::warn!(error = %err, "writing history failed; the statuses are published anyway");
            }
        }
    }
}

/// The checks of a batch of results, as the rollups count them.
pub(crate) fn checks_of(results: &[CheckResult]) -> Vec<CheckRecord> {
    results
        .iter()
        .map(|result| CheckRecord {
            proxy_id: result.proxy.id,
            at: result.checked_at,
            result: result.verdict.status,
            latency: result.latency,
        })
        .collect()
}

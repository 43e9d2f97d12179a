//! Pruning history by age, in the background: rollups of hours older than
//! the retention, and transitions older than it that a newer transition of
//! the same proxy follows (see [`HistoryStore::prune`]).
//!
//! Every [`RetentionSettings::period`] it deletes in chunks of
//! [`RetentionSettings::chunk`] rows, each chunk its own short transaction,
//! so the writes of checks wait at most one chunk (SQLite has one writer).
//! A failed pass is logged and tried again at the next period: pruning
//! never stops checks. With several replicas each prunes; the deletes are
//! idempotent. Other history kept beside this one (each vantage's own, see
//! [`crate::vantages::pruning`]) is pruned by the same rule in the same pass.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::{HistoryStore, Pruned};

/// History kept beside the proxies' (each vantage's own), pruned by the same
/// retention in the same pass.
#[async_trait::async_trait]
pub trait OtherHistory: Send + Sync {
    /// Deletes at most `limit` rows of each of its tables older than
    /// `before`; returns how many went.
    async fn prune_history(
        &self,
        before: OffsetDateTime,
        limit: u32,
    ) -> Result<u64, crate::StoreError>;
}

/// How long history is kept by default: 90 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

/// How history is pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Rows older than this are deleted (default [`DEFAULT_RETENTION`]).
    pub keep: Duration,
    /// Time between passes (default 10 minutes; the first runs at start).
    pub period: Duration,
    /// Rows of each table deleted per transaction (default 5,000).
    pub chunk: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            keep: DEFAULT_RETENTION,
            period: Duration::from_secs(600),
            chunk: 5000,
        }
    }
}

/// One pass: deletes everything older than `keep` before `now`, chunk by chunk.
pub async fn prune_once(
    history: &dyn HistoryStore,
    settings: RetentionSettings,
    now: OffsetDateTime,
) -> Result<Pruned, crate::StoreError> {
    let before = now - settings.keep;
    let mut total = Pruned::default();
    loop {
        let pruned = history.prune(before, settings.chunk.max(1)).await?;
        total.transitions += pruned.transitions;
        total.rollups += pruned.rollups;
        let chunk = u64::from(settings.chunk.max(1));
        if pruned.transitions < chunk && pruned.rollups < chunk {
            return Ok(total);
        }
        // let the checks' writes in between chunks
        tokio::task::yield_now().await;
    }
}

/// One pass over other history: deletes everything older than `keep` before
/// `now`, chunk by chunk; returns how many rows went.
pub async fn prune_other_once(
    vantages: &dyn OtherHistory,
    settings: RetentionSettings,
    now: OffsetDateTime,
) -> Result<u64, crate::StoreError> {
    let before = now - settings.keep;
    // two tables per call: fewer than a chunk from both means done
    crate::chunked::prune_in_chunks(settings.chunk, |limit| {
        vantages.prune_history(before, limit)
    })
    .await
}

/// Prunes every period until `stop` finishes (`other` history too, when
/// there is some).
pub async fn run(
    history: Arc<dyn HistoryStore>,
    vantages: Option<Arc<dyn OtherHistory>>,
    settings: RetentionSettings,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut ticker = tokio::time::interval(settings.period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = ticker.tick() => {}
        }
        let pass = tokio::select! {
            () = &mut stop => return,
            pass = prune_once(history.as_ref(), settings, OffsetDateTime::now_utc()) => pass,
        };
        match pass {
            Ok(pruned) if pruned.transitions + pruned.rollups > 0 => tracing::info!(
                transitions = pruned.transitions,
                rollups = pruned.rollups,
                "pruned history older than the retention"
            ),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "pruning history failed; trying again later"),
        }
        let Some(vantages) = &vantages else { continue };
        let pass = tokio::select! {
            () = &mut stop => return,
            pass = prune_other_once(vantages.as_ref(), settings, OffsetDateTime::now_utc()) => pass,
        };
        match pass {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "pruned vantages' history older than the retention"),
            Err(err) => {
                tracing::warn!(error = %err, "pruning the vantages' history failed; trying again later")
            }
        }
    }
}

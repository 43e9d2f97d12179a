//! Pruning the audit log by age, in the background, as the history is
//! pruned: every period, entries older than the retention, in chunks, each
//! its own short transaction. A failed pass is logged and tried again at the
//! next period.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::AuditLog;

/// How long audit entries are kept by default: 365 days.
pub const DEFAULT_AUDIT_RETENTION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Entries deleted per transaction.
const CHUNK: u32 = 5000;

/// One pass: deletes every entry older than `keep` before `now`.
pub async fn prune_once(
    log: &dyn AuditLog,
    keep: Duration,
    now: OffsetDateTime,
) -> Result<u64, crate::StoreError> {
    let before = now - keep;
    crate::chunked::prune_in_chunks(CHUNK, |limit| log.prune(before, limit)).await
}

/// Prunes every `period` (the first pass at once) until `stop` finishes.
pub async fn run(
    log: Arc<dyn AuditLog>,
    keep: Duration,
    period: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = ticker.tick() => {}
        }
        let pass = tokio::select! {
            () = &mut stop => return,
            pass = prune_once(log.as_ref(), keep, OffsetDateTime::now_utc()) => pass,
        };
        match pass {
            Ok(0) => {}
            Ok(entries) => {
                tracing::info!(entries, "pruned audit entries older than the retention");
            }
            Err(err) => {
                tracing::warn!(error = %err, "pruning the audit log failed; trying again later")
            }
        }
    }
}

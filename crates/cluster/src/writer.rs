//! Writing what the checks found: results are collected for a short period
//! and sent in one fenced statement (`write_results`); a failing check of an
//! `ok` proxy that needs a second opinion is handed on at once
//! (`defer_for_confirmation`). Rejected writes are counted; every write wakes
//! the probe loop to claim again. When its channel closes, the writer sends
//! what it holds and returns: the replica stops only after that.

use crate::shared::Shared;
use proxyhealth_core::{
    CheckRecord, OwnHistoryRecorder, Status, VantageHistory, VantageTransition,
};
use proxyhealth_store::{Claim, ResultWrite, WriteOutcome};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What a finished check asks the writer to do.
#[derive(Debug)]
pub(crate) enum Finished {
    /// Store the result (fenced by its claim; boxed, a status is large),
    /// with the change of the vantage's own status it makes, if any.
    Write(Box<ResultWrite>, Option<VantageTransition>),
    /// Ask a different replica to confirm this failure before it counts.
    Defer {
        claim: Claim,
        status: Status,
        message: String,
    },
}

/// Writes what arrives on `finished` until the channel closes.
pub(crate) async fn run(shared: Arc<Shared>, mut finished: mpsc::Receiver<Finished>) {
    let settings = shared.settings.clone();
    loop {
        let Some(first) = finished.recv().await else {
            return;
        };
        let mut writes = Writes::default();
        let mut closed = false;
        let deadline = Instant::now() + settings.batch;
        take(&shared, first, &mut writes).await;
        while writes.results.len() < crate::settings::BATCH_MAX {
            tokio::select! {
                next = finished.recv() => match next {
                    Some(next) => take(&shared, next, &mut writes).await,
                    None => {
                        closed = true;
                        break;
                    }
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        write(&shared, writes).await;
        shared.wake.notify_one();
        if closed {
            return;
        }
    }
}

/// The results to write at once, and the own vantage's change of each.
#[derive(Default)]
struct Writes {
    results: Vec<ResultWrite>,
    own: Vec<Option<VantageTransition>>,
}

/// Queues a write, or hands a failure on for a second opinion at once.
async fn take(shared: &Shared, finished: Finished, writes: &mut Writes) {
    match finished {
        Finished::Write(write, own) => {
            writes.results.push(*write);
            writes.own.push(own);
        }
        Finished::Defer {
            claim,
            status,
            message,
        } => {
            let within = shared.settings.confirm_within();
            match shared
                .coordination
                .defer_for_confirmation(&claim, status, &message, within)
                .await
            {
                Ok(true) => {
                    shared.metrics.second_opinions.inc();
                    tracing::info!(proxy_id = %claim.proxy_id, %status, "a failing check of an ok proxy was handed to another replica to confirm");
                }
                Ok(false) => shared.metrics.rejected.inc(),
                Err(err) => {
                    // the lease runs out and another replica checks it
                    tracing::warn!(proxy_id = %claim.proxy_id, error = %err, "asking for a second opinion failed");
                }
            }
        }
    }
}

async fn write(shared: &Shared, writes: Writes) {
    if writes.results.is_empty() {
        return;
    }
    let count = writes.results.len();
    let seen = shared
        .own_history
        .as_ref()
        .map(|_| own_history_of(&writes.results));
    match shared.coordination.write_results(writes.results).await {
        Ok(outcomes) => {
            if let (Some(recorder), Some(checks)) = (&shared.own_history, seen) {
                record_own(shared, recorder.as_ref(), checks, writes.own, &outcomes).await;
            }
            let rejected = outcomes
                .iter()
                .filter(|outcome| matches!(outcome, WriteOutcome::Rejected))
                .count();
            if rejected > 0 {
                shared
                    .metrics
                    .rejected
                    .inc_by(u64::try_from(rejected).unwrap_or(u64::MAX));
                tracing::warn!(
                    rejected,
                    "results rejected by fencing: their leases had been taken over"
                );
            }
        }
        Err(err) => {
            // the leases run out and the proxies are checked again
            tracing::warn!(results = count, error = %err, "writing results failed");
        }
    }
}

/// The check each result is, for the vantage's rollups (a result's time,
/// result and latency are its own check's).
fn own_history_of(results: &[ResultWrite]) -> Vec<CheckRecord> {
    results
        .iter()
        .map(|write| CheckRecord {
            proxy_id: write.claim.proxy_id,
            at: write.result.checked_at,
            result: write.result.last_result,
            latency: write.result.latency,
        })
        .collect()
}

/// Keeps what the accepted results add to the replica's vantage's history:
/// after their fenced write, so a rejected result adds nothing. A failure is
/// logged: the results are written whatever becomes of it.
async fn record_own(
    shared: &Shared,
    recorder: &dyn OwnHistoryRecorder,
    checks: Vec<CheckRecord>,
    own: Vec<Option<VantageTransition>>,
    outcomes: &[WriteOutcome],
) {
    let mut history = VantageHistory::default();
    for ((check, transition), outcome) in checks.into_iter().zip(own).zip(outcomes) {
        if matches!(outcome, WriteOutcome::Accepted { .. }) {
            history.checks.push(check);
            history.transitions.extend(transition);
        }
    }
    if history.is_empty() {
        return;
    }
    let vantage = &shared.engine.options().vantage;
    if let Err(err) = recorder.record_own(vantage, history).await {
        tracing::warn!(error = %err, "writing the vantage's own history failed");
    }
}

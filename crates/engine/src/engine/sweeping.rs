//! Sweeps: the loop that runs one every interval, and on-demand sweeps that
//! concurrent callers share.

use super::{Engine, SweepState};
use crate::dispatch;
use crate::error::EngineError;
use crate::history::checks_of;
use crate::snapshot::{Snapshot, SweepInfo};
use crate::sweep::check_all;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use time::OffsetDateTime;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

impl Engine {
    /// Sweeps at once, then every interval, until `shutdown` is cancelled. Never
    /// runs two sweeps at a time; a tick missed while a sweep ran is skipped, not
    /// caught up. A failed sweep is logged and leaves the snapshot as it was.
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.inner.options.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                result = self.force_update() => {
                    if let Err(err) = result {
                        tracing::error!(error = %err, "proxy health check failed");
                    }
                }
            }
        }
    }

    /// Runs a sweep now and returns the snapshot it stored, or its error (then the
    /// snapshot is left as it was).
    ///
    /// Concurrent callers share one sweep, and a caller never gets a sweep that
    /// started before its call: a caller arriving while a sweep runs waits for it
    /// and then shares the next one with everyone else who arrived meanwhile.
    ///
    /// With a [`crate::RecheckRequests`] (a cluster), a re-check of every
    /// proxy is asked of it instead, and this waits (at most
    /// [`EngineOptions::result_within`](crate::EngineOptions::result_within))
    /// for their results to reach the snapshot, then returns it.
    pub async fn force_update(&self) -> Result<Arc<Snapshot>, EngineError> {
        if let Some(requests) = &self.inner.recheck_requests {
            return self.refresh_through(requests.as_ref()).await;
        }
        let ticket = self.inner.sweep_requests.fetch_add(1, Ordering::SeqCst) + 1;
        let mut last = self.inner.sweep.lock().await;
        if last.covers >= ticket {
            return last.result.clone();
        }
        last.covers = self.inner.sweep_requests.load(Ordering::SeqCst);
        last.result = self.sweep_once().await;
        last.result.clone()
    }

    /// One sweep, timed and counted, with its outcome kept for `/healthz`.
    async fn sweep_once(&self) -> Result<Arc<Snapshot>, EngineError> {
        let started = Instant::now();
        let started_at = OffsetDateTime::now_utc();
        let seq = self.next_check_seq();
        let outcome = self.sweep_and_publish(started, started_at, seq).await;
        self.inner
            .metrics
            .sweep_duration
            .observe(started.elapsed().as_secs_f64());
        let previous = self.sweep_state();
        let state = match &outcome {
            Ok(_) => SweepState {
                last_error: None,
                consecutive_failures: 0,
                last_attempt_at: Some(started_at),
            },
            Err(err) => SweepState {
                last_error: Some(err.to_string()),
                consecutive_failures: previous.consecutive_failures.saturating_add(1),
                last_attempt_at: Some(started_at),
            },
        };
        let label = if outcome.is_ok() { "ok" } else { "failed" };
        self.inner.metrics.sweeps.with_label_values(&[label]).inc();
        self.inner.state.send_replace(Arc::new(state));
        outcome
    }

    /// Reads the proxies, checks them all (the slowest last time first) and
    /// publishes the results.
    async fn sweep_and_publish(
        &self,
        started: Instant,
        started_at: OffsetDateTime,
        seq: u64,
    ) -> Result<Arc<Snapshot>, EngineError> {
        let proxies: Vec<_> = self
            .inner
            .source
            .list_proxies()
            .await?
            .into_iter()
            .filter(|proxy| !proxy.deleted)
            .collect();
        let count = proxies.len();
        // The checks that took longest last time start first (see `dispatch`).
        let previous = self.inner.snapshot.load();
        let order = dispatch::longest_first(
            &proxies,
            |proxy| previous.get(&proxy.id).map(AsRef::as_ref),
            self.inner.options.timeout,
        );
        drop(previous);
        let results = check_all(
            &self.inner.prober,
            &self.inner.options,
            proxies,
            Some(order),
            started_at,
            seq,
            None,
        )
        .await;
        for result in &results {
            self.count_check(result);
        }
        let info = SweepInfo {
            started_at,
            duration: started.elapsed(),
            proxies: count,
        };
        let published = self
            .merge_and_publish(
                results,
                |results| checks_of(results),
                |current, results| {
                    let remote = self.inner.remote.read();
                    Some(current.after_sweep(results, info, &self.judge(&remote), seq))
                },
            )
            .await;
        if let Some(published) = &published {
            // readings of proxies gone since are of no use to anyone
            let statuses = published.statuses();
            self.inner
                .remote
                .write()
                .retain_proxies(|id| statuses.contains_key(id));
        }
        // A sweep's merge always gives a snapshot.
        Ok(published.unwrap_or_else(|| self.snapshot_arc()))
    }
}

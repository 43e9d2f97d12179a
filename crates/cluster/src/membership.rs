//! Membership: the heartbeat loop. Every period it writes the heartbeat (on
//! the database's clock) with the view generation this replica serves,
//! registers again when its row is gone, counts the live replicas (for the
//! second opinion and the metric) and, every few periods, the stale proxies
//! and the proxies the replicas disagree about.

use crate::quiet::Quiet;
use crate::shared::Shared;
use std::sync::Arc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// The stale-proxy and disagreeing-proxy counts are refreshed every this many heartbeats.
const STALE_EVERY: u32 = 5;

/// Heartbeats until `shutdown`.
pub(crate) async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(shared.settings.heartbeat);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_ok = Instant::now();
    let mut beats: u32 = 0;
    let mut quiet = Quiet::default();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let beat = async {
            if heartbeat(&shared, &mut quiet).await {
                last_ok = Instant::now();
            }
            shared
                .metrics
                .heartbeat_age
                .set(last_ok.elapsed().as_secs_f64());
            count_live(&shared).await;
            if beats.is_multiple_of(STALE_EVERY) {
                count_stale(&shared).await;
                count_disagreeing(&shared).await;
            }
            beats = beats.wrapping_add(1);
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = beat => {}
        }
    }
}

/// One heartbeat; registers again when the row is gone. `true` on success.
async fn heartbeat(shared: &Shared, quiet: &mut Quiet) -> bool {
    let me = shared.me();
    match shared
        .coordination
        .heartbeat(me, shared.view_generation())
        .await
    {
        Ok(Some(_)) => {
            quiet.ok("the heartbeat");
            true
        }
        Ok(None) => match shared.coordination.register(shared.info.clone()).await {
            Ok(id) => {
                tracing::warn!(old = %me, new = %id, "this replica's row was gone (a long pause?); registered again");
                shared.set_me(id);
                true
            }
            Err(err) => {
                quiet.warn("registering this replica again", &err);
                false
            }
        },
        Err(err) => {
            quiet.warn("the heartbeat", &err);
            false
        }
    }
}

/// Counts the live replicas (the metric) and those of this replica's
/// vantage (the second opinion: a replica of the same vantage confirms a
/// failure); a failure keeps the last counts.
pub(crate) async fn count_live(shared: &Shared) {
    match shared
        .coordination
        .replicas(shared.settings.live_window())
        .await
    {
        Ok(rows) => {
            let live = rows.iter().filter(|row| row.live).count();
            let same_vantage = rows
                .iter()
                .filter(|row| row.live && row.vantage == shared.info.vantage)
                .count();
            shared.set_live(same_vantage);
            shared
                .metrics
                .live_replicas
                .set(i64::try_from(live).unwrap_or(i64::MAX));
        }
        Err(err) => tracing::debug!(error = %err, "counting live replicas failed"),
    }
}

async fn count_stale(shared: &Shared) {
    match shared
        .coordination
        .stale(shared.settings.stale_after())
        .await
    {
        Ok(stale) => shared
            .metrics
            .stale_proxies
            .set(i64::try_from(stale.len()).unwrap_or(i64::MAX)),
        Err(err) => tracing::debug!(error = %err, "counting stale proxies failed"),
    }
}

/// Counts the proxies whose recent observations by live replicas differ
/// (the same query as the replicas report); a failure keeps the last count.
async fn count_disagreeing(shared: &Shared) {
    match shared
        .coordination
        .disagreements(shared.settings.live_window(), shared.settings.stale_after())
        .await
    {
        Ok(split) => shared
            .metrics
            .disagreeing_proxies
            .set(i64::try_from(split.len()).unwrap_or(i64::MAX)),
        Err(err) => tracing::debug!(error = %err, "counting disagreeing proxies failed"),
    }
}

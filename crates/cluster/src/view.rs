//! The shared view: keeps the engine's snapshot equal to the results stored
//! in the database. New results are read (`results_since` the view's
//! generation) when a result notification arrives (notices that arrived
//! meanwhile are coalesced into one read), and on a short safety period; the
//! whole view is read after the notification connection was lost (its
//! notifications are gone) and on a longer period. A failed read keeps the
//! last view served and is retried at the next occasion; the engine reports
//! the view's age for `/healthz`.
//!
//! The periodic whole read runs beside the incremental ones, so results
//! written while it reads thousands of rows are still served within
//! milliseconds; it is merged keeping whatever is newer than it (see
//! [`ViewRead::Whole`]).

use crate::partials;
use crate::quiet::Quiet;
use crate::shared::Shared;
use futures::FutureExt;
use proxyhealth_core::{ProxyStatus, VantageName, VantageReading};
use proxyhealth_engine::vantages::own_reading;
use proxyhealth_engine::{SweepInfo, ViewRead};
use proxyhealth_store::{Notice, NoticeSource, ResultBatch, StoreError};
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Which read the view needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    Nothing,
    Since,
    Everything,
}

/// Reads the whole view and publishes it in place of the one served (at
/// start and after a reconnect).
pub(crate) async fn load_all(shared: &Shared) -> Result<(), StoreError> {
    let started_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let batch = shared.coordination.all_results().await?;
    let generation = batch.generation;
    publish_whole(shared, batch, ViewRead::Replace, started_at, started).await;
    shared.reset_view_generation(generation);
    Ok(())
}

/// What a periodic whole read gives back: the batch, and when it started.
type WholeRead = (Result<ResultBatch, StoreError>, OffsetDateTime, Instant);

/// The periodic whole read: everything stored, read while the incremental
/// reads go on.
async fn read_whole(shared: Arc<Shared>) -> WholeRead {
    let started_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    (shared.coordination.all_results().await, started_at, started)
}

/// Merges a periodic whole read into the view: a proxy keeps a status newer
/// than the read, and one missing from it is dropped unless newer.
async fn merge_whole(
    shared: &Shared,
    batch: ResultBatch,
    started_at: OffsetDateTime,
    started: Instant,
) {
    let generation = batch.generation;
    let as_of = u64::try_from(generation).unwrap_or(0);
    publish_whole(
        shared,
        batch,
        ViewRead::Whole { as_of },
        started_at,
        started,
    )
    .await;
    shared.set_view_generation(generation);
}

/// Publishes a whole read, merged as `read` says.
async fn publish_whole(
    shared: &Shared,
    batch: ResultBatch,
    read: ViewRead,
    started_at: OffsetDateTime,
    started: Instant,
) {
    let split = split(shared, batch);
    let info = SweepInfo {
        started_at,
        duration: started.elapsed(),
        proxies: split.own.len(),
    };
    publish(shared, split, read, info).await;
}

/// Publishes the own vantage's results merged as `read` says, takes the
/// other vantages' readings, and judges every proxy they touch again with
/// all of them (a stored result carries its writer's judgement, made with
/// the readings that replica held then).
async fn publish(shared: &Shared, split: Split, read: ViewRead, info: SweepInfo) {
    let before = shared.engine.snapshot_arc();
    let whole = read != ViewRead::Since;
    let mut ids: Vec<Uuid> = split.own.iter().map(|status| status.proxy.id).collect();
    shared.engine.publish_view(split.own, read, info);
    ids.extend(split.peers.iter().map(|(id, _)| *id));
    shared.engine.take_peer_readings(split.peers).await;
    shared.engine.rejudge_proxies(ids.clone()).await;
    if whole {
        // a whole read may change any proxy
        ids = shared
            .engine
            .snapshot()
            .statuses()
            .keys()
            .copied()
            .collect();
    }
    partials::offer(shared, &before, &ids).await;
}

/// A batch of stored results, split by vantage.
struct Split {
    /// The results of this replica's vantage, as statuses; each one's
    /// `check_seq` is its generation, so an older result never replaces a
    /// newer one in the snapshot. (A result the store could not read,
    /// written by a replica of another version, say, is not in the batch:
    /// the next check of that proxy replaces it.)
    own: Vec<ProxyStatus>,
    /// Every other vantage's result, as that vantage's reading.
    peers: Vec<(Uuid, VantageReading)>,
}

fn split(shared: &Shared, batch: ResultBatch) -> Split {
    let own_name = &shared.engine.options().vantage;
    let mut split = Split {
        own: Vec::with_capacity(batch.rows.len()),
        peers: Vec::new(),
    };
    for row in batch.rows {
        if row.vantage == own_name.as_str() {
            let mut status = row.result;
            status.check_seq = u64::try_from(row.generation).unwrap_or(0);
            split.own.push(status);
            continue;
        }
        match VantageName::new(&row.vantage) {
            Ok(vantage) => split
                .peers
                .push((row.proxy_id, own_reading(&row.result, &vantage))),
            Err(err) => {
                tracing::warn!(vantage = %row.vantage, error = %err, "a stored result of a vantage with a bad name is left out");
            }
        }
    }
    split
}

/// Reads the results newer than the view and publishes them.
async fn load_since(shared: &Shared) -> Result<(), StoreError> {
    let started_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let batch = shared
        .coordination
        .results_since(shared.view_generation())
        .await?;
    let generation = batch.generation;
    let split = split(shared, batch);
    let info = SweepInfo {
        started_at,
        duration: started.elapsed(),
        proxies: shared.engine.snapshot().statuses().len(),
    };
    publish(shared, split, ViewRead::Since, info).await;
    shared.set_view_generation(generation);
    Ok(())
}

/// Keeps the view in step until `shutdown`. Due notices wake the probe loop.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut listener: Box<dyn NoticeSource>,
    shutdown: CancellationToken,
) {
    let stats = listener.stats();
    let mut safety = tokio::time::interval(shared.settings.safety_read);
    safety.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let start = Instant::now();
    let mut full = tokio::time::interval_at(
        start + shared.settings.full_reload,
        shared.settings.full_reload,
    );
    full.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // what is still to be read: kept until a read succeeds
    let mut need = Need::Nothing;
    let mut quiet = Quiet::default();
    // the periodic whole read, while it runs
    let mut whole: Option<tokio::task::JoinHandle<WholeRead>> = None;
    loop {
        shared
            .metrics
            .listener_connected
            .set(i64::from(stats.connected()));
        tokio::select! {
            () = shutdown.cancelled() => {
                if let Some(whole) = whole {
                    whole.abort();
                }
                return;
            }
            notice = listener.recv() => need = need.max(handle(&shared, notice)),
            _ = safety.tick() => need = need.max(Need::Since),
            _ = full.tick(), if whole.is_none() => {
                whole = Some(tokio::spawn(read_whole(Arc::clone(&shared))));
            }
            Some(done) = async {
                match whole.as_mut() {
                    Some(running) => Some(running.await),
                    None => None,
                }
            }, if whole.is_some() => {
                whole = None;
                match done {
                    Ok((Ok(batch), started_at, started)) => {
                        merge_whole(&shared, batch, started_at, started).await;
                    }
                    // a failed whole read is made again, whole, at once
                    Ok((Err(err), ..)) => {
                        tracing::debug!(error = %err, "the periodic read of the whole view failed");
                        need = need.max(Need::Everything);
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "the periodic read of the whole view stopped");
                        need = need.max(Need::Everything);
                    }
                }
            }
        }
        // coalesce: whatever else is ready now is served by the same read
        while let Some(notice) = listener.recv().now_or_never() {
            need = need.max(handle(&shared, notice));
        }
        shared
            .metrics
            .listener_connected
            .set(i64::from(stats.connected()));
        let read = async {
            match need {
                Need::Nothing => Ok(()),
                Need::Since => load_since(&shared).await,
                Need::Everything => load_all(&shared).await,
            }
        };
        let outcome = tokio::select! {
            () = shutdown.cancelled() => return,
            outcome = read => outcome,
        };
        match outcome {
            Ok(()) => {
                if quiet.worked() {
                    tracing::info!("reading the shared view works again");
                }
                need = Need::Nothing;
            }
            Err(err) => {
                // the engine's own loop logs a failed sweep with these words
                if quiet.failed() {
                    tracing::error!(error = %err, "proxy health check failed: reading the shared view failed; serving the last one");
                } else {
                    tracing::debug!(error = %err, "reading the shared view failed again");
                }
                shared
                    .engine
                    .view_failed(format!("reading the shared view: {err}"));
            }
        }
    }
}

fn handle(shared: &Shared, notice: Notice) -> Need {
    match notice {
        Notice::Result { generation, .. } if generation > shared.view_generation() => Need::Since,
        Notice::Result { .. } => Need::Nothing,
        Notice::Due { .. } => {
            shared.wake.notify_one();
            Need::Nothing
        }
        Notice::Reconnected => {
            shared.metrics.listener_reconnects.inc();
            // due notices may have been lost too
            shared.wake.notify_one();
            Need::Everything
        }
    }
}

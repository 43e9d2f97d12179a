//! What agents' results become once the engine has taken them: their proxies
//! judged again and published, then their readings and history kept in the
//! store, for every batch that arrived within one short period together.
//!
//! Agents send small batches during their rounds (so a result is served
//! within about a second of its check), and the work per batch that does not
//! grow with the batch (a new snapshot of every proxy, a store transaction)
//! would otherwise be paid per batch. So one task publishes at most once per
//! [`PERIOD`] everything that arrived meanwhile (one snapshot), and another
//! writes, in the same order, everything published while its previous write
//! ran (one transaction): a write never holds up the next publication. A
//! batch is answered only once the store has its share, so an answered
//! batch is never lost to a restart; a store failure is answered as one
//! (the agent sends the batch again, and a result sent again adds no
//! history). A store may hold part of what it was given in memory (the
//! embedded one does, see its docs): what is due is written every second,
//! and the rest when the service stops.

use proxyhealth_core::{VantageHistory, VantageName, VantageReading};
use proxyhealth_engine::Engine;
use proxyhealth_store::{Flush, ProxyStore, StoreError, VantageIntake};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until};
use uuid::Uuid;

/// The shortest time between two publications of agents' results: short enough to add little to the time from a check to
/// its result served, long enough that batches arriving together share the
/// work.
pub(crate) const PERIOD: Duration = Duration::from_millis(100);

/// How often the store writes what it has held long enough: often, so each
/// write is small.
const FLUSH_TICK: Duration = Duration::from_secs(1);

/// Why a batch's share was not kept.
#[derive(Debug, Clone)]
pub(crate) enum NotKept {
    /// Its vantage was deleted while the batch was on its way.
    NoVantage(VantageName),
    /// The store failed.
    Store(StoreError),
}

/// One batch as the engine took it, waiting for its publication and write.
struct Taken {
    intake: VantageIntake,
    kept: oneshot::Sender<Result<(), NotKept>>,
    /// When it was handed over (for the debug log of the time to publish).
    queued: Instant,
}

/// The queue to the task that publishes and keeps agents' results. Cheap to
/// clone; the task ends when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct AgentIntake {
    queue: mpsc::UnboundedSender<Taken>,
}

impl AgentIntake {
    /// Starts the task for `engine` and `store` (on the current runtime).
    pub(crate) fn start(engine: Engine, store: Arc<dyn ProxyStore>) -> AgentIntake {
        let (queue, batches) = mpsc::unbounded_channel();
        tokio::spawn(run(batches, engine, store));
        AgentIntake { queue }
    }

    /// Hands over what a batch of `vantage`'s results added (already in the
    /// engine's book) and waits until it is published and kept. Queued at
    /// once: a caller that stops waiting loses nothing.
    pub(crate) async fn keep(
        &self,
        vantage: VantageName,
        readings: Vec<(Uuid, VantageReading)>,
        history: VantageHistory,
    ) -> Result<(), NotKept> {
        let (kept, answer) = oneshot::channel();
        let taken = Taken {
            intake: VantageIntake {
                vantage,
                readings,
                history,
            },
            kept,
            queued: Instant::now(),
        };
        if self.queue.send(taken).is_err() {
            return Err(NotKept::Store(StoreError::Unavailable(
                "the service is stopping".to_owned(),
            )));
        }
        answer.await.unwrap_or_else(|_| {
            Err(NotKept::Store(StoreError::Unavailable(
                "the service is stopping".to_owned(),
            )))
        })
    }
}

/// Batches published, waiting for their write, each with who waits for it.
struct Published {
    /// When the oldest of its batches was handed over.
    queued: Instant,
    intakes: Vec<VantageIntake>,
    waiting: Vec<(VantageName, oneshot::Sender<Result<(), NotKept>>)>,
}

/// Waits for batches; at most once per [`PERIOD`] takes every batch queued
/// and publishes their proxies in one snapshot, then hands them to the
/// writer ([`keep_in_order`]) and goes on: the next batches are published
/// while these are written, so a slow write delays no result being served.
async fn run(
    mut batches: mpsc::UnboundedReceiver<Taken>,
    engine: Engine,
    store: Arc<dyn ProxyStore>,
) {
    let (published, to_keep) = mpsc::unbounded_channel();
    tokio::spawn(keep_in_order(to_keep, store));
    let mut last: Option<Instant> = None;
    while let Some(first) = batches.recv().await {
        if let Some(last) = last {
            sleep_until(last + PERIOD).await;
        }
        last = Some(Instant::now());
        let mut intakes: Vec<VantageIntake> = Vec::new();
        let mut waiting = Vec::new();
        let queued = first.queued;
        let mut next = Some(first);
        while let Some(Taken { intake, kept, .. }) = next {
            waiting.push((intake.vantage.clone(), kept));
            merge(&mut intakes, intake);
            next = batches.try_recv().ok();
        }
        let mut ids: Vec<Uuid> = intakes
            .iter()
            .flat_map(|intake| intake.readings.iter().map(|(id, _)| *id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let results = ids.len();
        let publishing = Instant::now();
        engine.publish_vantage_results(ids).await;
        tracing::debug!(
            batches = waiting.len(),
            results,
            waited = ?publishing.duration_since(queued),
            took = ?publishing.elapsed(),
            "agents' results published"
        );
        let handed = Published {
            queued,
            intakes,
            waiting,
        };
        if published.send(handed).is_err() {
            // the writer is gone: the service is stopping, and the callers
            // are told so when their answers are dropped
            return;
        }
    }
}

/// Keeps what [`run`] published, in the order it was published: everything
/// published while the previous write ran goes into one write (one
/// transaction), and each batch is answered once its write is done.
async fn keep_in_order(
    mut published: mpsc::UnboundedReceiver<Published>,
    store: Arc<dyn ProxyStore>,
) {
    let mut flush = tokio::time::interval_at(Instant::now() + FLUSH_TICK, FLUSH_TICK);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // one write of held results at a time, beside this loop's writes
    let mut flushing: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        let first = tokio::select! {
            first = published.recv() => first,
            _ = flush.tick() => {
                if flushing.as_ref().is_none_or(tokio::task::JoinHandle::is_finished) {
                    let store = Arc::clone(&store);
                    flushing = Some(tokio::spawn(async move {
                        flush_held(store.as_ref(), Flush::Due).await;
                    }));
                }
                continue;
            }
        };
        let Some(first) = first else { return };
        let Published {
            queued,
            mut intakes,
            mut waiting,
        } = first;
        while let Ok(more) = published.try_recv() {
            waiting.extend(more.waiting);
            for intake in more.intakes {
                merge(&mut intakes, intake);
            }
        }
        let writing = Instant::now();
        let outcome = match store.vantages() {
            Some(vantages) => vantages.keep_intakes(&intakes).await,
            None => Ok(Vec::new()),
        };
        tracing::debug!(
            batches = waiting.len(),
            results = intakes.iter().map(|i| i.readings.len()).sum::<usize>(),
            waited = ?writing.duration_since(queued),
            took = ?writing.elapsed(),
            "agents' results kept"
        );
        if let Err(err) = &outcome {
            tracing::warn!(error = %err, batches = waiting.len(), "keeping agents' results failed");
        }
        for (vantage, kept) in waiting {
            let answer = match &outcome {
                Ok(gone) if gone.contains(&vantage) => Err(NotKept::NoVantage(vantage)),
                Ok(_) => Ok(()),
                Err(err) => Err(NotKept::Store(err.clone())),
            };
            // a caller that stopped waiting needs no answer
            let _ = kept.send(answer);
        }
    }
}

/// Has the store write `what` it holds of agents' results; a failure is
/// logged (what was not written stays held for the next time).
pub(crate) async fn flush_held(store: &dyn ProxyStore, what: Flush) {
    let Some(vantages) = store.vantages() else {
        return;
    };
    let writing = Instant::now();
    match vantages.flush(what).await {
        Ok(()) => tracing::trace!(took = ?writing.elapsed(), "agents' held results written"),
        Err(err) => {
            tracing::warn!(error = %err, "writing agents' held results failed; kept for the next try")
        }
    }
}

/// Adds `intake` to its vantage's in `intakes` (a new one when its vantage
/// has none yet), its readings and history after those already there.
fn merge(intakes: &mut Vec<VantageIntake>, intake: VantageIntake) {
    match intakes.iter_mut().find(|i| i.vantage == intake.vantage) {
        Some(merged) => {
            merged.readings.extend(intake.readings);
            merged.history.checks.extend(intake.history.checks);
            merged
                .history
                .transitions
                .extend(intake.history.transitions);
        }
        None => intakes.push(intake),
    }
}

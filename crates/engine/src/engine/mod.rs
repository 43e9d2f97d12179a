//! The engine: the sweep loop, on-demand sweeps, single-proxy re-checks (on
//! demand, or in the background coalesced per proxy), the shared view a
//! cluster replica publishes, and the readers.
//!
//! # Layout
//! - this module: the [`Engine`] handle, its state, and the lock-free readers.
//! - `building`: [`EngineBuilder`], the settings checked once.
//! - `sweeping`: the loop and the on-demand sweeps concurrent callers share.
//! - `rechecking`: one proxy re-checked, awaited or in the background, or
//!   asked of a cluster and waited for.
//! - `shared_view`: what a cluster replica publishes instead of sweeping.
//! - `vantages`: other vantages' results taken in (from agents), judged with
//!   the own ones by the quorum, and restored or forgotten.
//! - `publishing`: the one protocol every new snapshot goes through (merge,
//!   record the history, merge again after a deletion, publish), used by the
//!   three above.

mod building;
mod publishing;
mod rechecking;
mod shared_view;
mod sweeping;
mod vantages;

pub use building::EngineBuilder;

use crate::error::EngineError;
use crate::history::HistoryWriter;
use crate::metrics::EngineMetrics;
use crate::options::EngineOptions;
use crate::probe::Prober;
use crate::recheck::RecheckRequests;
use crate::snapshot::Snapshot;
use crate::sweep::CheckResult;
use crate::vantages::{Judge, RemoteBook};
use arc_swap::{ArcSwap, Guard};
use proxyhealth_core::{ProxySource, ProxyStatus};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use time::OffsetDateTime;
use tokio::sync::{Mutex as AsyncMutex, watch};
use tokio::time::Instant;
use uuid::Uuid;

/// Checks every proxy of a store on an interval and keeps the results for
/// lock-free reads. Cheap to clone: clones share one engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    source: Arc<dyn ProxySource>,
    prober: Prober,
    options: EngineOptions,
    /// The published snapshot; readers load it without a lock.
    snapshot: Arc<ArcSwap<Snapshot>>,
    /// Serialises writers of `snapshot` (sweeps and re-checks); never held across an await.
    publish: parking_lot::Mutex<()>,
    /// Orders the start of every check, so no result replaces a newer one.
    check_seq: AtomicU64,
    /// Numbers the calls for a sweep, so a caller shares only a sweep that started after it.
    sweep_requests: AtomicU64,
    /// Held while a sweep runs: one sweep at a time; holds the last sweep's outcome.
    sweep: AsyncMutex<LastSweep>,
    /// How the last sweep went, for `/healthz`; a watch so a caller can wait
    /// for the first one (see [`Engine::first_view`]).
    state: watch::Sender<Arc<SweepState>>,
    /// The generation of each stored snapshot, for waiters (server-sent events).
    generations: watch::Sender<u64>,
    /// Proxies with a background re-check in flight, and whether another is
    /// wanted after it (see [`Engine::recheck_in_background`]).
    background_rechecks: parking_lot::Mutex<HashMap<Uuid, bool>>,
    /// Who runs background re-checks instead of this engine (a cluster).
    recheck_requests: Option<Arc<dyn RecheckRequests>>,
    /// Where history is written before a snapshot showing it is published.
    history: Option<HistoryWriter>,
    /// Where partial outages' starts and ends are kept (with `history` only).
    partial: Option<Arc<dyn proxyhealth_core::PartialRecorder>>,
    /// Where the own vantage's history is kept (with `history` only).
    own_history: Option<Arc<dyn proxyhealth_core::OwnHistoryRecorder>>,
    /// Held by a sweep or re-check from its merge to its publication while
    /// history is written in between (an await), so merges stay in order.
    recording: AsyncMutex<()>,
    /// When a shared view was last read successfully (cluster mode only).
    view_read_at: parking_lot::Mutex<Option<Instant>>,
    /// The other vantages' newest readings; locked only inside a merge or
    /// an intake, never across an await.
    remote: parking_lot::RwLock<RemoteBook>,
    metrics: EngineMetrics,
    registry: prometheus::Registry,
}

/// The outcome of the last sweep, shared with the callers it covered.
struct LastSweep {
    /// The highest request number this sweep started after.
    covers: u64,
    result: Result<Arc<Snapshot>, EngineError>,
}

/// How the engine's sweeps have been going.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepState {
    /// The last sweep's error, `None` when it succeeded (or none ran yet).
    pub last_error: Option<String>,
    /// Failed sweeps since the last success.
    pub consecutive_failures: u32,
    /// When the last sweep (failed or not) started.
    pub last_attempt_at: Option<OffsetDateTime>,
}

impl Engine {
    /// Starts building an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The settings in force (after defaults were applied).
    pub fn options(&self) -> &EngineOptions {
        &self.inner.options
    }

    /// The registry holding the engine's metrics.
    pub fn registry(&self) -> &prometheus::Registry {
        &self.inner.registry
    }

    /// The current snapshot, without a lock and without copying. Hold it briefly;
    /// use [`Engine::snapshot_arc`] to keep it across an `.await`.
    pub fn snapshot(&self) -> Guard<Arc<Snapshot>> {
        self.inner.snapshot.load()
    }

    /// The current snapshot as an `Arc`, to keep as long as needed.
    pub fn snapshot_arc(&self) -> Arc<Snapshot> {
        self.inner.snapshot.load_full()
    }

    /// The status of one proxy from the current snapshot.
    pub fn status_of(&self, id: &Uuid) -> Option<Arc<ProxyStatus>> {
        self.inner.snapshot.load().get(id).cloned()
    }

    /// The snapshot whose [`Snapshot::hosts`] lists the hosts of every registered
    /// proxy (for security headers); shares the snapshot, copies nothing.
    pub fn proxy_hosts(&self) -> Arc<Snapshot> {
        self.snapshot_arc()
    }

    /// How the sweeps have been going.
    pub fn sweep_state(&self) -> Arc<SweepState> {
        Arc::clone(&self.inner.state.borrow())
    }

    /// Waits until the first sweep (on a cluster replica: the first read of
    /// the shared view) has ended, successful or not, and returns how it
    /// went. Until then the snapshot is empty whatever the store holds, so
    /// this is when the service is ready to tell a supervisor so (systemd's
    /// `READY=1`). Returns at once when one has already ended.
    pub async fn first_view(&self) -> Arc<SweepState> {
        let mut states = self.inner.state.subscribe();
        match states
            .wait_for(|state| state.last_attempt_at.is_some())
            .await
        {
            Ok(state) => Arc::clone(&state),
            // unreachable while `self` holds the sender; answer what is known
            Err(_) => self.sweep_state(),
        }
    }

    /// A receiver that sees the generation of every stored snapshot.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.generations.subscribe()
    }

    /// The next number in the order checks start in.
    fn next_check_seq(&self) -> u64 {
        self.inner.check_seq.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// How merges judge proxies, over `remote` (the book, read-locked by the caller).
    fn judge<'a>(&'a self, remote: &'a RemoteBook) -> Judge<'a> {
        let options = &self.inner.options;
        Judge {
            hysteresis: options.hysteresis,
            own: &options.vantage,
            quorum: options.quorum,
            interval: options.interval,
            remote,
        }
    }

    /// Counts one check by its verdict.
    fn count_check(&self, result: &CheckResult) {
        self.inner
            .metrics
            .checks
            .with_label_values(&[result.verdict.status.as_str()])
            .inc();
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("options", &self.inner.options)
            .field("generation", &self.inner.snapshot.load().generation())
            .finish()
    }
}

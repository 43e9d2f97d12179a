//! What the replica's loops share: the coordination, the engine, the store,
//! the settings and metrics, this replica's current id, the view's
//! generation, how many replicas are live, and the wake-up of the claim loop.

use crate::metrics::ClusterMetrics;
use crate::replica_engine::ReplicaEngine;
use crate::settings::ClusterSettings;
use proxyhealth_core::{OwnHistoryRecorder, PartialRecorder, ProxySource};
use proxyhealth_engine::Engine;
use proxyhealth_store::{Coordination, ReplicaId, ReplicaInfo};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use tokio::sync::Notify;

/// State shared by the membership, view and probe loops of one replica.
pub(crate) struct Shared {
    pub(crate) coordination: Arc<dyn Coordination>,
    pub(crate) engine: Engine,
    pub(crate) source: Arc<dyn ProxySource>,
    pub(crate) settings: ClusterSettings,
    pub(crate) metrics: ClusterMetrics,
    /// What this replica registers as (again, when its row was pruned).
    pub(crate) info: ReplicaInfo,
    /// This replica's id; changes only when it has to register again.
    me: parking_lot::RwLock<ReplicaId>,
    /// The generation the published view is complete up to.
    view_generation: AtomicI64,
    /// Live replicas of this replica's vantage at the last heartbeat (this
    /// one included; at least 1): those that can give a second opinion.
    live: AtomicUsize,
    /// Wakes the probe loop to claim now (a due notice, a finished write).
    pub(crate) wake: Notify,
    /// Where partial outages are kept, when they are.
    pub(crate) partials: Option<Arc<dyn PartialRecorder>>,
    /// Where this replica's vantage's history is kept, when it is.
    pub(crate) own_history: Option<Arc<dyn OwnHistoryRecorder>>,
}

impl Shared {
    /// The state of a replica of `engine`'s cluster, registered as `me`.
    pub(crate) fn new(
        engine: &ReplicaEngine,
        source: Arc<dyn ProxySource>,
        settings: ClusterSettings,
        metrics: ClusterMetrics,
        info: ReplicaInfo,
        me: ReplicaId,
    ) -> Shared {
        Shared {
            coordination: Arc::clone(engine.coordination()),
            engine: engine.engine().clone(),
            partials: engine.partials(),
            own_history: engine.own_history(),
            source,
            settings,
            metrics,
            info,
            me: parking_lot::RwLock::new(me),
            view_generation: AtomicI64::new(0),
            live: AtomicUsize::new(1),
            wake: Notify::new(),
        }
    }

    /// This replica's current id.
    pub(crate) fn me(&self) -> ReplicaId {
        *self.me.read()
    }

    /// Records a new id after registering again.
    pub(crate) fn set_me(&self, id: ReplicaId) {
        *self.me.write() = id;
    }

    /// The generation the published view is complete up to.
    pub(crate) fn view_generation(&self) -> i64 {
        self.view_generation.load(Ordering::Acquire)
    }

    /// Records the generation of a view just published.
    pub(crate) fn set_view_generation(&self, generation: i64) {
        self.view_generation.fetch_max(generation, Ordering::AcqRel);
    }

    /// Forgets the generation (before a full reload, which may go back if
    /// the database was restored).
    pub(crate) fn reset_view_generation(&self, generation: i64) {
        self.view_generation.store(generation, Ordering::Release);
    }

    /// Live replicas of this vantage at the last heartbeat (at least 1:
    /// this one).
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed).max(1)
    }

    /// Records the live replicas counted at a heartbeat.
    pub(crate) fn set_live(&self, live: usize) {
        self.live.store(live, Ordering::Relaxed);
    }
}

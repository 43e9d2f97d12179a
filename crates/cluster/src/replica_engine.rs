//! [`ReplicaEngine`]: the engine a [`crate::Replica`] runs on, built with what
//! a replica needs installed, so a replica cannot be started on an engine
//! that would re-check proxies alone behind the cluster's back.

use crate::judged::JudgedChanges;
use crate::rechecks::ClusterRechecks;
use proxyhealth_core::{OwnHistoryRecorder, PartialRecorder};
use proxyhealth_engine::{Engine, EngineBuilder, EngineError};
use proxyhealth_store::{Claims, Coordination};
use std::sync::Arc;

/// An engine built for a replica of the cluster that `coordination` joins:
/// its re-checks are asked of the cluster ([`ClusterRechecks`]), one check in
/// the cluster each, and its checks' history is written with its fenced
/// results; what it records itself is only the overall changes its judgement
/// makes between checks (another vantage's reading), offered to the
/// cluster's journal ([`Claims::record_judged`]).
#[derive(Clone)]
pub struct ReplicaEngine {
    engine: Engine,
    coordination: Arc<dyn Coordination>,
    partials: Option<Arc<dyn PartialRecorder>>,
    own_history: Option<Arc<dyn OwnHistoryRecorder>>,
}

impl std::fmt::Debug for ReplicaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicaEngine")
            .field("engine", &self.engine)
            .field("coordination", &self.coordination)
            .field("partials", &self.partials.is_some())
            .field("own_history", &self.own_history.is_some())
            .finish()
    }
}

impl ReplicaEngine {
    /// Builds `builder`'s engine with the cluster's re-checks installed.
    pub fn build(
        builder: EngineBuilder,
        coordination: Arc<dyn Coordination>,
    ) -> Result<ReplicaEngine, EngineError> {
        let claims = Arc::clone(&coordination) as Arc<dyn Claims>;
        let engine = builder
            .recheck_requests(Arc::new(ClusterRechecks::new(Arc::clone(&claims))))
            .history(Arc::new(JudgedChanges::new(claims)))
            .build()?;
        Ok(ReplicaEngine {
            engine,
            coordination,
            partials: None,
            own_history: None,
        })
    }

    /// Keeps partial outages with `recorder` (the store's, which decides
    /// from the outages it keeps open, so the replicas offering the same
    /// change keep it once).
    pub fn with_partial_outages(mut self, recorder: Arc<dyn PartialRecorder>) -> Self {
        self.partials = Some(recorder);
        self
    }

    /// Keeps the replica's vantage's history with `recorder`: the checks
    /// and damped status changes of its accepted results (the store drops a
    /// change another replica of the vantage recorded already).
    pub fn with_own_history(mut self, recorder: Arc<dyn OwnHistoryRecorder>) -> Self {
        self.own_history = Some(recorder);
        self
    }

    /// The engine, for the service's reads and metrics.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The coordination the replica will join.
    pub(crate) fn coordination(&self) -> &Arc<dyn Coordination> {
        &self.coordination
    }

    /// Where the replica keeps its vantage's history, if it does.
    pub(crate) fn own_history(&self) -> Option<Arc<dyn OwnHistoryRecorder>> {
        self.own_history.clone()
    }

    /// Where the replica keeps partial outages, if it does.
    pub(crate) fn partials(&self) -> Option<Arc<dyn PartialRecorder>> {
        self.partials.clone()
    }
}

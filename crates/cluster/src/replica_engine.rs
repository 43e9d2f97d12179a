//! [`ReplicaEngine`]: the engine a [`crate::Replica`] runs on, built with what
//! a replica needs installed, so a replica cannot be started on an engine
//! that would re-check proxies alone behind the cluster's back.

use crate::rechecks::ClusterRechecks;
use proxyhealth_engine::{Engine, EngineBuilder, EngineError};
use proxyhealth_store::{Claims, Coordination};
use std::sync::Arc;

/// An engine built for a replica of the cluster that `coordination` joins:
/// its re-checks are asked of the cluster ([`ClusterRechecks`]), one check in
/// the cluster each, and it writes no history of its own (a replica writes
/// history with its fenced results instead).
#[derive(Debug, Clone)]
pub struct ReplicaEngine {
    engine: Engine,
    coordination: Arc<dyn Coordination>,
}

impl ReplicaEngine {
    /// Builds `builder`'s engine with the cluster's re-checks installed.
    pub fn build(
        builder: EngineBuilder,
        coordination: Arc<dyn Coordination>,
    ) -> Result<ReplicaEngine, EngineError> {
        let engine = builder
            .recheck_requests(Arc::new(ClusterRechecks::new(
                Arc::clone(&coordination) as Arc<dyn Claims>
            )))
            .build()?;
        Ok(ReplicaEngine {
            engine,
            coordination,
        })
    }

    /// The engine, for the service's reads and metrics.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The coordination the replica will join.
    pub(crate) fn coordination(&self) -> &Arc<dyn Coordination> {
        &self.coordination
    }
}

//! The replica: started (registered, listening, view loaded) by
//! [`Replica::start`], then run by [`Replica::run`] until told to stop, when
//! it sends its last results and marks itself stopped.

use crate::error::ClusterError;
use crate::metrics::ClusterMetrics;
use crate::replica_engine::ReplicaEngine;
use crate::settings::ClusterSettings;
use crate::shared::Shared;
use crate::{membership, peers, probing, view};
use proxyhealth_core::ProxySource;
use proxyhealth_store::{ListenerStats, NoticeSource, ReplicaId, ReplicaInfo};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long the last write and the stop may take at shutdown each.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// One replica of a cluster on one database: the engine's view is the
/// cluster's, and its checks are the share of the cluster's this replica
/// claims. Made by [`Replica::start`]; runs with [`Replica::run`].
pub struct Replica {
    shared: Arc<Shared>,
    listener: Box<dyn NoticeSource>,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("id", &self.shared.me())
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

impl Replica {
    /// Registers the replica, opens the notification listener and then loads
    /// the whole view into `engine` (in that order, so no result written in
    /// between is missed), and registers the metrics on the engine's registry.
    ///
    /// The engine comes built for the cluster ([`ReplicaEngine::build`]), so
    /// a re-check asked through this replica is one check in the cluster.
    pub async fn start(
        engine: &ReplicaEngine,
        source: Arc<dyn ProxySource>,
        info: ReplicaInfo,
        settings: ClusterSettings,
    ) -> Result<Replica, ClusterError> {
        let coordination = Arc::clone(engine.coordination());
        let metrics =
            ClusterMetrics::register(engine.engine().registry()).map_err(ClusterError::Metrics)?;
        let me = coordination
            .register(info.clone())
            .await
            .map_err(ClusterError::Register)?;
        let shared = Arc::new(Shared::new(engine, source, settings, metrics, info, me));
        // before the first claim: a replica that just joined must know it
        // is not alone, or it would skip the second opinion
        membership::count_live(&shared).await;
        let started = async {
            let listener = coordination.listen().await.map_err(ClusterError::Listen)?;
            view::load_all(&shared).await.map_err(ClusterError::Load)?;
            Ok(listener)
        };
        let listener = match started.await {
            Ok(listener) => listener,
            Err(err) => {
                let _ = coordination.stop(me).await;
                return Err(err);
            }
        };
        shared
            .metrics
            .listener_connected
            .set(i64::from(listener.stats().connected()));
        tracing::info!(replica_id = %me, "replica registered");
        Ok(Replica { shared, listener })
    }

    /// This replica's id (a new one after it had to register again).
    pub fn id(&self) -> ReplicaId {
        self.shared.me()
    }

    /// The notification listener's state.
    pub fn listener_stats(&self) -> Arc<ListenerStats> {
        self.listener.stats()
    }

    /// A handle that reads this replica's current id while it runs.
    pub fn id_handle(&self) -> ReplicaIdHandle {
        ReplicaIdHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Marks the replica stopped without running it (the application it was
    /// started for could not be built).
    pub async fn stop_now(self) {
        let me = self.shared.me();
        if let Err(err) = self.shared.coordination.stop(me).await {
            tracing::warn!(error = %err, "marking the replica stopped failed");
        }
    }

    /// Heartbeats, keeps the view in step and claims, checks and writes its
    /// share until `shutdown` is cancelled; then stops claiming, sends the
    /// results it holds and, after that write returned, marks the replica
    /// stopped (releasing its leases so the others take its proxies at once).
    pub async fn run(self, shutdown: CancellationToken) {
        let Replica { shared, listener } = self;
        let loops = CancellationToken::new();
        let membership = tokio::spawn(membership::run(Arc::clone(&shared), loops.clone()));
        let view = tokio::spawn(view::run(Arc::clone(&shared), listener, loops.clone()));
        let probing = tokio::spawn(probing::run(Arc::clone(&shared), loops.clone()));
        let peers = tokio::spawn(peers::run(Arc::clone(&shared), loops.clone()));
        shutdown.cancelled().await;
        loops.cancel();
        if tokio::time::timeout(STOP_TIMEOUT, probing).await.is_err() {
            tracing::warn!("the last results were not written in time");
        }
        let _ = membership.await;
        let _ = view.await;
        let _ = peers.await;
        let me = shared.me();
        match tokio::time::timeout(STOP_TIMEOUT, shared.coordination.stop(me)).await {
            Ok(Ok(())) => tracing::info!(replica_id = %me, "replica stopped"),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "marking the replica stopped failed; its leases run out")
            }
            Err(_) => tracing::warn!("marking the replica stopped timed out; its leases run out"),
        }
    }
}

/// Reads a running replica's current id.
#[derive(Clone)]
pub struct ReplicaIdHandle {
    shared: Arc<Shared>,
}

impl ReplicaIdHandle {
    /// The replica's current id.
    pub fn get(&self) -> ReplicaId {
        self.shared.me()
    }
}

impl std::fmt::Debug for ReplicaIdHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ReplicaIdHandle").field(&self.get()).finish()
    }
}

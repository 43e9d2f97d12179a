//! The replicas' consistency report (`GET /api/v2/proxyhealth/replicas`):
//! which replicas share the database, whether each is live and how far its
//! view lags, which proxies the replicas disagree about, and which proxies have
//! no recent result.
//!
//! A leaf: it reads the store's [`Coordination`] and the engine's snapshot and
//! builds the wire shape; the handler in `routes::replicas` only calls it.

use proxyhealth_api::wire::{
    ReplicaDisagreement, ReplicaMode, ReplicaObservation, ReplicaReport, ReplicasResponse,
    StaleProxy, zero_time,
};
use proxyhealth_cluster::ClusterSettings;
use proxyhealth_engine::{Engine, Snapshot};
use proxyhealth_store::{Coordination, ProxyStore, ReplicaRow, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// The note of [`ReplicaMode::Single`].
pub const SINGLE_NOTE: &str = "One process: SQLite allows one serve per file, and the in-memory \
store lives in one process; run replicas on PostgreSQL to share the probing.";
/// The note of [`ReplicaMode::Independent`].
pub const INDEPENDENT_NOTE: &str = "Each replica probes alone, as Coder does: attached read-only \
to a Coder database, nothing is shared; name a schema of that database for proxyhealth's own \
state (--coordination-schema), or give proxyhealth a database of its own, to coordinate.";

/// This process's replica id, when it is one (the handler's slice of the
/// state). A replica gets a new id when it had to register again (its row was
/// pruned after a long pause), so a running replica is followed, not copied.
#[derive(Clone, Default)]
pub struct ThisReplica(Option<Arc<dyn Fn() -> Uuid + Send + Sync>>);

impl ThisReplica {
    /// Always this id (or none).
    pub fn fixed(id: Option<Uuid>) -> Self {
        ThisReplica(id.map(|id| Arc::new(move || id) as Arc<dyn Fn() -> Uuid + Send + Sync>))
    }

    /// Whatever `current` says at each read: a running replica's id.
    pub fn following(current: impl Fn() -> Uuid + Send + Sync + 'static) -> Self {
        ThisReplica(Some(Arc::new(current)))
    }

    /// The id now, when this process is a replica.
    pub fn id(&self) -> Option<Uuid> {
        self.0.as_ref().map(|current| current())
    }
}

impl std::fmt::Debug for ThisReplica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ThisReplica").field(&self.id()).finish()
    }
}

/// The report as `GET /api/v2/proxyhealth/replicas` answers it.
///
/// Cluster mode when the store coordinates replicas; otherwise the mode says
/// why not (a read-only Coder attach probes alone, anything else is one
/// process) and only the stale proxies of this process's view are listed.
pub async fn build(
    engine: &Engine,
    store: &dyn ProxyStore,
    this: ThisReplica,
) -> Result<ReplicasResponse, StoreError> {
    let snapshot = engine.snapshot_arc();
    // a proxy is stale when its newest result is older than this;
    // disagreements are looked for among observations this recent as well
    let stale_after = engine.options().stale_after();
    match store.coordination() {
        Some(coordination) => {
            // the replicas' own settings, so the report and the replicas
            // agree on who is live
            let live_window = ClusterSettings::for_engine(engine.options()).live_window();
            cluster(
                coordination,
                store,
                &snapshot,
                this.id(),
                live_window,
                stale_after,
            )
            .await
        }
        None => {
            let (mode, note) = if store.is_read_only() {
                (ReplicaMode::Independent, INDEPENDENT_NOTE)
            } else {
                (ReplicaMode::Single, SINGLE_NOTE)
            };
            Ok(ReplicasResponse {
                mode,
                note: Some(note.to_owned()),
                this_replica: None,
                newest_generation: i64::try_from(snapshot.generation()).unwrap_or(i64::MAX),
                replicas: Vec::new(),
                disagreements: Vec::new(),
                stale: stale_in_view(&snapshot, stale_after),
            })
        }
    }
}

/// The report of a cluster: every query is the database's, on its clock.
async fn cluster(
    coordination: Arc<dyn Coordination>,
    store: &dyn ProxyStore,
    snapshot: &Snapshot,
    this: Option<Uuid>,
    live_window: Duration,
    stale_after: Duration,
) -> Result<ReplicasResponse, StoreError> {
    let newest_generation = coordination.newest_generation().await?;
    let rows = coordination.replicas(live_window).await?;
    let disagreements = coordination.disagreements(live_window, stale_after).await?;
    let stale = coordination.stale(stale_after).await?;

    let hostnames: HashMap<Uuid, String> = rows
        .iter()
        .map(|row| (row.id, row.hostname.clone()))
        .collect();
    let mut names = Names::new(snapshot, store);
    let mut report_disagreements = Vec::with_capacity(disagreements.len());
    for disagreement in disagreements {
        report_disagreements.push(ReplicaDisagreement {
            proxy_id: disagreement.proxy_id,
            name: names.of(disagreement.proxy_id).await?,
            observations: disagreement
                .observations
                .into_iter()
                .map(|seen| ReplicaObservation {
                    replica_id: seen.replica_id,
                    hostname: hostnames.get(&seen.replica_id).cloned().unwrap_or_default(),
                    status: seen.status.as_str().to_owned(),
                    message: seen.message,
                    observed_at: seen.observed_at,
                })
                .collect(),
        });
    }
    let mut report_stale = Vec::with_capacity(stale.len());
    for proxy_id in stale {
        report_stale.push(StaleProxy {
            proxy_id,
            name: names.of(proxy_id).await?,
            checked_at: checked_at(snapshot, proxy_id),
        });
    }
    Ok(ReplicasResponse {
        mode: ReplicaMode::Cluster,
        note: None,
        this_replica: this,
        newest_generation,
        replicas: rows.iter().map(|row| replica(row, this)).collect(),
        disagreements: report_disagreements,
        stale: report_stale,
    })
}

/// One replica row on the wire.
fn replica(row: &ReplicaRow, this: Option<Uuid>) -> ReplicaReport {
    ReplicaReport {
        id: row.id,
        hostname: row.hostname.clone(),
        version: row.version.clone(),
        listen_addr: row.listen_addr.clone(),
        vantage: row.vantage.clone(),
        started_at: row.started_at,
        heartbeat_at: row.heartbeat_at,
        heartbeat_age_ms: millis(row.heartbeat_age),
        live: row.live,
        stopped_at: row.stopped_at,
        view_generation: row.view_generation,
        lag_generations: row.generation_lag,
        lag_ms: millis(row.lag),
        this: this == Some(row.id),
    }
}

/// Proxies of this process's view whose newest result is older than
/// `stale_after` (outside cluster mode, the view is the only record).
fn stale_in_view(snapshot: &Snapshot, stale_after: Duration) -> Vec<StaleProxy> {
    let now = OffsetDateTime::now_utc();
    let mut stale: Vec<StaleProxy> = snapshot
        .statuses()
        .values()
        .filter(|status| status.checked_at != zero_time() && now - status.checked_at > stale_after)
        .map(|status| StaleProxy {
            proxy_id: status.proxy.id,
            name: status.proxy.name.clone(),
            checked_at: Some(status.checked_at),
        })
        .collect();
    stale.sort_by(|a, b| a.name.cmp(&b.name).then(a.proxy_id.cmp(&b.proxy_id)));
    stale
}

/// When this process's view last saw a result for the proxy, if it did.
fn checked_at(snapshot: &Snapshot, proxy_id: Uuid) -> Option<OffsetDateTime> {
    snapshot
        .get(&proxy_id)
        .map(|status| status.checked_at)
        .filter(|at| *at != zero_time())
}

/// Proxy names: from the snapshot, else from the store (remembered), else empty.
struct Names<'a> {
    snapshot: &'a Snapshot,
    store: &'a dyn ProxyStore,
    looked_up: HashMap<Uuid, String>,
}

impl<'a> Names<'a> {
    fn new(snapshot: &'a Snapshot, store: &'a dyn ProxyStore) -> Self {
        Names {
            snapshot,
            store,
            looked_up: HashMap::new(),
        }
    }

    async fn of(&mut self, id: Uuid) -> Result<String, StoreError> {
        if let Some(status) = self.snapshot.get(&id) {
            return Ok(status.proxy.name.clone());
        }
        if let Some(name) = self.looked_up.get(&id) {
            return Ok(name.clone());
        }
        let name = self
            .store
            .get_proxy(id)
            .await?
            .map(|proxy| proxy.name)
            .unwrap_or_default();
        self.looked_up.insert(id, name.clone());
        Ok(name)
    }
}

/// A duration as whole milliseconds (saturating).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

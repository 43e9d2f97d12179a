//! The JSON shapes of the replicas' consistency report,
//! `GET /api/v2/proxyhealth/replicas`: each replica's liveness and lag, and
//! the proxies they disagree about or nobody checks. Re-exported by
//! [`crate::wire`].

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// How the replicas of a deployment relate, as the consistency report says.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaMode {
    /// Replicas on one PostgreSQL coordinate: one shared view, shared probing.
    Cluster,
    /// One process (SQLite allows one `serve` per file; the in-memory store is one process).
    Single,
    /// Attached read-only to a Coder database: each replica probes alone.
    Independent,
}

impl ReplicaMode {
    /// The mode as it is written on the wire (`cluster`, `single`, `independent`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaMode::Cluster => "cluster",
            ReplicaMode::Single => "single",
            ReplicaMode::Independent => "independent",
        }
    }
}

/// One replica in the consistency report. Ages, liveness and lag are computed
/// by the database, on its clock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ReplicaReport {
    /// The replica's id.
    pub id: Uuid,
    /// Its host name.
    pub hostname: String,
    /// The proxyhealth version it runs.
    pub version: String,
    /// The address its HTTP server listens on.
    pub listen_addr: String,
    /// The vantage it checks from (`serve --vantage`): replicas naming the
    /// same one share its checks, and each vantage checks every proxy.
    #[serde(default)]
    pub vantage: String,
    /// When it registered.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Its last heartbeat.
    #[serde(with = "time::serde::rfc3339")]
    pub heartbeat_at: OffsetDateTime,
    /// How old its last heartbeat is.
    pub heartbeat_age_ms: u64,
    /// Heartbeat within the live window and not stopped.
    pub live: bool,
    /// When it stopped cleanly; `null` while it runs (or if it died).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(required = true)]
    pub stopped_at: Option<OffsetDateTime>,
    /// The generation of the view it reported serving at its last heartbeat.
    pub view_generation: i64,
    /// The newest generation minus `view_generation` (0 when it has everything).
    pub lag_generations: i64,
    /// How long the oldest result it has not reported seeing has existed (0
    /// when it has everything); includes up to one heartbeat of reporting delay.
    pub lag_ms: u64,
    /// Whether this is the replica that answered.
    pub this: bool,
}

/// What one replica last saw of one proxy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ReplicaObservation {
    /// The replica that saw it.
    pub replica_id: Uuid,
    /// That replica's host name (empty when the replica is no longer known).
    pub hostname: String,
    /// The status word it saw (`ok`, `unhealthy`, …).
    pub status: String,
    /// Its message.
    pub message: String,
    /// When it saw it.
    #[serde(with = "time::serde::rfc3339")]
    pub observed_at: OffsetDateTime,
}

/// A proxy whose recent observations from live replicas differ.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ReplicaDisagreement {
    /// The proxy.
    pub proxy_id: Uuid,
    /// Its name (empty when it is no longer known).
    pub name: String,
    /// The observations that disagree, ordered by replica id.
    pub observations: Vec<ReplicaObservation>,
}

/// A proxy whose newest result is older than two intervals.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct StaleProxy {
    /// The proxy.
    pub proxy_id: Uuid,
    /// Its name (empty when it is no longer known).
    pub name: String,
    /// When its newest result was made; `null` when it was never checked.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(required = true)]
    pub checked_at: Option<OffsetDateTime>,
}

/// `GET /api/v2/proxyhealth/replicas`: the consistency report (admin).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ReplicasResponse {
    /// How the replicas relate.
    pub mode: ReplicaMode,
    /// What the mode means for the operator; `null` in cluster mode.
    #[schema(required = true)]
    pub note: Option<String>,
    /// The id of the replica that answered; `null` outside cluster mode (or
    /// before it registered).
    #[schema(required = true)]
    pub this_replica: Option<Uuid>,
    /// In cluster mode the newest result's generation in the database;
    /// otherwise the generation of this process's view.
    pub newest_generation: i64,
    /// Every known replica, ordered by start time (empty outside cluster mode).
    pub replicas: Vec<ReplicaReport>,
    /// Proxies whose observations disagree between live replicas.
    pub disagreements: Vec<ReplicaDisagreement>,
    /// Proxies whose newest result is older than two intervals.
    pub stale: Vec<StaleProxy>,
}

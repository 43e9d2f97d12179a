//! The replica's metrics, registered on the engine's registry so `/metrics`
//! shows them beside the engine's.

use prometheus::{Gauge, IntCounter, IntGauge, Opts, Registry};

/// Live replicas, by the database's clock (this one included).
pub const LIVE_REPLICAS: &str = "coderd_proxyhealth_replicas_live";
/// Seconds since this replica's last successful heartbeat.
pub const HEARTBEAT_AGE: &str = "coderd_proxyhealth_replica_heartbeat_age_seconds";
/// Proxies this replica claimed for a check.
pub const CLAIMS: &str = "coderd_proxyhealth_claims_total";
/// Results of this replica the fence rejected (its claim was no longer its own).
pub const REJECTED: &str = "coderd_proxyhealth_writes_rejected_total";
/// Claims of this replica that took a proxy over from a replica whose lease ran out.
pub const TAKEOVERS: &str = "coderd_proxyhealth_takeovers_total";
/// Failing checks of `ok` proxies this replica handed to another for a second opinion.
pub const SECOND_OPINIONS: &str = "coderd_proxyhealth_second_opinions_total";
/// Whether the notification connection is up (1) or not (0).
pub const LISTENER_CONNECTED: &str = "coderd_proxyhealth_listener_connected";
/// Times the notification connection was lost and re-established.
pub const LISTENER_RECONNECTS: &str = "coderd_proxyhealth_listener_reconnects_total";
/// Proxies whose newest result is older than two intervals (database clock).
pub const STALE_PROXIES: &str = "coderd_proxyhealth_stale_proxies";
/// Proxies whose recent observations by live replicas have different statuses.
pub const DISAGREEING_PROXIES: &str = "coderd_proxyhealth_disagreeing_proxies";

/// The replica's metrics.
#[derive(Debug, Clone)]
pub struct ClusterMetrics {
    /// [`LIVE_REPLICAS`].
    pub live_replicas: IntGauge,
    /// [`HEARTBEAT_AGE`].
    pub heartbeat_age: Gauge,
    /// [`CLAIMS`].
    pub claims: IntCounter,
    /// [`REJECTED`].
    pub rejected: IntCounter,
    /// [`TAKEOVERS`].
    pub takeovers: IntCounter,
    /// [`SECOND_OPINIONS`].
    pub second_opinions: IntCounter,
    /// [`LISTENER_CONNECTED`].
    pub listener_connected: IntGauge,
    /// [`LISTENER_RECONNECTS`].
    pub listener_reconnects: IntCounter,
    /// [`STALE_PROXIES`].
    pub stale_proxies: IntGauge,
    /// [`DISAGREEING_PROXIES`].
    pub disagreeing_proxies: IntGauge,
}

impl ClusterMetrics {
    /// Makes the metrics and registers them on `registry`.
    pub fn register(registry: &Registry) -> Result<ClusterMetrics, prometheus::Error> {
        let metrics = ClusterMetrics {
            live_replicas: IntGauge::with_opts(Opts::new(
                LIVE_REPLICAS,
                "Replicas whose heartbeat is fresh (three heartbeat periods, database clock).",
            ))?,
            heartbeat_age: Gauge::with_opts(Opts::new(
                HEARTBEAT_AGE,
                "Seconds since this replica's last successful heartbeat.",
            ))?,
            claims: IntCounter::with_opts(Opts::new(
                CLAIMS,
                "Proxies this replica claimed for a check.",
            ))?,
            rejected: IntCounter::with_opts(Opts::new(
                REJECTED,
                "Results of this replica rejected by fencing (its lease was taken over).",
            ))?,
            takeovers: IntCounter::with_opts(Opts::new(
                TAKEOVERS,
                "Claims that took a proxy over from a replica whose lease ran out.",
            ))?,
            second_opinions: IntCounter::with_opts(Opts::new(
                SECOND_OPINIONS,
                "Failing checks of ok proxies handed to another replica for confirmation.",
            ))?,
            listener_connected: IntGauge::with_opts(Opts::new(
                LISTENER_CONNECTED,
                "Whether the notification connection is up (1) or not (0).",
            ))?,
            listener_reconnects: IntCounter::with_opts(Opts::new(
                LISTENER_RECONNECTS,
                "Times the notification connection was lost and re-established.",
            ))?,
            stale_proxies: IntGauge::with_opts(Opts::new(
                STALE_PROXIES,
                "Proxies whose newest result is older than two intervals.",
            ))?,
            disagreeing_proxies: IntGauge::with_opts(Opts::new(
                DISAGREEING_PROXIES,
                "Proxies whose observations by live replicas in the last two intervals have different statuses.",
            ))?,
        };
        registry.register(Box::new(metrics.live_replicas.clone()))?;
        registry.register(Box::new(metrics.heartbeat_age.clone()))?;
        registry.register(Box::new(metrics.claims.clone()))?;
        registry.register(Box::new(metrics.rejected.clone()))?;
        registry.register(Box::new(metrics.takeovers.clone()))?;
        registry.register(Box::new(metrics.second_opinions.clone()))?;
        registry.register(Box::new(metrics.listener_connected.clone()))?;
        registry.register(Box::new(metrics.listener_reconnects.clone()))?;
        registry.register(Box::new(metrics.stale_proxies.clone()))?;
        registry.register(Box::new(metrics.disagreeing_proxies.clone()))?;
        Ok(metrics)
    }
}

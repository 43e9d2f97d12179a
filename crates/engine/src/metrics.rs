//! The engine's Prometheus metrics, by Coder's names, help texts and buckets.
//!
//! The per-proxy result gauge is computed from the published snapshot at scrape
//! time, so its series change only with a stored snapshot: a failed sweep changes
//! nothing, and a deleted proxy's series disappear with the first snapshot without it.
//! The series beside Coder's (names, latency, changes, the last sweep) are in
//! [`crate::proxy_metrics`]; they are registered here with the rest.

use crate::error::EngineError;
use crate::proxy_metrics::{ProxyCollector, StatusChanges};
use crate::snapshot::Snapshot;
use crate::vantage_metrics::VantageCollector;
use arc_swap::ArcSwap;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, Histogram, HistogramOpts, IntCounterVec, Opts, Registry};
use std::sync::Arc;
use std::time::Duration;

/// Name of the sweep-duration histogram (Coder's).
pub const DURATION_METRIC: &str = "coderd_proxyhealth_health_check_duration_seconds";
/// Help text of the sweep-duration histogram (Coder's).
pub const DURATION_HELP: &str = "Histogram for duration of proxy health collection in seconds.";
/// Buckets of the sweep-duration histogram (Coder's).
pub const DURATION_BUCKETS: [f64; 11] = [
    0.001, 0.005, 0.010, 0.025, 0.050, 0.100, 0.500, 1.0, 5.0, 10.0, 30.0,
];
/// Name of the per-proxy result gauge (Coder's).
pub const RESULTS_METRIC: &str = "coderd_proxyhealth_health_check_results";
/// Help text of the per-proxy result gauge (Coder's).
pub const RESULTS_HELP: &str = "This endpoint returns a number to indicate the health status. -3 (unknown), -2 (Unreachable), -1 (Unhealthy), 0 (Unregistered), 1 (Healthy)";

/// Name of the per-proxy TLS certificate expiry gauge.
pub const TLS_NOT_AFTER_METRIC: &str = "proxyhealth_tls_not_after_seconds";
/// Help text of the per-proxy TLS certificate expiry gauge.
pub const TLS_NOT_AFTER_HELP: &str = "When the TLS certificate each HTTPS proxy presented at its last check expires, in seconds since the Unix epoch; only proxies whose certificate is known.";

/// The engine's metrics, registered on one registry.
#[derive(Clone)]
pub struct EngineMetrics {
    /// Duration of every sweep, failed ones too.
    pub sweep_duration: Histogram,
    /// Sweeps by outcome (`ok`, `failed`).
    pub sweeps: IntCounterVec,
    /// Checks by their result (the status of the check alone).
    pub checks: IntCounterVec,
    /// Status changes per proxy, exported as `proxyhealth_status_changes_total`.
    pub changes: Arc<StatusChanges>,
}

impl EngineMetrics {
    /// Registers the metrics; the result gauge and the per-proxy series read
    /// `snapshot` at every scrape; `interval` is exported as the sweep interval.
    pub fn register(
        registry: &Registry,
        snapshot: Arc<ArcSwap<Snapshot>>,
        interval: Duration,
    ) -> Result<Self, EngineError> {
        let fail = |err: prometheus::Error| EngineError::Metrics(err.to_string());
        let sweep_duration = Histogram::with_opts(
            HistogramOpts::new(DURATION_METRIC, DURATION_HELP).buckets(DURATION_BUCKETS.to_vec()),
        )
        .map_err(fail)?;
        let sweeps = IntCounterVec::new(
            Opts::new(
                "proxyhealth_sweeps_total",
                "Sweeps over all proxies, by outcome (ok or failed).",
            ),
            &["outcome"],
        )
        .map_err(fail)?;
        let checks = IntCounterVec::new(
            Opts::new(
                "proxyhealth_checks_total",
                "Checks of single proxies, by the status the check alone gave.",
            ),
            &["result"],
        )
        .map_err(fail)?;
        registry
            .register(Box::new(sweep_duration.clone()))
            .map_err(fail)?;
        registry.register(Box::new(sweeps.clone())).map_err(fail)?;
        registry.register(Box::new(checks.clone())).map_err(fail)?;
        // Both outcomes from the start, so `increase()` and alerts see the first.
        for outcome in ["ok", "failed"] {
            sweeps.with_label_values(&[outcome]);
        }
        let changes = Arc::new(StatusChanges::default());
        registry
            .register(Box::new(
                ProxyCollector::new(Arc::clone(&snapshot), Arc::clone(&changes), interval)
                    .map_err(fail)?,
            ))
            .map_err(fail)?;
        registry
            .register(Box::new(
                ResultsCollector::new(Arc::clone(&snapshot)).map_err(fail)?,
            ))
            .map_err(fail)?;
        registry
            .register(Box::new(
                VantageCollector::new(Arc::clone(&snapshot)).map_err(fail)?,
            ))
            .map_err(fail)?;
        registry
            .register(Box::new(TlsExpiryCollector::new(snapshot).map_err(fail)?))
            .map_err(fail)?;
        Ok(EngineMetrics {
            sweep_duration,
            sweeps,
            checks,
            changes,
        })
    }
}

/// Exports `coderd_proxyhealth_health_check_results{proxy_id}` from the snapshot.
struct ResultsCollector {
    template: GaugeVec,
    snapshot: Arc<ArcSwap<Snapshot>>,
}

impl ResultsCollector {
    fn new(snapshot: Arc<ArcSwap<Snapshot>>) -> prometheus::Result<Self> {
        Ok(ResultsCollector {
            template: results_vec()?,
            snapshot,
        })
    }
}

fn results_vec() -> prometheus::Result<GaugeVec> {
    GaugeVec::new(Opts::new(RESULTS_METRIC, RESULTS_HELP), &["proxy_id"])
}

impl Collector for ResultsCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.template.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let snapshot = self.snapshot.load();
        if snapshot.statuses().is_empty() {
            return Vec::new();
        }
        let Ok(gauges) = results_vec() else {
            return Vec::new();
        };
        let mut id = uuid::Uuid::encode_buffer();
        for (proxy_id, status) in snapshot.statuses() {
            let label = proxy_id.hyphenated().encode_lower(&mut id);
            gauges
                .with_label_values(&[&*label])
                .set(status.status.gauge_value() as f64);
        }
        gauges.collect()
    }
}

/// Exports `proxyhealth_tls_not_after_seconds{proxy_id}` from the snapshot:
/// one series per proxy whose last check saw its TLS certificate, so a
/// proxy's series goes with the proxy (or with a check that saw no
/// certificate), as the result gauge's does.
struct TlsExpiryCollector {
    template: GaugeVec,
    snapshot: Arc<ArcSwap<Snapshot>>,
}

impl TlsExpiryCollector {
    fn new(snapshot: Arc<ArcSwap<Snapshot>>) -> prometheus::Result<Self> {
        Ok(TlsExpiryCollector {
            template: tls_not_after_vec()?,
            snapshot,
        })
    }
}

fn tls_not_after_vec() -> prometheus::Result<GaugeVec> {
    GaugeVec::new(
        Opts::new(TLS_NOT_AFTER_METRIC, TLS_NOT_AFTER_HELP),
        &["proxy_id"],
    )
}

impl Collector for TlsExpiryCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.template.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let snapshot = self.snapshot.load();
        let mut known = snapshot
            .statuses()
            .iter()
            .filter_map(|(id, status)| status.tls_not_after.map(|at| (id, at)))
            .peekable();
        if known.peek().is_none() {
            return Vec::new();
        }
        let Ok(gauges) = tls_not_after_vec() else {
            return Vec::new();
        };
        let mut id = uuid::Uuid::encode_buffer();
        for (proxy_id, not_after) in known {
            let label = proxy_id.hyphenated().encode_lower(&mut id);
            gauges
                .with_label_values(&[&*label])
                .set(not_after.unix_timestamp() as f64);
        }
        gauges.collect()
    }
}

/// The registry's metrics in the Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    let encoder = prometheus::TextEncoder::new();
    if let Err(err) = encoder.encode_utf8(&registry.gather(), &mut out) {
        tracing::error!(error = %err, "could not encode the metrics");
    }
    out
}

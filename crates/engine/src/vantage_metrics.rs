//! The per-vantage series: what each vantage saw of each proxy (its status,
//! in the values of Coder's gauge, and its latency) and when each vantage's
//! newest result was checked, so "unreachable from one vantage for ten
//! minutes" and "a vantage has gone quiet" can be alerted on.
//!
//! Computed from the published snapshot at scrape time, like the other
//! per-proxy series; a proxy has these series only while a vantage besides
//! the service's own has a result for it, so a service without agents
//! exports none of them.

use crate::proxy_metrics::{family, gauge, seconds};
use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{MetricFamily, MetricType};
use std::collections::HashMap;
use std::sync::Arc;

/// A proxy's status as one vantage saw it, in the values of Coder's gauge
/// (1 ok, -1 unhealthy, -2 unreachable, 0 unregistered, -3 unknown).
pub const VANTAGE_RESULTS_METRIC: &str = "proxyhealth_vantage_check_results";
/// How long one vantage's last check of a proxy took.
pub const VANTAGE_LATENCY_METRIC: &str = "proxyhealth_vantage_check_latency_seconds";
/// When a vantage's newest result (for any proxy) was checked.
pub const VANTAGE_LAST_RESULT_METRIC: &str = "proxyhealth_vantage_last_result_timestamp_seconds";
/// 1 when a vantage's readings are fresh (they count in the quorum), 0 when stale.
pub const VANTAGE_UP_METRIC: &str = "proxyhealth_vantage_up";

const RESULTS_HELP: &str = "A proxy's status as one vantage saw it at its newest check: 1 ok, \
-1 unhealthy, -2 unreachable, 0 unregistered, -3 unknown (the values of \
coderd_proxyhealth_health_check_results).";
const LATENCY_HELP: &str = "How long one vantage's newest check of the proxy took, in seconds (none when no request was made).";
const LAST_RESULT_HELP: &str =
    "When the vantage's newest result for any proxy was checked, in seconds since the epoch.";
const UP_HELP: &str = "1 when the vantage has a fresh result (it counts in the quorum), 0 when \
all its results are stale.";

/// Exports the per-vantage series at every scrape.
pub(crate) struct VantageCollector {
    snapshot: Arc<ArcSwap<Snapshot>>,
    descs: Vec<Desc>,
}

impl VantageCollector {
    /// A collector over the engine's snapshot.
    pub(crate) fn new(snapshot: Arc<ArcSwap<Snapshot>>) -> prometheus::Result<Self> {
        let desc = |name: &str, help: &str, labels: &[&str]| {
            Desc::new(
                name.to_owned(),
                help.to_owned(),
                labels.iter().map(|label| (*label).to_owned()).collect(),
                HashMap::new(),
            )
        };
        Ok(VantageCollector {
            snapshot,
            descs: vec![
                desc(
                    VANTAGE_RESULTS_METRIC,
                    RESULTS_HELP,
                    &["proxy_id", "vantage"],
                )?,
                desc(
                    VANTAGE_LATENCY_METRIC,
                    LATENCY_HELP,
                    &["proxy_id", "vantage"],
                )?,
                desc(VANTAGE_LAST_RESULT_METRIC, LAST_RESULT_HELP, &["vantage"])?,
                desc(VANTAGE_UP_METRIC, UP_HELP, &["vantage"])?,
            ],
        })
    }
}

impl Collector for VantageCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let snapshot = self.snapshot.load();
        let mut results = Vec::new();
        let mut latency = Vec::new();
        for (proxy_id, status) in snapshot.statuses() {
            if status.vantages.is_empty() {
                continue;
            }
            let id = proxy_id.hyphenated().to_string();
            for reading in &status.vantages {
                let vantage = reading.vantage.as_str();
                let labels = [("proxy_id", id.as_str()), ("vantage", vantage)];
                results.push(gauge(&labels, reading.status.gauge_value() as f64));
                if let Some(ms) = reading.latency_ms {
                    latency.push(gauge(&labels, f64::from(ms) / 1000.0));
                }
            }
        }
        if results.is_empty() {
            return Vec::new();
        }
        // per vantage: its newest check, and whether any reading is fresh
        let vantages = snapshot.vantage_freshness();
        let mut names: Vec<&&str> = vantages.keys().collect();
        names.sort();
        let last = names
            .iter()
            .map(|name| gauge(&[("vantage", name)], seconds(vantages[**name].newest)))
            .collect();
        let up = names
            .iter()
            .map(|name| {
                gauge(
                    &[("vantage", name)],
                    f64::from(u8::from(vantages[**name].fresh)),
                )
            })
            .collect();
        vec![
            family(
                VANTAGE_RESULTS_METRIC,
                RESULTS_HELP,
                MetricType::GAUGE,
                results,
            ),
            family(
                VANTAGE_LATENCY_METRIC,
                LATENCY_HELP,
                MetricType::GAUGE,
                latency,
            ),
            family(
                VANTAGE_LAST_RESULT_METRIC,
                LAST_RESULT_HELP,
                MetricType::GAUGE,
                last,
            ),
            family(VANTAGE_UP_METRIC, UP_HELP, MetricType::GAUGE, up),
        ]
    }
}

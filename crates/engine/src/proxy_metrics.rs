//! The per-proxy series people build dashboards and alerts with, beside
//! Coder's two: an info series that names each proxy (so Coder's gauge, keyed
//! by `proxy_id` alone, can be joined to names), the last check's latency and
//! time, the status changes per proxy and target status, and when the last
//! sweep finished with the interval it runs on.
//!
//! Like Coder's gauge, everything except the change counts is computed from
//! the published snapshot at scrape time, so a deleted proxy's series go with
//! the first snapshot without it. The change counts live in
//! [`StatusChanges`], which the engine feeds with each merge's changes and
//! trims to every snapshot it publishes, so they go at the same moment.

use crate::snapshot::{Change, Snapshot};
use arc_swap::ArcSwap;
use parking_lot::Mutex;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use proxyhealth_core::Status;
use proxyhealth_core::secrets::redact_url;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// Name of the info series: 1 per proxy, its names and URL as labels.
pub const INFO_METRIC: &str = "proxyhealth_proxy_info";
/// Name of the last check's latency per proxy (no series when no request was made).
pub const LATENCY_METRIC: &str = "proxyhealth_check_latency_seconds";
/// Name of the time of the last check per proxy.
pub const CHECKED_METRIC: &str = "proxyhealth_last_check_timestamp_seconds";
/// Name of the status changes per proxy and target status (label `to`).
pub const CHANGES_METRIC: &str = "proxyhealth_status_changes_total";
/// Name of the time the last successful sweep finished (a replica of a
/// cluster: its last read of the shared view that brought news, or its full
/// reload); the engine's start before the first.
pub const LAST_SWEEP_METRIC: &str = "proxyhealth_last_sweep_timestamp_seconds";
/// Name of the time between sweeps the engine runs with.
pub const INTERVAL_METRIC: &str = "proxyhealth_sweep_interval_seconds";

/// The target statuses every proxy has a change series for from its first
/// check on (at 0), so `increase()` sees the first change too. `unknown` is
/// never the result of a check; it gets a series only if it is ever counted.
const COUNTED: [Status; 4] = [
    Status::Ok,
    Status::Unhealthy,
    Status::Unreachable,
    Status::Unregistered,
];

/// Status changes per proxy, by target status, for the proxies of the
/// published snapshot.
///
/// A proxy's first status is not a change: it starts its row at zero. The
/// engine calls `count` with every merge's changes and
/// `retain` with every snapshot it publishes, both under its
/// publish lock, so the rows are exactly the proxies of the last snapshot.
#[derive(Debug, Default)]
pub struct StatusChanges {
    counts: Mutex<HashMap<Uuid, [u64; Status::ALL.len()]>>,
}

impl StatusChanges {
    /// Counts the changes of one merge.
    pub(crate) fn count(&self, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        let mut counts = self.counts.lock();
        for change in changes {
            let row = counts.entry(change.status.proxy.id).or_default();
            if change.from.is_some() {
                row[index(change.status.status)] += 1;
            }
        }
    }

    /// Drops the rows of proxies that are not in `snapshot` (deleted).
    pub(crate) fn retain(&self, snapshot: &Snapshot) {
        let mut counts = self.counts.lock();
        // Every proxy of a snapshot got its row when it first appeared, so the
        // rows are those of the snapshot when the numbers match.
        if counts.len() != snapshot.statuses().len() {
            counts.retain(|id, _| snapshot.get(id).is_some());
        }
    }
}

fn index(status: Status) -> usize {
    Status::ALL
        .iter()
        .position(|s| *s == status)
        .unwrap_or(Status::ALL.len() - 1)
}

/// Help texts, in the order [`ProxyCollector`] exports the families.
const INFO_HELP: &str = "Always 1, one per proxy: its names and URL (any password hidden), to \
join coderd_proxyhealth_health_check_results on proxy_id.";
const LATENCY_HELP: &str =
    "How long the last check of the proxy took, in seconds (none when no request was made).";
const CHECKED_HELP: &str = "When the last check of the proxy started, in seconds since the epoch.";
const CHANGES_HELP: &str = "Changes of the proxy's shown status, by the status it changed to.";
const LAST_SWEEP_HELP: &str = "When the last successful sweep finished (a replica of a cluster: \
its last read of the shared view with news, or full reload), in seconds since the epoch; the \
start of the process before the first.";
const INTERVAL_HELP: &str = "Time between sweeps, in seconds.";

/// Exports the series of this module at every scrape.
///
/// The families are built directly rather than through metric vectors: a
/// scrape of 10,000 proxies makes some 70,000 series, and a vector would
/// hash and check every one of them again.
pub(crate) struct ProxyCollector {
    snapshot: Arc<ArcSwap<Snapshot>>,
    changes: Arc<StatusChanges>,
    started_at: OffsetDateTime,
    interval: Duration,
    descs: Vec<Desc>,
}

impl ProxyCollector {
    /// A collector over the engine's snapshot and change counts.
    pub(crate) fn new(
        snapshot: Arc<ArcSwap<Snapshot>>,
        changes: Arc<StatusChanges>,
        interval: Duration,
    ) -> prometheus::Result<Self> {
        let desc = |name: &str, help: &str, labels: &[&str]| {
            Desc::new(
                name.to_owned(),
                help.to_owned(),
                labels.iter().map(|label| (*label).to_owned()).collect(),
                HashMap::new(),
            )
        };
        let descs = vec![
            desc(
                INFO_METRIC,
                INFO_HELP,
                &["display_name", "name", "proxy_id", "url"],
            )?,
            desc(LATENCY_METRIC, LATENCY_HELP, &["proxy_id"])?,
            desc(CHECKED_METRIC, CHECKED_HELP, &["proxy_id"])?,
            desc(CHANGES_METRIC, CHANGES_HELP, &["proxy_id", "to"])?,
            desc(LAST_SWEEP_METRIC, LAST_SWEEP_HELP, &[])?,
            desc(INTERVAL_METRIC, INTERVAL_HELP, &[])?,
        ];
        Ok(ProxyCollector {
            snapshot,
            changes,
            started_at: OffsetDateTime::now_utc(),
            interval,
            descs,
        })
    }
}

impl Collector for ProxyCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let snapshot = self.snapshot.load();
        // a copy, so the engine's publishing never waits for a scrape
        let counts = self.changes.counts.lock().clone();
        let proxies = snapshot.statuses().len();
        let mut info = Vec::with_capacity(proxies);
        let mut latency = Vec::with_capacity(proxies);
        let mut checked = Vec::with_capacity(proxies);
        let mut changes = Vec::with_capacity(proxies * COUNTED.len());
        for (proxy_id, status) in snapshot.statuses() {
            let id = proxy_id.hyphenated().to_string();
            let proxy = &status.proxy;
            info.push(gauge(
                &[
                    ("display_name", &proxy.display_name),
                    ("name", &proxy.name),
                    ("proxy_id", &id),
                    ("url", &redact_url(&proxy.url)),
                ],
                1.0,
            ));
            if let Some(took) = status.latency {
                latency.push(gauge(&[("proxy_id", &id)], took.as_secs_f64()));
            }
            checked.push(gauge(&[("proxy_id", &id)], seconds(status.checked_at)));
            let row = counts.get(proxy_id).copied().unwrap_or_default();
            for (i, to) in Status::ALL.iter().enumerate() {
                if COUNTED.contains(to) || row[i] > 0 {
                    changes.push(counter(
                        &[("proxy_id", &id), ("to", to.as_str())],
                        row[i] as f64,
                    ));
                }
            }
        }
        let last_sweep = snapshot
            .last_sweep()
            .map_or(self.started_at, |sweep| sweep.started_at + sweep.duration);
        vec![
            family(INFO_METRIC, INFO_HELP, MetricType::GAUGE, info),
            family(LATENCY_METRIC, LATENCY_HELP, MetricType::GAUGE, latency),
            family(CHECKED_METRIC, CHECKED_HELP, MetricType::GAUGE, checked),
            family(CHANGES_METRIC, CHANGES_HELP, MetricType::COUNTER, changes),
            family(
                LAST_SWEEP_METRIC,
                LAST_SWEEP_HELP,
                MetricType::GAUGE,
                vec![gauge(&[], seconds(last_sweep))],
            ),
            family(
                INTERVAL_METRIC,
                INTERVAL_HELP,
                MetricType::GAUGE,
                vec![gauge(&[], self.interval.as_secs_f64())],
            ),
        ]
    }
}

pub(crate) fn family(
    name: &str,
    help: &str,
    kind: MetricType,
    metrics: Vec<Metric>,
) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.to_owned());
    family.set_help(help.to_owned());
    family.set_field_type(kind);
    family.set_metric(metrics);
    family
}

/// Label pairs, given sorted by name (as the metric vectors print them).
fn labels(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs
        .iter()
        .map(|(name, value)| {
            let mut pair = LabelPair::default();
            pair.set_name((*name).to_owned());
            pair.set_value((*value).to_owned());
            pair
        })
        .collect()
}

pub(crate) fn gauge(pairs: &[(&str, &str)], value: f64) -> Metric {
    let mut gauge = Gauge::default();
    gauge.set_value(value);
    let mut metric = Metric::default();
    metric.set_label(labels(pairs));
    metric.set_gauge(gauge);
    metric
}

fn counter(pairs: &[(&str, &str)], value: f64) -> Metric {
    let mut counter = Counter::default();
    counter.set_value(value);
    let mut metric = Metric::default();
    metric.set_label(labels(pairs));
    metric.set_counter(counter);
    metric
}

pub(crate) fn seconds(at: OffsetDateTime) -> f64 {
    at.unix_timestamp_nanos() as f64 / 1e9
}

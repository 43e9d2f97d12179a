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
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, GaugeVec, IntCounterVec, Opts};
use proxyhealth_core::Status;
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
/// engine calls [`StatusChanges::count`] with every merge's changes and
/// [`StatusChanges::retain`] with every snapshot it publishes, both under its
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

/// Exports the series of this module at every scrape.
pub(crate) struct ProxyCollector {
    snapshot: Arc<ArcSwap<Snapshot>>,
    changes: Arc<StatusChanges>,
    started_at: OffsetDateTime,
    interval: Duration,
    templates: Templates,
}

/// One set of the metric vectors; a fresh one per scrape, so series of
/// proxies that are gone never linger.
struct Templates {
    info: GaugeVec,
    latency: GaugeVec,
    checked: GaugeVec,
    changes: IntCounterVec,
    last_sweep: Gauge,
    interval: Gauge,
}

impl Templates {
    fn new() -> prometheus::Result<Templates> {
        Ok(Templates {
            info: GaugeVec::new(
                Opts::new(
                    INFO_METRIC,
                    "Always 1, one per proxy: its names and URL (any password hidden), to join \
                     coderd_proxyhealth_health_check_results on proxy_id.",
                ),
                &["proxy_id", "name", "display_name", "url"],
            )?,
            latency: GaugeVec::new(
                Opts::new(
                    LATENCY_METRIC,
                    "How long the last check of the proxy took, in seconds (none when no request was made).",
                ),
                &["proxy_id"],
            )?,
            checked: GaugeVec::new(
                Opts::new(
                    CHECKED_METRIC,
                    "When the last check of the proxy started, in seconds since the epoch.",
                ),
                &["proxy_id"],
            )?,
            changes: IntCounterVec::new(
                Opts::new(
                    CHANGES_METRIC,
                    "Changes of the proxy's shown status, by the status it changed to.",
                ),
                &["proxy_id", "to"],
            )?,
            last_sweep: Gauge::with_opts(Opts::new(
                LAST_SWEEP_METRIC,
                "When the last successful sweep finished (a replica of a cluster: its last read \
                 of the shared view with news, or full reload), in seconds since the epoch; the \
                 start of the process before the first.",
            ))?,
            interval: Gauge::with_opts(Opts::new(
                INTERVAL_METRIC,
                "Time between sweeps, in seconds.",
            ))?,
        })
    }
}

impl ProxyCollector {
    /// A collector over the engine's snapshot and change counts.
    pub(crate) fn new(
        snapshot: Arc<ArcSwap<Snapshot>>,
        changes: Arc<StatusChanges>,
        interval: Duration,
    ) -> prometheus::Result<Self> {
        Ok(ProxyCollector {
            snapshot,
            changes,
            started_at: OffsetDateTime::now_utc(),
            interval,
            templates: Templates::new()?,
        })
    }
}

impl Collector for ProxyCollector {
    fn desc(&self) -> Vec<&Desc> {
        let t = &self.templates;
        let mut descs = t.info.desc();
        descs.extend(t.latency.desc());
        descs.extend(t.checked.desc());
        descs.extend(t.changes.desc());
        descs.extend(t.last_sweep.desc());
        descs.extend(t.interval.desc());
        descs
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Ok(t) = Templates::new() else {
            return Vec::new();
        };
        let snapshot = self.snapshot.load();
        let mut id = Uuid::encode_buffer();
        {
            let counts = self.changes.counts.lock();
            for (proxy_id, status) in snapshot.statuses() {
                let label = &*proxy_id.hyphenated().encode_lower(&mut id);
                let proxy = &status.proxy;
                t.info
                    .with_label_values(&[
                        label,
                        &proxy.name,
                        &proxy.display_name,
                        &hide_password(&proxy.url),
                    ])
                    .set(1.0);
                if let Some(latency) = status.latency {
                    t.latency
                        .with_label_values(&[label])
                        .set(latency.as_secs_f64());
                }
                t.checked
                    .with_label_values(&[label])
                    .set(seconds(status.checked_at));
                let row = counts.get(proxy_id).copied().unwrap_or_default();
                for (i, to) in Status::ALL.iter().enumerate() {
                    if COUNTED.contains(to) || row[i] > 0 {
                        t.changes
                            .with_label_values(&[label, to.as_str()])
                            .inc_by(row[i]);
                    }
                }
            }
        }
        let last_sweep = snapshot
            .last_sweep()
            .map_or(self.started_at, |sweep| sweep.started_at + sweep.duration);
        t.last_sweep.set(seconds(last_sweep));
        t.interval.set(self.interval.as_secs_f64());
        let mut families = Vec::new();
        families.extend(t.info.collect());
        families.extend(t.latency.collect());
        families.extend(t.checked.collect());
        families.extend(t.changes.collect());
        families.extend(t.last_sweep.collect());
        families.extend(t.interval.collect());
        families
    }
}

fn seconds(at: OffsetDateTime) -> f64 {
    at.unix_timestamp_nanos() as f64 / 1e9
}

/// The URL with its password, if any, replaced by `***`. Proxy URLs are
/// refused with credentials when created or registered, but a Coder
/// database attached read-only may hold anything.
fn hide_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            if parsed.set_password(Some("***")).is_ok() {
                parsed.to_string()
            } else {
                String::new()
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::hide_password;

    #[test]
    fn a_password_in_a_url_is_hidden() {
        assert_eq!(
            hide_password("https://user:secret@eu.example.com"),
            "https://user:***@eu.example.com/"
        );
        assert_eq!(
            hide_password("https://eu.example.com"),
            "https://eu.example.com"
        );
        assert_eq!(hide_password(""), "");
    }
}

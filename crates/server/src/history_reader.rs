//! Reading persisted history for the API: a proxy's window and
//! the incidents in their wire shapes, and the proxy list's uptime figures.
//!
//! The list's figures are cheap to keep fresh: the hours before the last two
//! do not change once written, so their sums (24 hours and 30 days) are
//! read once per hour; the last two hours (a sweep that started just before
//! an hour ended may still write the earlier one) are read again when the
//! engine's snapshot changed, at most once per [`RECENT_MIN_AGE`]: a
//! replica of a cluster publishes its view several times a second. So a list
//! costs at most one small query per sweep (or per second), whatever the
//! fleet's size.

use proxyhealth_api::wire::{
    HistoryBucket, HistoryTransition, HistoryWindow, Incident, IncidentKind, IncidentsPage,
    ProxyHistory, ProxyUptime,
};
use proxyhealth_core::{IncidentEnd, Proxy, Status, Transition};
use proxyhealth_store::history::view::{self, IncidentRecord};
use proxyhealth_store::{
    HistoryStore, HourBucket, PartialOutage, ProxyStore, StoreError, UptimeCounts,
};
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// Hours in 30 days.
const MONTH_HOURS: u32 = 30 * 24;
/// Seconds in an hour.
const HOUR: i64 = 3600;
/// The recent hours' figures are not read again sooner than this, however
/// often the snapshot changes.
pub(crate) const RECENT_MIN_AGE: std::time::Duration = std::time::Duration::from_secs(1);

/// The history slice of the state: `None` inside when the store keeps none
/// (attached read-only to a Coder database).
pub(crate) struct HistoryReader {
    history: Option<Arc<dyn HistoryStore>>,
    uptimes: tokio::sync::Mutex<UptimeCache>,
}

#[derive(Default)]
struct UptimeCache {
    /// The hour (unix seconds) the settled sums end at.
    settled_until: Option<i64>,
    day: HashMap<Uuid, UptimeCounts>,
    month: HashMap<Uuid, UptimeCounts>,
    /// The snapshot generation `figures` were made at, and when.
    generation: Option<u64>,
    made_at: Option<std::time::Instant>,
    figures: Arc<HashMap<Uuid, ProxyUptime>>,
}

impl HistoryReader {
    /// A reader over the store's history, if it keeps one.
    pub(crate) fn new(history: Option<Arc<dyn HistoryStore>>) -> Self {
        HistoryReader {
            history,
            uptimes: tokio::sync::Mutex::new(UptimeCache::default()),
        }
    }

    /// Every proxy's uptime over 24 hours and 30 days at `now`, read again
    /// when the snapshot `generation` changed (see the module docs); `None`
    /// when the store keeps no history.
    pub(crate) async fn uptimes(
        &self,
        now: OffsetDateTime,
        generation: u64,
    ) -> Result<Option<Arc<HashMap<Uuid, ProxyUptime>>>, StoreError> {
        let Some(history) = &self.history else {
            return Ok(None);
        };
        let recent_start = now.unix_timestamp().div_euclid(HOUR) * HOUR - HOUR;
        let mut cache = self.uptimes.lock().await;
        let young = cache
            .made_at
            .is_some_and(|at| at.elapsed() < RECENT_MIN_AGE);
        if cache.settled_until == Some(recent_start)
            && (cache.generation == Some(generation) || young)
        {
            return Ok(Some(Arc::clone(&cache.figures)));
        }
        let recent_at = at(recent_start);
        if cache.settled_until != Some(recent_start) {
            cache.day = history
                .uptimes(view::window_start(now, 24), Some(recent_at))
                .await?;
            cache.month = history
                .uptimes(view::window_start(now, MONTH_HOURS), Some(recent_at))
                .await?;
            cache.settled_until = Some(recent_start);
        }
        let recent = history.uptimes(recent_at, None).await?;
        let mut ids: Vec<Uuid> = cache.month.keys().chain(recent.keys()).copied().collect();
        ids.sort_unstable();
        ids.dedup();
        let figures: HashMap<Uuid, ProxyUptime> = ids
            .into_iter()
            .map(|id| {
                let recent = recent.get(&id).copied().unwrap_or_default();
                let sum = |settled: Option<&UptimeCounts>| {
                    let settled = settled.copied().unwrap_or_default();
                    UptimeCounts {
                        ok: settled.ok + recent.ok,
                        checks: settled.checks + recent.checks,
                    }
                    .ratio()
                };
                let figure = ProxyUptime {
                    last_24h: sum(cache.day.get(&id)),
                    last_30d: sum(cache.month.get(&id)),
                };
                (id, figure)
            })
            .collect();
        cache.figures = Arc::new(figures);
        cache.generation = Some(generation);
        cache.made_at = Some(std::time::Instant::now());
        Ok(Some(Arc::clone(&cache.figures)))
    }

    /// A proxy's history over `window` at `now`; `None` when the store keeps none.
    pub(crate) async fn proxy_history(
        &self,
        proxy: &Proxy,
        window: HistoryWindow,
        now: OffsetDateTime,
    ) -> Result<Option<ProxyHistory>, StoreError> {
        let Some(history) = &self.history else {
            return Ok(None);
        };
        let view = view::window(history.as_ref(), proxy.id, window.hours(), now).await?;
        Ok(Some(ProxyHistory {
            proxy_id: proxy.id,
            proxy_name: proxy.name.clone(),
            window,
            since: view.since,
            until: now,
            uptime: view.counts.ratio(),
            checks: view.counts.checks,
            ok_checks: view.counts.ok,
            status_at_start: view.status_at_start,
            buckets: view.buckets.iter().map(wire_bucket).collect(),
            transitions: view.transitions.iter().map(wire_transition).collect(),
            incidents: {
                let mut incidents: Vec<Incident> = view
                    .incidents
                    .iter()
                    .map(|incident| wire_incident(incident, now))
                    .collect();
                incidents.extend(
                    history
                        .partial_outages(view.since)
                        .await?
                        .iter()
                        .filter(|outage| outage.proxy_id == proxy.id)
                        .map(|outage| wire_partial(outage, None, now)),
                );
                incidents.sort_by_key(|incident| std::cmp::Reverse(incident.started_at));
                incidents
            },
            maintenance: Vec::new(),
        }))
    }

    /// One page of the incidents open at or after `since`, newest first,
    /// those of proxies deleted since ended at their deletion (`proxies`
    /// says which were); `None` when the store keeps no history.
    pub(crate) async fn incidents(
        &self,
        proxies: &dyn ProxyStore,
        since: OffsetDateTime,
        offset: usize,
        limit: usize,
        now: OffsetDateTime,
    ) -> Result<Option<IncidentsPage>, StoreError> {
        let Some(history) = &self.history else {
            return Ok(None);
        };
        let all = view::incidents(history.as_ref(), since).await?;
        let outages = history.partial_outages(since).await?;
        let ids = all
            .iter()
            .map(|incident| incident.proxy_id)
            .chain(outages.iter().map(|outage| outage.proxy_id));
        let deleted_at = deleted_at(proxies, ids).await?;
        let all = view::end_at_deletion(all, &deleted_at, since);
        let mut all: Vec<Incident> = all
            .iter()
            .map(|incident| wire_incident(incident, now))
            .collect();
        // partial outages, those of proxies deleted since ended at their deletion
        all.extend(
            outages
                .iter()
                .map(|outage| wire_partial(outage, deleted_at.get(&outage.proxy_id).copied(), now))
                .filter(|incident| incident.ended_at.is_none_or(|ended| ended >= since)),
        );
        all.sort_by(|a, b| {
            b.started_at
                .cmp(&a.started_at)
                .then_with(|| a.proxy_id.cmp(&b.proxy_id))
        });
        let total = all.len();
        let incidents = all.into_iter().skip(offset).take(limit).collect();
        let next = offset.saturating_add(limit);
        Ok(Some(IncidentsPage {
            since,
            incidents,
            total,
            offset,
            limit,
            next_offset: (next < total).then_some(next),
        }))
    }
}

/// When each deleted proxy among `ids` was deleted: a deleted proxy is never
/// written again, so its last change is its deletion.
async fn deleted_at(
    proxies: &dyn ProxyStore,
    ids: impl Iterator<Item = Uuid>,
) -> Result<HashMap<Uuid, OffsetDateTime>, StoreError> {
    let mut ids: Vec<Uuid> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(proxies
        .get_proxies(&ids)
        .await?
        .into_iter()
        .filter(|proxy| proxy.deleted)
        .map(|proxy| (proxy.id, proxy.updated_at))
        .collect())
}

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

pub(crate) fn wire_bucket(bucket: &HourBucket) -> HistoryBucket {
    let r = &bucket.rollup;
    HistoryBucket {
        hour: bucket.hour,
        checks: r.checks,
        ok: r.ok,
        unhealthy: r.unhealthy,
        unreachable: r.unreachable,
        unregistered: r.unregistered,
        uptime: UptimeCounts {
            ok: r.ok,
            checks: r.checks,
        }
        .ratio(),
        latency_median_ms: r.latency_median_us().map(ms),
        latency_max_ms: r.latency_max_us.map(ms),
    }
}

fn wire_transition(transition: &Transition) -> HistoryTransition {
    HistoryTransition {
        proxy_id: transition.proxy_id,
        proxy_name: transition.proxy_name.clone(),
        at: transition.at,
        from: transition.from,
        to: transition.to,
        report: transition.report.clone(),
        replica_id: transition.replica,
        previous_duration_ms: transition
            .previous_lasted
            .map(|lasted| u64::try_from(lasted.as_millis()).unwrap_or(u64::MAX)),
    }
}

fn wire_incident(incident: &IncidentRecord, now: OffsetDateTime) -> Incident {
    Incident {
        proxy_id: incident.proxy_id,
        proxy_name: incident.proxy_name.clone(),
        started_at: incident.started_at,
        ended_at: incident.ended_at,
        ended_by: incident.ended_by,
        open: incident.ended_at.is_none(),
        duration_ms: u64::try_from(incident.duration(now).as_millis()).unwrap_or(u64::MAX),
        worst_status: incident.worst,
        first_error: incident.first_error.clone(),
        kind: IncidentKind::Outage,
        vantages: Vec::new(),
    }
}

/// A partial outage as an incident, ended at its proxy's deletion when it
/// was open then (`deleted`: when its proxy was deleted, if it was).
fn wire_partial(
    outage: &PartialOutage,
    deleted: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Incident {
    let (ended_at, ended_by) = match (outage.ended_at, deleted) {
        (Some(ended), Some(deleted)) if deleted < ended => {
            (Some(deleted), Some(IncidentEnd::ProxyDeleted))
        }
        (Some(ended), _) => (Some(ended), Some(IncidentEnd::Recovered)),
        (None, Some(deleted)) => (Some(deleted), Some(IncidentEnd::ProxyDeleted)),
        (None, None) => (None, None),
    };
    let lasted = ended_at.unwrap_or(now) - outage.started_at;
    Incident {
        proxy_id: outage.proxy_id,
        proxy_name: outage.proxy_name.clone(),
        started_at: outage.started_at,
        ended_at,
        ended_by,
        open: ended_at.is_none(),
        duration_ms: u64::try_from(lasted.whole_milliseconds()).unwrap_or(0),
        worst_status: Status::Ok,
        first_error: outage.first_warning.clone(),
        kind: IncidentKind::Partial,
        vantages: outage.vantages.iter().map(|v| v.to_string()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxyhealth_core::{HistoryBatch, Transition};
    use proxyhealth_store::MemoryStore;
    use proxyhealth_store::history::Pruned;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The memory store's history, counting the uptime reads.
    #[derive(Debug)]
    struct Counting {
        inner: Arc<dyn HistoryStore>,
        uptime_reads: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl HistoryStore for Counting {
        async fn record_batch(&self, batch: HistoryBatch) -> Result<Vec<Transition>, StoreError> {
            self.inner.record_batch(batch).await
        }
        async fn buckets(
            &self,
            proxy_id: Uuid,
            since: OffsetDateTime,
        ) -> Result<Vec<HourBucket>, StoreError> {
            self.inner.buckets(proxy_id, since).await
        }
        async fn transitions(
            &self,
            proxy_id: Option<Uuid>,
            since: OffsetDateTime,
        ) -> Result<Vec<Transition>, StoreError> {
            self.inner.transitions(proxy_id, since).await
        }
        async fn last_before(
            &self,
            proxy_id: Option<Uuid>,
            at: OffsetDateTime,
        ) -> Result<Vec<Transition>, StoreError> {
            self.inner.last_before(proxy_id, at).await
        }
        async fn uptimes(
            &self,
            since: OffsetDateTime,
            until: Option<OffsetDateTime>,
        ) -> Result<HashMap<Uuid, UptimeCounts>, StoreError> {
            self.uptime_reads.fetch_add(1, Ordering::SeqCst);
            self.inner.uptimes(since, until).await
        }
        async fn prune(&self, before: OffsetDateTime, limit: u32) -> Result<Pruned, StoreError> {
            self.inner.prune(before, limit).await
        }
        async fn record_partial(
            &self,
            changes: Vec<proxyhealth_core::PartialChange>,
            notify: bool,
        ) -> Result<(), StoreError> {
            self.inner.record_partial(changes, notify).await
        }
        async fn partial_outages(
            &self,
            since: OffsetDateTime,
        ) -> Result<Vec<PartialOutage>, StoreError> {
            self.inner.partial_outages(since).await
        }
    }

    #[tokio::test]
    async fn the_recent_uptimes_are_read_at_most_once_a_second_however_often_the_view_changes() {
        let store = MemoryStore::new();
        let counting = Arc::new(Counting {
            inner: store.history().expect("the memory store keeps history"),
            uptime_reads: AtomicUsize::new(0),
        });
        let reader = HistoryReader::new(Some(counting.clone() as Arc<dyn HistoryStore>));
        let now = OffsetDateTime::now_utc();
        reader.uptimes(now, 1).await.expect("read");
        // the settled sums (day, month) and the recent hours
        assert_eq!(counting.uptime_reads.load(Ordering::SeqCst), 3);
        for generation in 2..50 {
            reader.uptimes(now, generation).await.expect("read");
        }
        assert_eq!(
            counting.uptime_reads.load(Ordering::SeqCst),
            3,
            "48 new snapshots within a second: no new read"
        );
        tokio::time::sleep(RECENT_MIN_AGE).await;
        reader.uptimes(now, 50).await.expect("read");
        assert_eq!(
            counting.uptime_reads.load(Ordering::SeqCst),
            4,
            "a second later, a new snapshot reads the recent hours again"
        );
        reader.uptimes(now, 50).await.expect("read");
        assert_eq!(counting.uptime_reads.load(Ordering::SeqCst), 4);
    }
}

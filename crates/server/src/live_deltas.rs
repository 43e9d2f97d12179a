//! [`LiveDeltas`]: what changed from one snapshot generation to the next,
//! computed once per generation and shared by every open event stream.
//!
//! A dashboard of a large fleet reads the list once, then follows it through
//! the `proxies` (or `regions`) events of its stream: each carries only the
//! proxies whose shown state changed, so an update's size follows what
//! changed, not the fleet. The change is worked out by the first stream that
//! wakes for a new generation (against the last snapshot a change was worked
//! out for) and rendered to JSON once; the other streams copy the same
//! bytes. The last [`KEPT`] changes are kept so a stream that slept through
//! a few generations sends each of them; one that fell further behind sends
//! a `resync` instead, and its client reads the list again.

use axum::body::Bytes;
use proxyhealth_api::wire::{Region, WorkspaceProxy};
use proxyhealth_api::wire_events::{LATENCY_TOLERANCE_MS, LatencyChange, ProxyDelta, RegionDelta};
use proxyhealth_core::{Proxy, ProxyStatus};
use proxyhealth_engine::Snapshot;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// How many changes are kept for streams that fell behind.
pub(crate) const KEPT: usize = 32;

/// Which change a stream follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// The admin list's (`proxies` events).
    Proxies,
    /// `/api/v2/regions`'s (`regions` events).
    Regions,
}

/// One generation's change, rendered for both views.
pub(crate) struct Delta {
    /// The generation it starts from.
    pub from: u64,
    /// The generation it leads to.
    pub to: u64,
    /// The `proxies` event's data (a [`ProxyDelta`]).
    pub proxies: Bytes,
    /// The `regions` event's data (a [`RegionDelta`]).
    pub regions: Bytes,
}

impl Delta {
    /// The event data of `view`.
    pub fn data(&self, view: View) -> &Bytes {
        match view {
            View::Proxies => &self.proxies,
            View::Regions => &self.regions,
        }
    }
}

/// What a stream sends next.
pub(crate) enum Next {
    /// Nothing new since its generation.
    Nothing,
    /// These changes, in order, the last leading to the newest generation.
    Deltas(Vec<Arc<Delta>>),
    /// It fell too far behind: its client reads the list again; later
    /// changes start from this generation.
    Resync(u64),
}

/// The changes of the last generations, shared by the event streams.
#[derive(Default)]
pub(crate) struct LiveDeltas {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The snapshot the newest change leads to.
    base: Option<Arc<Snapshot>>,
    /// Each proxy's status as the streams' clients hold it: the last one a
    /// change carried (or the base's, for a proxy no change carried yet).
    /// Small latency moves are measured from it, so they never add up unseen.
    sent: HashMap<Uuid, Arc<ProxyStatus>>,
    /// The newest changes, oldest first.
    kept: VecDeque<Arc<Delta>>,
}

impl LiveDeltas {
    /// Where a new stream starts: the generation of `snapshot` or a newer
    /// one, from which the next changes will be worked out.
    pub fn start(&self, snapshot: &Arc<Snapshot>) -> Result<u64, serde_json::Error> {
        let mut inner = self.lock();
        inner.advance(snapshot)?;
        Ok(inner.generation())
    }

    /// What a stream at generation `at` sends now that `snapshot` is published.
    pub fn next(&self, snapshot: &Arc<Snapshot>, at: u64) -> Result<Next, serde_json::Error> {
        let mut inner = self.lock();
        inner.advance(snapshot)?;
        let newest = inner.generation();
        if at == newest {
            return Ok(Next::Nothing);
        }
        let Some(first) = inner.kept.iter().position(|delta| delta.from == at) else {
            return Ok(Next::Resync(newest));
        };
        let mut chain = Vec::new();
        let mut expected = at;
        for delta in inner.kept.iter().skip(first) {
            if delta.from != expected {
                return Ok(Next::Resync(newest));
            }
            expected = delta.to;
            chain.push(Arc::clone(delta));
        }
        Ok(Next::Deltas(chain))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves at worst a missing change,
        // which streams see as a gap (a resync): the data is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Inner {
    fn generation(&self) -> u64 {
        self.base.as_ref().map_or(0, |base| base.generation())
    }

    /// Works out the change to `snapshot` when it is newer than the base.
    fn advance(&mut self, snapshot: &Arc<Snapshot>) -> Result<(), serde_json::Error> {
        let Some(base) = &self.base else {
            self.base = Some(Arc::clone(snapshot));
            self.sent = snapshot.statuses().clone();
            return Ok(());
        };
        if snapshot.generation() <= base.generation() {
            return Ok(());
        }
        let delta = Arc::new(delta(base, snapshot, &mut self.sent)?);
        if self.kept.len() == KEPT {
            self.kept.pop_front();
        }
        self.kept.push_back(delta);
        self.base = Some(Arc::clone(snapshot));
        Ok(())
    }
}

/// The change from `old` to `new`, rendered for both views; `sent` (what the
/// clients hold) is brought up to date with it.
pub(crate) fn delta(
    old: &Snapshot,
    new: &Snapshot,
    sent: &mut HashMap<Uuid, Arc<ProxyStatus>>,
) -> Result<Delta, serde_json::Error> {
    let checked_at = sweep_started(old, new);
    let mut proxies = Vec::new();
    let mut latencies = Vec::new();
    let mut regions = Vec::new();
    for (id, status) in new.statuses() {
        let before = old.get(id);
        if before.is_some_and(|before| Arc::ptr_eq(before, status)) {
            continue;
        }
        let held = sent
            .get(id)
            .filter(|_| checked_at == Some(status.checked_at))
            .map(|held| shown_change(held, status));
        match held {
            Some(Shown::Alike) => {}
            Some(Shown::Latency) => {
                latencies.push(LatencyChange {
                    id: *id,
                    latency_ms: status
                        .latency
                        .map_or(0.0, |latency| latency.as_secs_f64() * 1000.0),
                });
                sent.insert(*id, Arc::clone(status));
            }
            Some(Shown::Changed) | None => {
                sent.insert(*id, Arc::clone(status));
                let mut proxy = WorkspaceProxy::with_engine_status(&status.proxy, Some(status));
                proxy.uptime = None;
                proxies.push(proxy);
            }
        }
        let region_changed = before.is_none_or(|before| {
            !in_regions(&before.proxy)
                || before.status.is_healthy() != status.status.is_healthy()
                || !region_alike(&before.proxy, &status.proxy)
        });
        if region_changed && in_regions(&status.proxy) {
            regions.push(Region::of(&status.proxy, status.status));
        }
    }
    let mut removed: Vec<_> = old
        .statuses()
        .keys()
        .filter(|id| !new.statuses().contains_key(id))
        .copied()
        .collect();
    removed.sort_unstable();
    for id in &removed {
        sent.remove(id);
    }
    // Regions also lose the proxies that turned derp-only (or deleted).
    let mut regions_removed = removed.clone();
    for (id, status) in new.statuses() {
        if !in_regions(&status.proxy) && old.get(id).is_some_and(|before| in_regions(&before.proxy))
        {
            regions_removed.push(*id);
        }
    }
    proxies.sort_by_key(|proxy| proxy.region.id);
    latencies.sort_by_key(|change| change.id);
    regions.sort_by_key(|region| region.id);
    let (from, to) = (old.generation(), new.generation());
    let proxies = serde_json::to_vec(&ProxyDelta {
        from,
        generation: to,
        checked_at,
        changed: proxies,
        latencies,
        removed: removed.clone(),
    })?;
    let regions = serde_json::to_vec(&RegionDelta {
        from,
        generation: to,
        changed: regions,
        removed: regions_removed,
    })?;
    Ok(Delta {
        from,
        to,
        proxies: Bytes::from(proxies),
        regions: Bytes::from(regions),
    })
}

/// When the sweep that made `new` started, if a sweep ran since `old`.
fn sweep_started(old: &Snapshot, new: &Snapshot) -> Option<OffsetDateTime> {
    let now = new.last_sweep()?.started_at;
    (old.last_sweep().map(|info| info.started_at) != Some(now)).then_some(now)
}

/// How a proxy checked again by a sweep differs from what the clients hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    /// Alike, but for when it was checked, its history (one more result,
    /// the same as the last) and a small change of latency.
    Alike,
    /// As [`Shown::Alike`], but the latency moved beyond the tolerance.
    Latency,
    /// Something else shown changed: the proxy is sent whole.
    Changed,
}

/// How `now` differs from `held`, the state the clients hold.
fn shown_change(held: &ProxyStatus, now: &ProxyStatus) -> Shown {
    let alike_but_latency = held.status == now.status
        && held.last_result == now.last_result
        && held.status_changed_at == now.status_changed_at
        && held.report == now.report
        && held.tls_not_after == now.tls_not_after
        && held.tls_days_left == now.tls_days_left
        && now
            .history
            .last()
            .is_none_or(|point| point.status == now.last_result)
        && proxy_alike(&held.proxy, &now.proxy);
    if !alike_but_latency {
        Shown::Changed
    } else if latency_alike(held.latency, now.latency) {
        Shown::Alike
    } else if now.latency.is_some() {
        Shown::Latency
    } else {
        // a latency gone (the check saw no answer) is not a number to send
        Shown::Changed
    }
}

/// Whether a latency is close enough to the one the clients hold: within
/// [`LATENCY_TOLERANCE_MS`], or within a factor of four (a check's latency
/// during a sweep jitters with the machine's load: a proxy going from 5 ms
/// to 500 ms is news, one from 3 ms to 45 ms on a busy machine is not).
fn latency_alike(held: Option<Duration>, now: Option<Duration>) -> bool {
    match (held, now) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            let (a, b) = (a.as_secs_f64() * 1000.0, b.as_secs_f64() * 1000.0);
            (a - b).abs() < LATENCY_TOLERANCE_MS || a.max(b) < 4.0 * a.min(b)
        }
        _ => false,
    }
}

/// The proxy rows alike in what the list shows, but for `updated_at` (each
/// registration moves it).
fn proxy_alike(a: &Proxy, b: &Proxy) -> bool {
    region_alike(a, b)
        && a.created_at == b.created_at
        && a.deleted == b.deleted
        && a.derp_enabled == b.derp_enabled
        && a.derp_only == b.derp_only
        && a.version == b.version
}

/// The proxy rows alike in what a region shows.
fn region_alike(a: &Proxy, b: &Proxy) -> bool {
    a.name == b.name
        && a.display_name == b.display_name
        && a.icon == b.icon
        && a.url == b.url
        && a.wildcard_hostname == b.wildcard_hostname
}

/// Whether `/api/v2/regions` lists the proxy.
fn in_regions(proxy: &Proxy) -> bool {
    !proxy.derp_only && !proxy.deleted
}

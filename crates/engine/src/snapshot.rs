//! The immutable snapshot readers see, and how new results merge into it.

use crate::sweep::CheckResult;
use crate::vantages::Judge;
use proxyhealth_core::{HISTORY_LEN, HistoryPoint, ProxyHost, ProxyStatus, Status, VantageReading};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// Everything the engine knows, published as one unit so that the status map and
/// the host list can never be seen out of step (the seed stored them separately).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    statuses: HashMap<Uuid, Arc<ProxyStatus>>,
    /// Shared between snapshots whose proxies' URLs did not change (a
    /// re-judgement only changes statuses), so such a merge copies no host.
    hosts: Arc<[ProxyHost]>,
    generation: u64,
    last_sweep: Option<SweepInfo>,
    /// The proxies whose statuses the merge that made this snapshot
    /// replaced, when it names them (a re-judgement); `None` for a merge
    /// that may have replaced any. What is compared with the snapshot
    /// before then follows the merge, not the fleet.
    replaced: Option<Arc<[Uuid]>>,
}

/// When the last successful sweep ran and how long it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepInfo {
    /// When it started (every proxy's `checked_at` in it).
    pub started_at: OffsetDateTime,
    /// How long it took, from the start to the last result.
    pub duration: Duration,
    /// How many proxies it checked.
    pub proxies: usize,
}

/// What a read of a shared view (a cluster's stored results) holds, and so
/// how it is merged into the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewRead {
    /// Results newer than the view: each replaces its proxy's status unless
    /// the snapshot holds a newer one (a higher `check_seq`, which a cluster
    /// sets to the result's generation).
    Since,
    /// Every result, as of the generation `as_of`, read while newer results
    /// may have been published: a proxy keeps a status newer than the one
    /// read, and a proxy missing from the read is dropped (gone) unless its
    /// status is newer than `as_of`.
    Whole {
        /// The newest generation the read covers.
        as_of: u64,
    },
    /// Every result, replacing the whole set (at start, after the
    /// notification connection was lost, or the database was restored).
    Replace,
}

/// A status change that a merge made, for the log line of each change.
#[derive(Debug, Clone)]
pub struct Change {
    /// The proxy's status after the merge.
    pub status: Arc<ProxyStatus>,
    /// Its status before (`None` for a proxy seen for the first time).
    pub from: Option<Status>,
}

/// One vantage's readings over the fleet, as [`Snapshot::vantage_freshness`]
/// sums them up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VantageFreshness {
    /// When its newest reading (of any proxy) was checked.
    pub newest: OffsetDateTime,
    /// Whether any of its readings is fresh.
    pub fresh: bool,
}

impl Snapshot {
    /// The status of every non-deleted proxy, by id. Empty before the first sweep.
    pub fn statuses(&self) -> &HashMap<Uuid, Arc<ProxyStatus>> {
        &self.statuses
    }

    /// The status of one proxy.
    pub fn get(&self, id: &Uuid) -> Option<&Arc<ProxyStatus>> {
        self.statuses.get(id)
    }

    /// The hosts of every registered proxy whatever its status (as the seed, which
    /// the security headers need: a proxy may come back at any sweep), sorted by host.
    /// Unregistered proxies and URLs that do not parse are left out.
    pub fn hosts(&self) -> &[ProxyHost] {
        &self.hosts
    }

    /// The proxies whose statuses may differ from the snapshot this one was
    /// merged from: those the merge named, or every proxy.
    pub(crate) fn replaced_ids(&self) -> Box<dyn Iterator<Item = &Uuid> + '_> {
        match &self.replaced {
            Some(ids) => Box::new(ids.iter()),
            None => Box::new(self.statuses.keys()),
        }
    }

    /// Increases by one with every stored snapshot; 0 before the first.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The last successful sweep, if any.
    pub fn last_sweep(&self) -> Option<SweepInfo> {
        self.last_sweep
    }

    /// How many proxies are in each status.
    pub fn counts(&self) -> HashMap<Status, usize> {
        let mut counts: HashMap<Status, usize> = Status::ALL.iter().map(|s| (*s, 0)).collect();
        for status in self.statuses.values() {
            *counts.entry(status.status).or_default() += 1;
        }
        counts
    }

    /// Each vantage with a reading of some proxy, by name: when its newest
    /// reading was checked, and whether any of its readings is fresh (then
    /// it counts in the quorum). What `proxyhealth_vantage_last_result_timestamp_seconds`
    /// and `proxyhealth_vantage_up` export, and what the vantages list
    /// calls live, so the two always agree.
    pub fn vantage_freshness(&self) -> HashMap<&str, VantageFreshness> {
        let mut vantages: HashMap<&str, VantageFreshness> = HashMap::new();
        for status in self.statuses.values() {
            for reading in &status.vantages {
                let seen = vantages
                    .entry(reading.vantage.as_str())
                    .or_insert(VantageFreshness {
                        newest: reading.checked_at,
                        fresh: false,
                    });
                seen.newest = seen.newest.max(reading.checked_at);
                seen.fresh |= !reading.stale;
            }
        }
        vantages
    }

    /// The snapshot after a full sweep: its proxies replace the old set (a proxy no
    /// longer listed is gone), but a result never replaces a newer one (a re-check
    /// that started after the sweep).
    pub(crate) fn after_sweep(
        &self,
        results: Vec<CheckResult>,
        info: SweepInfo,
        judge: &Judge<'_>,
        sweep_seq: u64,
    ) -> (Snapshot, Vec<Change>) {
        let mut statuses = HashMap::with_capacity(results.len());
        let mut changes = Vec::new();
        for result in results {
            let id = result.proxy.id;
            let previous = self.statuses.get(&id);
            match previous {
                Some(previous) if previous.check_seq > result.check_seq => {
                    statuses.insert(id, Arc::clone(previous));
                }
                _ => {
                    let merged = Arc::new(merge(previous.map(Arc::as_ref), result, judge));
                    note_change(previous, &merged, &mut changes);
                    statuses.insert(id, merged);
                }
            }
        }
        for (id, previous) in &self.statuses {
            if previous.check_seq > sweep_seq && !statuses.contains_key(id) {
                statuses.insert(*id, Arc::clone(previous));
            }
        }
        let snapshot = Snapshot {
            hosts: hosts_of(&statuses),
            statuses,
            generation: self.generation + 1,
            last_sweep: Some(info),
            replaced: None,
        };
        (snapshot, changes)
    }

    /// The snapshot after re-checking one proxy, or `None` when the snapshot
    /// already holds a newer result for it.
    pub(crate) fn after_recheck(
        &self,
        result: CheckResult,
        judge: &Judge<'_>,
    ) -> Option<(Snapshot, Option<Change>)> {
        let id = result.proxy.id;
        let previous = self.statuses.get(&id);
        if previous.is_some_and(|previous| previous.check_seq > result.check_seq) {
            return None;
        }
        let merged = Arc::new(merge(previous.map(Arc::as_ref), result, judge));
        let mut changes = Vec::new();
        note_change(previous, &merged, &mut changes);
        let mut statuses = self.statuses.clone();
        statuses.insert(id, merged);
        Some((
            Snapshot {
                hosts: hosts_of(&statuses),
                statuses,
                generation: self.generation + 1,
                last_sweep: self.last_sweep,
                replaced: Some(Arc::from([id])),
            },
            changes.pop(),
        ))
    }

    /// One proxy's status after `result`, merged with its status here.
    pub(crate) fn merged(&self, result: CheckResult, judge: &Judge<'_>) -> ProxyStatus {
        let previous = self.statuses.get(&result.proxy.id);
        merge(previous.map(Arc::as_ref), result, judge)
    }

    /// The snapshot after judging `ids` again at `now` (another vantage's
    /// results for them arrived), or `None` when none of them changed.
    pub(crate) fn rejudged(
        &self,
        ids: &[Uuid],
        judge: &Judge<'_>,
        now: OffsetDateTime,
    ) -> Option<(Snapshot, Vec<Change>)> {
        let mut statuses: Option<HashMap<Uuid, Arc<ProxyStatus>>> = None;
        let mut changes = Vec::new();
        let mut replaced = Vec::new();
        for id in ids {
            let Some(previous) = self.statuses.get(id) else {
                continue;
            };
            let Some(next) = judge.rejudge(previous, now) else {
                continue;
            };
            let next = Arc::new(next);
            note_change(Some(previous), &next, &mut changes);
            statuses
                .get_or_insert_with(|| self.statuses.clone())
                .insert(*id, next);
            replaced.push(*id);
        }
        let statuses = statuses?;
        Some((
            Snapshot {
                hosts: Arc::clone(&self.hosts),
                statuses,
                generation: self.generation + 1,
                last_sweep: self.last_sweep,
                replaced: Some(replaced.into()),
            },
            changes,
        ))
    }

    /// The snapshot after statuses read from a shared view (see [`ViewRead`]).
    pub(crate) fn with_view(
        &self,
        statuses: Vec<ProxyStatus>,
        read: ViewRead,
        info: SweepInfo,
    ) -> (Snapshot, Vec<Change>) {
        let mut next = match read {
            ViewRead::Since => self.statuses.clone(),
            ViewRead::Replace => HashMap::with_capacity(statuses.len()),
            // what the read could not have seen: results newer than it
            ViewRead::Whole { as_of } => self
                .statuses
                .iter()
                .filter(|(_, status)| status.check_seq > as_of)
                .map(|(id, status)| (*id, Arc::clone(status)))
                .collect(),
        };
        let keep_newer = !matches!(read, ViewRead::Replace);
        let mut changes = Vec::new();
        for status in statuses {
            let id = status.proxy.id;
            let previous = self.statuses.get(&id);
            if keep_newer && previous.is_some_and(|previous| previous.check_seq > status.check_seq)
            {
                if let Some(previous) = previous {
                    next.insert(id, Arc::clone(previous));
                }
                continue;
            }
            let status = Arc::new(status);
            note_change(previous, &status, &mut changes);
            next.insert(id, status);
        }
        let snapshot = Snapshot {
            hosts: hosts_of(&next),
            statuses: next,
            generation: self.generation + 1,
            last_sweep: Some(info),
            replaced: None,
        };
        (snapshot, changes)
    }

    /// The snapshot without a proxy (deleted), or `None` when it was not there.
    pub(crate) fn without(&self, id: &Uuid) -> Option<Snapshot> {
        if !self.statuses.contains_key(id) {
            return None;
        }
        let mut statuses = self.statuses.clone();
        statuses.remove(id);
        Some(Snapshot {
            hosts: hosts_of(&statuses),
            statuses,
            generation: self.generation + 1,
            last_sweep: self.last_sweep,
            replaced: None,
        })
    }
}

fn note_change(
    previous: Option<&Arc<ProxyStatus>>,
    merged: &Arc<ProxyStatus>,
    changes: &mut Vec<Change>,
) {
    let from = previous.map(|previous| previous.status);
    if from != Some(merged.status) {
        changes.push(Change {
            status: Arc::clone(merged),
            from,
        });
    }
}

fn hosts_of(statuses: &HashMap<Uuid, Arc<ProxyStatus>>) -> Arc<[ProxyHost]> {
    let mut hosts: Vec<ProxyHost> = statuses
        .values()
        .filter_map(|status| status.host.clone())
        .collect();
    hosts.sort_by(|a, b| {
        a.host
            .cmp(&b.host)
            .then_with(|| a.app_host.cmp(&b.app_host))
    });
    hosts.into()
}

/// One proxy's new status from its previous one and a new result: the own
/// vantage's result damped by hysteresis, then judged with the other
/// vantages' readings when there are any.
fn merge(previous: Option<&ProxyStatus>, result: CheckResult, judge: &Judge<'_>) -> ProxyStatus {
    let raw = result.verdict.status;
    let own_before = previous.map(|p| match p.vantages.first() {
        Some(own) => (own.status, own.last_result, own.streak),
        None => (p.status, p.last_result, p.streak),
    });
    let streak = match own_before {
        Some((_, last_result, streak)) if last_result == raw => streak.saturating_add(1),
        _ => 1,
    };
    let own_status = judge
        .hysteresis
        .next(own_before.map(|(status, _, _)| status), raw, streak);
    let latency_ms = result
        .latency
        .map(|latency| u32::try_from(latency.as_millis()).unwrap_or(u32::MAX));
    let (status, report, vantages) = if judge.remote.of(&result.proxy.id).is_empty() {
        (own_status, result.verdict.report, Vec::new())
    } else {
        let own = VantageReading {
            vantage: judge.own.clone(),
            status: own_status,
            last_result: raw,
            streak,
            latency_ms,
            checked_at: result.checked_at,
            report: result.verdict.report,
            stale: false,
        };
        let judged = judge.judge(&result.proxy.id, own, result.checked_at);
        (judged.status, judged.report, judged.vantages)
    };
    let status_changed_at = match previous {
        Some(previous) if previous.status == status => previous.status_changed_at,
        _ => result.checked_at,
    };
    let kept = previous.map_or(&[][..], |previous| {
        let keep = previous.history.len().min(HISTORY_LEN - 1);
        &previous.history[previous.history.len() - keep..]
    });
    let mut history = Vec::with_capacity(kept.len() + 1);
    history.extend_from_slice(kept);
    history.push(HistoryPoint {
        status: raw,
        checked_at: result.checked_at,
        latency_ms,
    });
    ProxyStatus {
        proxy: result.proxy,
        host: result.host,
        status,
        last_result: raw,
        streak,
        report,
        checked_at: result.checked_at,
        latency: result.latency,
        status_changed_at,
        history,
        check_seq: result.check_seq,
        tls_not_after: result.tls_not_after,
        tls_days_left: result.tls_days_left,
        vantages,
    }
}

//! History in memory, for the memory store: the same rules as the databases
//! (a batch is applied under one lock, as one transaction), nothing survives
//! the process.

use std::collections::HashMap;

use parking_lot::Mutex;
use proxyhealth_core::{HistoryBatch, PartialChange, Rollup, Transition};
use time::OffsetDateTime;
use uuid::Uuid;

use super::cache::hour_of;
use super::{HistoryStore, HourBucket, Pruned, UptimeCounts, merge_hours, settle};
use crate::StoreError;
use crate::partial::PartialOutage;

/// The memory store's history.
#[derive(Debug, Default)]
pub(crate) struct MemoryHistory {
    inner: Mutex<Inner>,
    /// The notification outbox, written with each batch.
    pub(crate) outbox: std::sync::Arc<crate::outbox::memory::MemoryOutbox>,
    /// The partial outages.
    partial: crate::partial::memory::MemoryPartial,
}

impl MemoryHistory {
    /// An empty history whose outbox is written by `policy`, on `clock`.
    pub(crate) fn with_outbox(
        policy: crate::outbox::OutboxPolicy,
        clock: crate::StoreClock,
    ) -> Self {
        MemoryHistory {
            inner: Mutex::default(),
            partial: Default::default(),
            outbox: std::sync::Arc::new(crate::outbox::memory::MemoryOutbox::new(policy, clock)),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Transitions in the order they were recorded.
    transitions: Vec<Transition>,
    rollups: HashMap<(Uuid, i64), Rollup>,
}

impl Inner {
    fn last_of(&self, proxy_id: Uuid, before: Option<OffsetDateTime>) -> Option<&Transition> {
        self.transitions
            .iter()
            .filter(|t| t.proxy_id == proxy_id && before.is_none_or(|before| t.at < before))
            .max_by_key(|t| t.at)
    }
}

#[async_trait::async_trait]
impl HistoryStore for MemoryHistory {
    async fn record_batch(&self, batch: HistoryBatch) -> Result<Vec<Transition>, StoreError> {
        let mut inner = self.inner.lock();
        for check in &batch.checks {
            inner
                .rollups
                .entry((check.proxy_id, hour_of(check.at)))
                .or_default()
                .add(check.result, check.latency);
        }
        let mut last = HashMap::new();
        for t in &batch.transitions {
            if let Some(stored) = inner.last_of(t.proxy_id, None) {
                last.insert(t.proxy_id, (stored.to, stored.at));
            }
        }
        let recorded = settle(batch.transitions, &mut last);
        inner.transitions.extend(recorded.iter().cloned());
        self.outbox.write(&recorded);
        Ok(recorded)
    }

    async fn buckets(
        &self,
        proxy_id: Uuid,
        since: OffsetDateTime,
    ) -> Result<Vec<HourBucket>, StoreError> {
        let from = hour_of(since);
        let inner = self.inner.lock();
        let rows = inner
            .rollups
            .iter()
            .filter(|((id, hour), _)| *id == proxy_id && *hour >= from)
            .map(|((_, hour), rollup)| (*hour, rollup.clone()))
            .collect();
        merge_hours(rows)
    }

    async fn transitions(
        &self,
        proxy_id: Option<Uuid>,
        since: OffsetDateTime,
    ) -> Result<Vec<Transition>, StoreError> {
        let inner = self.inner.lock();
        let mut found: Vec<Transition> = inner
            .transitions
            .iter()
            .filter(|t| proxy_id.is_none_or(|id| t.proxy_id == id) && t.at >= since)
            .cloned()
            .collect();
        found.sort_by_key(|t| t.at);
        Ok(found)
    }

    async fn last_before(
        &self,
        proxy_id: Option<Uuid>,
        at: OffsetDateTime,
    ) -> Result<Vec<Transition>, StoreError> {
        let inner = self.inner.lock();
        let mut ids: Vec<Uuid> = inner.transitions.iter().map(|t| t.proxy_id).collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(ids
            .into_iter()
            .filter(|id| proxy_id.is_none_or(|wanted| wanted == *id))
            .filter_map(|id| inner.last_of(id, Some(at)).cloned())
            .collect())
    }

    async fn uptimes(
        &self,
        since: OffsetDateTime,
        until: Option<OffsetDateTime>,
    ) -> Result<HashMap<Uuid, UptimeCounts>, StoreError> {
        let from = hour_of(since);
        let to = until.map_or(i64::MAX, hour_of);
        let inner = self.inner.lock();
        let mut counts: HashMap<Uuid, UptimeCounts> = HashMap::new();
        for ((id, hour), rollup) in &inner.rollups {
            if *hour >= from && *hour < to {
                let entry = counts.entry(*id).or_default();
                entry.ok += rollup.ok;
                entry.checks += rollup.checks;
            }
        }
        Ok(counts)
    }

    async fn prune(&self, before: OffsetDateTime, limit: u32) -> Result<Pruned, StoreError> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let from = hour_of(before);
        let mut inner = self.inner.lock();
        let old: Vec<(Uuid, i64)> = inner
            .rollups
            .keys()
            .filter(|(_, hour)| *hour < from)
            .take(limit)
            .copied()
            .collect();
        for key in &old {
            inner.rollups.remove(key);
        }
        // a transition is kept while it is its proxy's newest
        let mut newer_seen: std::collections::HashSet<Uuid> = std::collections::HashSet::new();
        let mut keep = vec![true; inner.transitions.len()];
        let mut removed = 0;
        for (index, t) in inner.transitions.iter().enumerate().rev() {
            let has_newer = !newer_seen.insert(t.proxy_id);
            if has_newer && t.at < before && removed < limit {
                keep[index] = false;
                removed += 1;
            }
        }
        let mut index = 0;
        inner.transitions.retain(|_| {
            let kept = keep[index];
            index += 1;
            kept
        });
        drop(inner);
        self.partial.prune(before, limit);
        Ok(Pruned {
            transitions: u64::try_from(removed).unwrap_or(u64::MAX),
            rollups: u64::try_from(old.len()).unwrap_or(u64::MAX),
        })
    }

    async fn record_partial(
        &self,
        changes: Vec<PartialChange>,
        notify: bool,
    ) -> Result<(), StoreError> {
        let notices = self.partial.record(changes, notify);
        self.outbox.write(&notices);
        Ok(())
    }

    async fn partial_outages(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<PartialOutage>, StoreError> {
        Ok(self.partial.since(since))
    }
}

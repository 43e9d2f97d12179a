//! [`super::VantageStore`] in memory, for the memory store.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use proxyhealth_core::{
    CheckRecord, Rollup, VantageHistory, VantageName, VantageReading, VantageTransition,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    AgentSighting, AgentTokenError, MAX_AGENTS_PER_VANTAGE, MintedVantage, Vantage, VantageError,
    VantageStore, VantageWindow, changing, check_secret, checked_name, history_key, mint,
    newest_per_proxy, parse,
};
use crate::history::cache::hour_of;
use crate::{StoreClock, StoreError};

/// The memory store's vantages.
#[derive(Debug, Default)]
pub(crate) struct MemoryVantages {
    clock: StoreClock,
    /// Whether a proxy is live in the store these vantages belong to.
    live: ProxyLiveness,
    /// Vantages and readings under one lock, so a reading is never kept for a
    /// vantage deleted meanwhile.
    tables: Mutex<Tables>,
}

#[derive(Debug, Default)]
struct Tables {
    /// Each vantage with the hash of its token's secret.
    vantages: Vec<(Vantage, Vec<u8>)>,
    /// Per vantage id, its newest reading of each proxy.
    readings: HashMap<Uuid, HashMap<Uuid, VantageReading>>,
    /// Per vantage's history key (its lowercased name), its own history.
    history: HashMap<String, VantageBook>,
    /// Per vantage id, its agents by id.
    agents: HashMap<Uuid, HashMap<String, AgentSighting>>,
}

/// One vantage's history of every proxy.
#[derive(Debug, Default)]
struct VantageBook {
    /// Its status changes in the order they were recorded.
    transitions: Vec<VantageTransition>,
    /// Its checks by (proxy, hour).
    rollups: HashMap<(Uuid, i64), Rollup>,
}

impl VantageBook {
    /// Adds `checks` to the rollups and records `transitions` as the
    /// vantage named `name`'s.
    fn add(
        &mut self,
        name: &VantageName,
        checks: &[CheckRecord],
        transitions: &[&VantageTransition],
    ) {
        let stored = super::history::keys_of(checks)
            .into_iter()
            .filter_map(|key| self.rollups.get(&key).map(|rollup| (key, rollup.clone())))
            .collect();
        for (key, rollup) in super::history::staged(checks, stored) {
            self.rollups.insert(key, rollup);
        }
        self.transitions
            .extend(transitions.iter().map(|transition| VantageTransition {
                vantage: name.clone(),
                ..(*transition).clone()
            }));
    }
}

/// Asks the memory store whether a proxy exists and is not deleted (a
/// function, so this module needs nothing of the store's).
#[derive(Clone, Default)]
pub(crate) struct ProxyLiveness(Option<Arc<IsLive>>);

/// Whether the proxy with this id exists and is not deleted.
type IsLive = dyn Fn(&Uuid) -> bool + Send + Sync;

impl ProxyLiveness {
    /// Liveness as `live` tells it.
    pub(crate) fn new(live: impl Fn(&Uuid) -> bool + Send + Sync + 'static) -> Self {
        ProxyLiveness(Some(Arc::new(live)))
    }

    /// Whether proxy `id` is live; every proxy is without a store to ask.
    fn is_live(&self, id: &Uuid) -> bool {
        self.0.as_ref().is_none_or(|live| live(id))
    }
}

impl std::fmt::Debug for ProxyLiveness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProxyLiveness")
    }
}

impl MemoryVantages {
    /// No vantage yet; times read from `clock`, proxies' liveness from `live`.
    pub(crate) fn new(clock: StoreClock, live: ProxyLiveness) -> Self {
        MemoryVantages {
            clock,
            live,
            tables: Mutex::default(),
        }
    }

    /// Deletes every vantage's reading of proxy `id` (it was deleted).
    pub(crate) fn forget_proxy(&self, id: &Uuid) {
        for readings in self.tables.lock().readings.values_mut() {
            readings.remove(id);
        }
    }
}

fn find<'a>(rows: &'a mut [(Vantage, Vec<u8>)], key: &str) -> Option<&'a mut (Vantage, Vec<u8>)> {
    rows.iter_mut()
        .find(|(v, _)| v.name.as_str().to_lowercase() == key)
}

#[async_trait::async_trait]
impl VantageStore for MemoryVantages {
    async fn create(&self, name: &str) -> Result<MintedVantage, VantageError> {
        let (name, key) = checked_name(name)?;
        let mut tables = self.tables.lock();
        if find(&mut tables.vantages, &key).is_some() {
            return Err(VantageError::Taken(name.to_string()));
        }
        let id = Uuid::new_v4();
        let minted = mint(id)?;
        let now = self.clock.now();
        let vantage = Vantage {
            id,
            name,
            created_at: now,
            token_minted_at: now,
        };
        tables
            .vantages
            .push((vantage.clone(), minted.hashed_secret));
        Ok(MintedVantage {
            vantage,
            token: minted.token,
        })
    }

    async fn list(&self) -> Result<Vec<Vantage>, VantageError> {
        let mut all: Vec<Vantage> = self
            .tables
            .lock()
            .vantages
            .iter()
            .map(|(v, _)| v.clone())
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    async fn delete(&self, name: &str) -> Result<(), VantageError> {
        let key = name.to_lowercase();
        let mut tables = self.tables.lock();
        let Some(at) = tables
            .vantages
            .iter()
            .position(|(v, _)| v.name.as_str().to_lowercase() == key)
        else {
            return Err(VantageError::NotFound(name.to_owned()));
        };
        let (gone, _) = tables.vantages.remove(at);
        tables.readings.remove(&gone.id);
        tables.agents.remove(&gone.id);
        tables.history.remove(&key);
        Ok(())
    }

    async fn rotate_token(&self, name: &str) -> Result<MintedVantage, VantageError> {
        let key = name.to_lowercase();
        let mut tables = self.tables.lock();
        let now = self.clock.now();
        let (vantage, hash) = find(&mut tables.vantages, &key)
            .ok_or_else(|| VantageError::NotFound(name.to_owned()))?;
        let minted = mint(vantage.id)?;
        *hash = minted.hashed_secret;
        vantage.token_minted_at = now;
        Ok(MintedVantage {
            vantage: vantage.clone(),
            token: minted.token,
        })
    }

    async fn verify_token(&self, token: &str) -> Result<Vantage, AgentTokenError> {
        let (id, secret) = parse(token)?;
        let tables = self.tables.lock();
        let (vantage, hash) = tables
            .vantages
            .iter()
            .find(|(v, _)| v.id == id)
            .ok_or(AgentTokenError::UnknownVantage)?;
        check_secret(secret, hash)?;
        Ok(vantage.clone())
    }

    async fn keep_readings(
        &self,
        vantage: &VantageName,
        readings: &[(Uuid, VantageReading)],
    ) -> Result<usize, VantageError> {
        let key = vantage.as_str().to_lowercase();
        // liveness is asked under our lock, so a proxy deleted meanwhile is
        // either seen deleted here or forgotten after (the store never holds
        // its lock while taking ours)
        let mut tables = self.tables.lock();
        let live: Vec<&(Uuid, VantageReading)> = newest_per_proxy(readings)
            .into_iter()
            .filter(|(id, _)| self.live.is_live(id))
            .collect();
        let (found, _) = find(&mut tables.vantages, &key)
            .ok_or_else(|| VantageError::NotFound(vantage.to_string()))?;
        let (id, name) = (found.id, found.name.clone());
        let kept = tables.readings.entry(id).or_default();
        let mut written = 0;
        for (proxy, reading) in live {
            if kept
                .get(proxy)
                .is_some_and(|old| old.checked_at > reading.checked_at)
            {
                continue;
            }
            let mut reading = reading.clone();
            reading.vantage = name.clone();
            kept.insert(*proxy, reading);
            written += 1;
        }
        Ok(written)
    }

    async fn readings(&self) -> Result<Vec<(Uuid, VantageReading)>, VantageError> {
        let tables = self.tables.lock();
        let mut vantages: Vec<&Vantage> = tables.vantages.iter().map(|(v, _)| v).collect();
        vantages.sort_by(|a, b| a.name.cmp(&b.name));
        let mut all = Vec::new();
        for vantage in vantages {
            let Some(kept) = tables.readings.get(&vantage.id) else {
                continue;
            };
            let mut of_vantage: Vec<(Uuid, VantageReading)> = kept
                .iter()
                .map(|(proxy, reading)| (*proxy, reading.clone()))
                .collect();
            of_vantage.sort_by_key(|(proxy, _)| *proxy);
            all.extend(of_vantage);
        }
        Ok(all)
    }

    async fn keep_agents(&self, seen: &[AgentSighting]) -> Result<(), StoreError> {
        let mut tables = self.tables.lock();
        for sighting in seen {
            let key = sighting.vantage.as_str().to_lowercase();
            let Some((vantage, _)) = find(&mut tables.vantages, &key) else {
                continue;
            };
            let (id, name) = (vantage.id, vantage.name.clone());
            let agents = tables.agents.entry(id).or_default();
            let kept = agents.remove(&sighting.agent);
            let mut merged = super::merged_sighting(kept, sighting.clone());
            merged.vantage = name;
            agents.insert(merged.agent.clone(), merged);
            while agents.len() > MAX_AGENTS_PER_VANTAGE {
                let oldest = agents
                    .values()
                    .min_by(|a, b| (a.last_seen, &b.agent).cmp(&(b.last_seen, &a.agent)))
                    .map(|oldest| oldest.agent.clone());
                if let Some(oldest) = oldest {
                    agents.remove(&oldest);
                }
            }
        }
        Ok(())
    }

    async fn agents(&self) -> Result<Vec<AgentSighting>, StoreError> {
        let tables = self.tables.lock();
        let mut all: Vec<AgentSighting> = tables
            .agents
            .values()
            .flat_map(|agents| agents.values().cloned())
            .collect();
        all.sort_by(|a, b| (a.vantage.as_str(), &a.agent).cmp(&(b.vantage.as_str(), &b.agent)));
        Ok(all)
    }

    async fn record_history(
        &self,
        vantage: &VantageName,
        history: &VantageHistory,
    ) -> Result<(), VantageError> {
        let key = history_key(vantage);
        let mut tables = self.tables.lock();
        let (found, _) = find(&mut tables.vantages, &key)
            .ok_or_else(|| VantageError::NotFound(vantage.to_string()))?;
        let name = found.name.clone();
        let transitions: Vec<&VantageTransition> = history.transitions.iter().collect();
        tables
            .history
            .entry(key)
            .or_default()
            .add(&name, &history.checks, &transitions);
        Ok(())
    }

    async fn record_own_history(
        &self,
        vantage: &VantageName,
        history: &VantageHistory,
    ) -> Result<(), StoreError> {
        let mut tables = self.tables.lock();
        let book = tables.history.entry(history_key(vantage)).or_default();
        let mut last = HashMap::new();
        for t in &book.transitions {
            last.insert(t.proxy_id, t.to);
        }
        let transitions = changing(&history.transitions, last);
        book.add(vantage, &history.checks, &transitions);
        Ok(())
    }

    async fn history(
        &self,
        vantage: &VantageName,
        proxy_id: Uuid,
        since: OffsetDateTime,
    ) -> Result<VantageWindow, VantageError> {
        let key = history_key(vantage);
        let mut tables = self.tables.lock();
        let agents = find(&mut tables.vantages, &key).is_some();
        let Some(book) = tables.history.get(&key) else {
            if agents {
                return Ok(VantageWindow::default());
            }
            return Err(VantageError::NotFound(vantage.to_string()));
        };
        let from = hour_of(since);
        let rows = book
            .rollups
            .iter()
            .filter(|((proxy, hour), _)| *proxy == proxy_id && *hour >= from)
            .map(|((_, hour), rollup)| (*hour, rollup.clone()))
            .collect();
        let mut of_proxy: Vec<&VantageTransition> = book
            .transitions
            .iter()
            .filter(|t| t.proxy_id == proxy_id)
            .collect();
        of_proxy.sort_by_key(|t| t.at);
        Ok(VantageWindow {
            status_at_start: of_proxy.iter().rev().find(|t| t.at < since).map(|t| t.to),
            buckets: crate::history::merge_hours(rows)?,
            transitions: of_proxy
                .into_iter()
                .filter(|t| t.at >= since)
                .map(|t| VantageTransition {
                    vantage: vantage.clone(),
                    ..t.clone()
                })
                .collect(),
        })
    }

    async fn prune_history(&self, before: OffsetDateTime, limit: u32) -> Result<u64, StoreError> {
        let mut left = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut rollups_left = left;
        let from = hour_of(before);
        let mut tables = self.tables.lock();
        let mut pruned = 0u64;
        for book in tables.history.values_mut() {
            let old: Vec<(Uuid, i64)> = book
                .rollups
                .keys()
                .filter(|(_, hour)| *hour < from)
                .take(rollups_left)
                .copied()
                .collect();
            rollups_left -= old.len();
            for key in &old {
                book.rollups.remove(key);
            }
            // a transition is kept while it is its proxy's newest
            let mut newer_seen = std::collections::HashSet::new();
            let mut keep = vec![true; book.transitions.len()];
            for (index, t) in book.transitions.iter().enumerate().rev() {
                let has_newer = !newer_seen.insert(t.proxy_id);
                if has_newer && t.at < before && left > 0 {
                    keep[index] = false;
                    left -= 1;
                    pruned += 1;
                }
            }
            let mut index = 0;
            book.transitions.retain(|_| {
                index += 1;
                keep[index - 1]
            });
            pruned += u64::try_from(old.len()).unwrap_or(u64::MAX);
        }
        Ok(pruned)
    }
}

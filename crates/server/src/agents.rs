//! The agents of each vantage as this process has seen them: who is live,
//! how far behind their results are, and which share of the proxies each
//! checks, so the agents of one vantage share its probing instead of
//! doubling it.
//!
//! Kept in memory, and kept in the store by `agent_sync`: each process
//! writes the agents it saw lately and reads everyone's back, so behind a
//! load balancer every replica knows the agents that reach any of them
//! (their liveness, and the shares of the proxies among them), and a
//! restarted service knows its agents at once.

use prometheus::{IntCounterVec, Opts, Registry};
use proxyhealth_api::wire::AgentInfo;
use proxyhealth_core::VantageName;
use proxyhealth_core::vantage::FRESH_INTERVALS;
use proxyhealth_store::{AgentSighting, MAX_AGENTS_PER_VANTAGE};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// One agent as last seen.
#[derive(Debug, Clone)]
struct Seen {
    version: String,
    address: Option<IpAddr>,
    last_seen: OffsetDateTime,
    assigned: usize,
    lag: Option<Duration>,
    last_result_at: Option<OffsetDateTime>,
    /// Seen by this process since the store was last told.
    unsaved: bool,
}

impl Seen {
    /// The agent as the store keeps it.
    fn sighting(&self, vantage: &VantageName, agent: &str) -> AgentSighting {
        AgentSighting {
            vantage: vantage.clone(),
            agent: agent.to_owned(),
            version: self.version.clone(),
            address: self.address.map(|ip| ip.to_string()),
            last_seen: self.last_seen,
            assigned: u64::try_from(self.assigned).unwrap_or(u64::MAX),
            lag_ms: self
                .lag
                .map(|lag| u64::try_from(lag.as_millis()).unwrap_or(u64::MAX)),
            last_result_at: self.last_result_at,
        }
    }

    /// Takes what `kept` knows that is newer: its sighting when seen later,
    /// its lag when its batch is newer.
    fn merge(&mut self, kept: AgentSighting) {
        if kept.last_seen > self.last_seen {
            self.version = kept.version;
            self.address = kept.address.and_then(|ip| ip.parse().ok());
            self.last_seen = kept.last_seen;
            self.assigned = usize::try_from(kept.assigned).unwrap_or(usize::MAX);
        }
        if kept.last_result_at > self.last_result_at {
            self.lag = kept.lag_ms.map(Duration::from_millis);
            self.last_result_at = kept.last_result_at;
        }
    }
}

/// The agents of every vantage, by vantage and agent id.
#[derive(Debug, Default)]
pub(crate) struct AgentRoster {
    vantages: parking_lot::Mutex<HashMap<VantageName, HashMap<String, Seen>>>,
}

impl AgentRoster {
    /// Notes that `agent` of `vantage` made a request at `now`; the oldest
    /// agent is dropped when the vantage has too many.
    pub(crate) fn seen(
        &self,
        vantage: &VantageName,
        agent: &str,
        version: &str,
        address: Option<IpAddr>,
        now: OffsetDateTime,
    ) {
        let mut vantages = self.vantages.lock();
        let agents = vantages.entry(vantage.clone()).or_default();
        let seen = entry(agents, agent, now);
        version.clone_into(&mut seen.version);
        seen.address = address;
        seen.last_seen = now;
        seen.unsaved = true;
    }

    /// The agents seen since the last call, as the store keeps them; each
    /// is then counted as saved (a failed write is made good by the agent's
    /// next request, within an interval).
    pub(crate) fn unsaved(&self) -> Vec<AgentSighting> {
        let mut vantages = self.vantages.lock();
        let mut out = Vec::new();
        for (vantage, agents) in vantages.iter_mut() {
            for (id, seen) in agents.iter_mut().filter(|(_, seen)| seen.unsaved) {
                seen.unsaved = false;
                out.push(seen.sighting(vantage, id));
            }
        }
        out
    }

    /// Takes the agents the store keeps (seen by any replica): an agent
    /// not known here is added, a known one takes what is newer.
    pub(crate) fn merge(&self, kept: Vec<AgentSighting>) {
        let mut vantages = self.vantages.lock();
        for sighting in kept {
            let agents = vantages.entry(sighting.vantage.clone()).or_default();
            match agents.get_mut(&sighting.agent) {
                Some(seen) => seen.merge(sighting),
                None => {
                    let seen = entry(agents, &sighting.agent, sighting.last_seen);
                    seen.last_seen = OffsetDateTime::UNIX_EPOCH;
                    seen.merge(sighting);
                }
            }
        }
    }

    /// Notes how many proxies `agent` was assigned.
    pub(crate) fn assigned(&self, vantage: &VantageName, agent: &str, count: usize) {
        if let Some(seen) = self
            .vantages
            .lock()
            .get_mut(vantage)
            .and_then(|a| a.get_mut(agent))
        {
            seen.assigned = count;
            seen.unsaved = true;
        }
    }

    /// Notes a batch of results from `agent` that arrived at `now`, whose
    /// oldest check started at `oldest`.
    pub(crate) fn results(
        &self,
        vantage: &VantageName,
        agent: &str,
        oldest: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) {
        if let Some(seen) = self
            .vantages
            .lock()
            .get_mut(vantage)
            .and_then(|a| a.get_mut(agent))
        {
            seen.lag = oldest.map(|oldest| (now - oldest).try_into().unwrap_or(Duration::ZERO));
            seen.last_result_at = Some(now);
            seen.unsaved = true;
        }
    }

    /// The live agents of `vantage` at `now` (seen within two intervals), by id.
    pub(crate) fn live(
        &self,
        vantage: &VantageName,
        now: OffsetDateTime,
        interval: Duration,
    ) -> Vec<String> {
        let vantages = self.vantages.lock();
        let mut live: Vec<String> = vantages
            .get(vantage)
            .into_iter()
            .flatten()
            .filter(|(_, seen)| is_live(seen, now, interval))
            .map(|(id, _)| id.clone())
            .collect();
        live.sort();
        live
    }

    /// The agents of `vantage` as the API lists them, by id, and when the
    /// newest batch of any of them arrived.
    pub(crate) fn describe(
        &self,
        vantage: &VantageName,
        now: OffsetDateTime,
        interval: Duration,
    ) -> (Vec<AgentInfo>, Option<OffsetDateTime>) {
        let vantages = self.vantages.lock();
        let Some(agents) = vantages.get(vantage) else {
            return (Vec::new(), None);
        };
        let mut infos: Vec<AgentInfo> = agents
            .iter()
            .map(|(id, seen)| AgentInfo {
                id: id.clone(),
                version: seen.version.clone(),
                address: seen.address.map(|ip| ip.to_string()),
                last_seen: seen.last_seen,
                live: is_live(seen, now, interval),
                assigned: seen.assigned,
                lag_ms: seen
                    .lag
                    .map(|lag| u64::try_from(lag.as_millis()).unwrap_or(u64::MAX)),
            })
            .collect();
        infos.sort_by(|a, b| a.id.cmp(&b.id));
        let last = agents.values().filter_map(|seen| seen.last_result_at).max();
        (infos, last)
    }

    /// Forgets every agent of `vantage` (it was deleted).
    pub(crate) fn forget(&self, vantage: &VantageName) {
        self.vantages.lock().remove(vantage);
    }
}

/// `proxyhealth_agent_results_total{vantage, outcome}`: the results agents
/// sent, taken (`accepted`) or refused by reason (`not_assigned`, `older`,
/// `future`; `oversized` counts whole batches).
#[derive(Debug, Clone)]
pub(crate) struct AgentCounters {
    results: IntCounterVec,
}

impl AgentCounters {
    /// Creates the counter and registers it on `registry`.
    pub(crate) fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let results = IntCounterVec::new(
            Opts::new(
                "proxyhealth_agent_results_total",
                "Results sent by agents, by vantage and outcome (accepted, or the reason \
                 they were refused: not_assigned, older, future; oversized counts batches).",
            ),
            &["vantage", "outcome"],
        )?;
        registry.register(Box::new(results.clone()))?;
        Ok(AgentCounters { results })
    }

    /// Counts `n` results of `vantage` taken.
    pub(crate) fn accepted(&self, vantage: &VantageName, n: usize) {
        self.add(vantage, "accepted", n);
    }

    /// Counts `n` results (or batches) of `vantage` refused for `reason`.
    pub(crate) fn refused(&self, vantage: &VantageName, reason: &str, n: usize) {
        self.add(vantage, reason, n);
    }

    fn add(&self, vantage: &VantageName, outcome: &str, n: usize) {
        if n > 0 {
            self.results
                .with_label_values(&[vantage.as_str(), outcome])
                .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
        }
    }
}

/// `agent`'s entry among `agents`, made (seen at `now`, nothing else
/// known) when missing; the agent seen longest ago is dropped when the
/// vantage has too many.
fn entry<'a>(
    agents: &'a mut HashMap<String, Seen>,
    agent: &str,
    now: OffsetDateTime,
) -> &'a mut Seen {
    if !agents.contains_key(agent) && agents.len() >= MAX_AGENTS_PER_VANTAGE {
        let oldest = agents
            .iter()
            .min_by_key(|(_, seen)| seen.last_seen)
            .map(|(id, _)| id.clone());
        if let Some(oldest) = oldest {
            agents.remove(&oldest);
        }
    }
    agents.entry(agent.to_owned()).or_insert_with(|| Seen {
        version: String::new(),
        address: None,
        last_seen: now,
        assigned: 0,
        lag: None,
        last_result_at: None,
        unsaved: false,
    })
}

fn is_live(seen: &Seen, now: OffsetDateTime, interval: Duration) -> bool {
    seen.last_seen + interval * FRESH_INTERVALS >= now
}

/// Whether `proxy` falls to `agent` among the `live` agents of its vantage:
/// the agent with the highest hash of (agent, proxy) takes it (rendezvous
/// hashing), so an agent joining or leaving moves only its own share.
pub(crate) fn falls_to(proxy: &Uuid, agent: &str, live: &[String]) -> bool {
    if live.len() <= 1 {
        return true;
    }
    let weight = |candidate: &str| {
        let mut hasher = DefaultHasher::new();
        candidate.hash(&mut hasher);
        proxy.hash(&mut hasher);
        hasher.finish()
    };
    let mine = weight(agent);
    live.iter()
        .filter(|other| other.as_str() != agent)
        .all(|other| (weight(other), other.as_str()) < (mine, agent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_proxy_falls_to_exactly_one_live_agent() {
        let live: Vec<String> = ["a", "b", "c"].map(str::to_owned).to_vec();
        let proxies: Vec<Uuid> = (0..300).map(|_| Uuid::new_v4()).collect();
        let mut counts = [0usize; 3];
        for proxy in &proxies {
            let takers: Vec<usize> = (0..3)
                .filter(|i| falls_to(proxy, &live[*i], &live))
                .collect();
            assert_eq!(takers.len(), 1, "one taker per proxy");
            counts[takers[0]] += 1;
        }
        assert!(
            counts.iter().all(|c| *c > 50),
            "shares are roughly even: {counts:?}"
        );
    }

    #[test]
    fn an_agent_leaving_moves_only_its_own_share() {
        let three: Vec<String> = ["a", "b", "c"].map(str::to_owned).to_vec();
        let two: Vec<String> = ["a", "b"].map(str::to_owned).to_vec();
        for _ in 0..300 {
            let proxy = Uuid::new_v4();
            if falls_to(&proxy, "a", &three) {
                assert!(falls_to(&proxy, "a", &two));
            }
        }
    }

    #[test]
    fn an_agent_unseen_for_two_intervals_is_not_live() {
        let roster = AgentRoster::default();
        let eu = VantageName::new("eu-west").expect("a valid name");
        let start = OffsetDateTime::UNIX_EPOCH;
        roster.seen(&eu, "a", "1.0", None, start);
        let interval = Duration::from_secs(10);
        assert_eq!(
            roster.live(&eu, start + Duration::from_secs(20), interval),
            ["a"]
        );
        assert!(
            roster
                .live(&eu, start + Duration::from_secs(21), interval)
                .is_empty()
        );
    }
}

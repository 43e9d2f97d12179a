//! The results not yet taken by the service: the newest per proxy, and only
//! for the proxies assigned, so however long the service is away the agent
//! holds at most one result per assigned proxy.

use proxyhealth_api::wire::AgentResult;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// The newest result per proxy not yet taken by the service.
#[derive(Debug, Default)]
pub struct Pending {
    newest: HashMap<Uuid, AgentResult>,
}

impl Pending {
    /// How many results wait.
    pub fn len(&self) -> usize {
        self.newest.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.newest.is_empty()
    }

    /// Keeps `result` unless a newer one of its proxy already waits: a newer
    /// result replaces the one the service has not taken yet.
    pub fn keep(&mut self, result: AgentResult) {
        match self.newest.get(&result.proxy_id) {
            Some(waiting) if waiting.checked_at > result.checked_at => {}
            _ => {
                self.newest.insert(result.proxy_id, result);
            }
        }
    }

    /// Forgets the results of proxies no longer assigned: the service would
    /// refuse them, and they would hold memory for nothing.
    pub fn retain_assigned(&mut self, assigned: &HashSet<Uuid>) {
        self.newest.retain(|id, _| assigned.contains(id));
    }

    /// Takes out at most `max` results, to send as one batch; a batch the
    /// service did not get goes back with [`Pending::put_back`].
    pub fn take_batch(&mut self, max: usize) -> Vec<AgentResult> {
        self.take_batch_except(max, &HashSet::new())
    }

    /// Takes out at most `max` results, as [`Pending::take_batch`], but none
    /// of a proxy in `held` (a batch on its way carries one of it): those
    /// wait until it is answered, so no two batches on their way carry the
    /// same proxy.
    pub fn take_batch_except(&mut self, max: usize, held: &HashSet<Uuid>) -> Vec<AgentResult> {
        let ids: Vec<Uuid> = self
            .newest
            .keys()
            .filter(|id| !held.contains(id))
            .take(max)
            .copied()
            .collect();
        ids.iter().filter_map(|id| self.newest.remove(id)).collect()
    }

    /// Puts back a batch the service did not get, except where a newer
    /// result of the same proxy came meanwhile.
    pub fn put_back(&mut self, batch: Vec<AgentResult>) {
        for result in batch {
            self.keep(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxyhealth_core::{HealthReport, Status};
    use time::OffsetDateTime;
    use time::ext::NumericalDuration;

    fn result(id: Uuid, seconds: i64, status: Status) -> AgentResult {
        AgentResult {
            proxy_id: id,
            status,
            latency_ms: Some(1),
            checked_at: OffsetDateTime::UNIX_EPOCH + seconds.seconds(),
            report: HealthReport::default(),
        }
    }

    #[test]
    fn only_the_newest_result_per_proxy_waits() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut pending = Pending::default();
        for sweep in 0..100 {
            pending.keep(result(a, sweep, Status::Ok));
            pending.keep(result(b, sweep, Status::Unreachable));
        }
        pending.keep(result(a, 3, Status::Unhealthy));
        assert_eq!(pending.len(), 2, "one per proxy, however many sweeps");
        let batch = pending.take_batch(10);
        let newest_a = batch.iter().find(|r| r.proxy_id == a).expect("a's result");
        assert_eq!(
            newest_a.checked_at,
            OffsetDateTime::UNIX_EPOCH + 99.seconds()
        );
        assert_eq!(
            newest_a.status,
            Status::Ok,
            "an older result never replaces a newer"
        );
        assert!(pending.is_empty());
    }

    #[test]
    fn batches_hold_at_most_the_maximum_and_take_each_result_once() {
        let mut pending = Pending::default();
        for _ in 0..5 {
            pending.keep(result(Uuid::new_v4(), 1, Status::Ok));
        }
        let first = pending.take_batch(2);
        let second = pending.take_batch(2);
        let third = pending.take_batch(2);
        assert_eq!((first.len(), second.len(), third.len()), (2, 2, 1));
        let mut ids: Vec<Uuid> = first
            .iter()
            .chain(&second)
            .chain(&third)
            .map(|r| r.proxy_id)
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 5);
        assert!(pending.take_batch(2).is_empty());
    }

    #[test]
    fn a_batch_put_back_yields_to_a_newer_result() {
        let id = Uuid::new_v4();
        let mut pending = Pending::default();
        pending.keep(result(id, 1, Status::Unreachable));
        let unsent = pending.take_batch(10);
        pending.keep(result(id, 2, Status::Ok));
        pending.put_back(unsent);
        let batch = pending.take_batch(10);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].status, Status::Ok);
    }

    #[test]
    fn a_proxy_on_its_way_waits_for_its_batch_to_be_answered() {
        let (held, free) = (Uuid::new_v4(), Uuid::new_v4());
        let mut pending = Pending::default();
        pending.keep(result(held, 1, Status::Ok));
        pending.keep(result(free, 1, Status::Ok));
        let on_its_way = HashSet::from([held]);
        let batch = pending.take_batch_except(10, &on_its_way);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].proxy_id, free);
        assert!(
            pending.take_batch_except(10, &on_its_way).is_empty(),
            "the held proxy's result stays while its batch is on its way"
        );
        let later = pending.take_batch_except(10, &HashSet::new());
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].proxy_id, held);
    }

    #[test]
    fn results_of_proxies_no_longer_assigned_are_forgotten() {
        let (kept, dropped) = (Uuid::new_v4(), Uuid::new_v4());
        let mut pending = Pending::default();
        pending.keep(result(kept, 1, Status::Ok));
        pending.keep(result(dropped, 1, Status::Ok));
        pending.retain_assigned(&HashSet::from([kept]));
        let batch = pending.take_batch(10);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].proxy_id, kept);
    }
}

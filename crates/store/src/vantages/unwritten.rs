//! What agents' results added that a store holds in memory before writing
//! it: the newest reading per vantage and proxy, and the hourly rollups the
//! checks add to, summed.
//!
//! An agent's vantage sends a result for every proxy every interval, and
//! each one costs the embedded store a row written for its reading and
//! another for its rollup. Held here for a while and written in one go, a
//! proxy's reading and rollup are written once for several of its results
//! (the newer reading replaces the older one, the rollups add up), so most
//! of those writes never happen. What is held is bounded by the fleet: one
//! reading per vantage and proxy, one rollup per vantage, proxy and hour.
//! Each entry is due some time after it is first held, between half the
//! hold and the whole of it, so the writes spread out even when every
//! proxy's results came at once, and are taken a little at a time. Which
//! part of the hold follows the proxy's place in the tables' key order, on
//! a schedule that goes round the key space once every half hold: what
//! comes due together are neighbours there, whenever each was held, so a
//! write of them changes a few pages of each table and index instead of a
//! few rows on every page.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use proxyhealth_core::{CheckRecord, Rollup, VantageName, VantageReading};
use uuid::Uuid;

use crate::history::cache::hour_of;

/// A vantage's key: its name lowercased (names are unique ignoring case).
pub(crate) type VantageKey = String;

/// Readings and rollups not written yet, keyed by vantage (its key).
#[derive(Debug)]
pub(crate) struct Unwritten {
    /// Where the schedule of [`Unwritten::due`] starts going round.
    epoch: Instant,
    /// The newest reading of each (vantage, proxy), with the vantage's name
    /// as sent.
    readings: HashMap<(VantageKey, Uuid), Held<(VantageName, VantageReading)>>,
    /// What each (vantage, proxy, hour) rollup has to add.
    rollups: HashMap<(VantageKey, Uuid, i64), Held<Rollup>>,
}

/// A value held, and when it is due to be written (set when it is first
/// held after its last write).
#[derive(Debug)]
struct Held<T> {
    due: Instant,
    value: T,
}

impl Default for Unwritten {
    fn default() -> Self {
        Unwritten {
            epoch: Instant::now(),
            readings: HashMap::new(),
            rollups: HashMap::new(),
        }
    }
}

/// Where `proxy` falls in the key order, in 1,024ths: its id's leading
/// bits (ids are kept as their text, whose order is the ids' order).
fn key_part(proxy: Uuid) -> u32 {
    u32::try_from(proxy.as_u128() >> 118).unwrap_or(0)
}

/// One vantage's share of [`Unwritten`], taken out to be written.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct VantageShare {
    /// The vantage's name.
    pub vantage: Option<VantageName>,
    /// Its readings (proxy id, reading), by proxy id.
    pub readings: Vec<(Uuid, VantageReading)>,
    /// What its rollups have to add ((proxy, hour), rollup), by proxy and
    /// hour.
    pub rollups: Vec<((Uuid, i64), Rollup)>,
}

/// When an entry of `proxy` first held at `now` is due, holding at most
/// `hold`: the first time, at least half the hold away, that the schedule
/// started at `epoch`, going round the key space once every half hold,
/// reaches the proxy's place.
fn due(epoch: Instant, now: Instant, hold: Duration, proxy: Uuid) -> Instant {
    let round = hold / 2;
    if round.is_zero() {
        return now;
    }
    let place = epoch + round * key_part(proxy) / 1024;
    let rounds = (now + round)
        .saturating_duration_since(place)
        .as_nanos()
        .div_ceil(round.as_nanos());
    u32::try_from(rounds)
        .ok()
        .and_then(|rounds| round.checked_mul(rounds))
        .and_then(|wait| place.checked_add(wait))
        .unwrap_or(now + hold)
}

impl Unwritten {
    /// Whether nothing is held.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.readings.is_empty() && self.rollups.is_empty()
    }

    /// Readings held.
    pub(crate) fn readings_held(&self) -> usize {
        self.readings.len()
    }

    /// Holds `readings` of `vantage` (each unless a newer one of its proxy
    /// is held) and adds `checks` to its rollups, at `now`, each entry new
    /// here for at most `hold`.
    pub(crate) fn add(
        &mut self,
        vantage: &VantageName,
        key: &str,
        readings: Vec<(Uuid, VantageReading)>,
        checks: &[CheckRecord],
        now: Instant,
        hold: Duration,
    ) {
        for (proxy, reading) in readings {
            let due = due(self.epoch, now, hold, proxy);
            self.hold_reading(key, proxy, vantage.clone(), reading, due);
        }
        for check in checks {
            self.rollups
                .entry((key.to_owned(), check.proxy_id, hour_of(check.at)))
                .or_insert_with(|| Held {
                    due: due(self.epoch, now, hold, check.proxy_id),
                    value: Rollup::default(),
                })
                .value
                .add(check.result, check.latency);
        }
    }

    fn hold_reading(
        &mut self,
        key: &str,
        proxy: Uuid,
        vantage: VantageName,
        reading: VantageReading,
        due: Instant,
    ) {
        match self.readings.get_mut(&(key.to_owned(), proxy)) {
            Some(held) if held.value.1.checked_at > reading.checked_at => {}
            Some(held) => held.value = (vantage, reading),
            None => {
                self.readings.insert(
                    (key.to_owned(), proxy),
                    Held {
                        due,
                        value: (vantage, reading),
                    },
                );
            }
        }
    }

    /// Forgets the held reading of `proxy` from the vantage keyed `key` when
    /// it is no newer than `written` (a newer one was written directly).
    pub(crate) fn written_through(&mut self, key: &str, proxy: Uuid, written: &VantageReading) {
        let index = (key.to_owned(), proxy);
        if self
            .readings
            .get(&index)
            .is_some_and(|held| held.value.1.checked_at <= written.checked_at)
        {
            self.readings.remove(&index);
        }
    }

    /// Forgets everything held of the vantage keyed `key` (it was deleted).
    pub(crate) fn forget_vantage(&mut self, key: &str) {
        self.readings.retain(|(held, _), _| held != key);
        self.rollups.retain(|(held, _, _), _| held != key);
    }

    /// Takes at most `most` entries (readings and rollups) due by `by`
    /// (`None`: whenever they are due), by vantage key (each share sorted).
    pub(crate) fn take(
        &mut self,
        by: Option<Instant>,
        most: usize,
    ) -> Vec<(VantageKey, VantageShare)> {
        let is_due = |due: Instant| by.is_none_or(|by| due <= by);
        let mut shares: HashMap<VantageKey, VantageShare> = HashMap::new();
        let readings: Vec<(VantageKey, Uuid)> = self
            .readings
            .iter()
            .filter(|(_, held)| is_due(held.due))
            .map(|(at, _)| at.clone())
            .take(most)
            .collect();
        let left = most - readings.len();
        for at in readings {
            if let Some(held) = self.readings.remove(&at) {
                let (vantage, reading) = held.value;
                let share = shares.entry(at.0).or_default();
                share.vantage = Some(vantage);
                share.readings.push((at.1, reading));
            }
        }
        let rollups: Vec<(VantageKey, Uuid, i64)> = self
            .rollups
            .iter()
            .filter(|(_, held)| is_due(held.due))
            .map(|(at, _)| at.clone())
            .take(left)
            .collect();
        for at in rollups {
            if let Some(held) = self.rollups.remove(&at) {
                shares
                    .entry(at.0)
                    .or_default()
                    .rollups
                    .push(((at.1, at.2), held.value));
            }
        }
        let mut shares: Vec<(VantageKey, VantageShare)> = shares.into_iter().collect();
        shares.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (_, share) in &mut shares {
            share.readings.sort_unstable_by_key(|(proxy, _)| *proxy);
            share.rollups.sort_unstable_by_key(|(key, _)| *key);
        }
        shares
    }

    /// Holds again, due by `due`, what [`Unwritten::take`] took and could
    /// not be written, under what arrived meanwhile: a newer reading stays,
    /// rollups add up.
    pub(crate) fn put_back(&mut self, shares: Vec<(VantageKey, VantageShare)>, due: Instant) {
        for (key, share) in shares {
            if let Some(vantage) = share.vantage {
                for (proxy, reading) in share.readings {
                    self.hold_reading(&key, proxy, vantage.clone(), reading, due);
                    if let Some(held) = self.readings.get_mut(&(key.clone(), proxy)) {
                        held.due = held.due.min(due);
                    }
                }
            }
            for ((proxy, hour), rollup) in share.rollups {
                let held = self
                    .rollups
                    .entry((key.clone(), proxy, hour))
                    .or_insert_with(|| Held {
                        due,
                        value: Rollup::default(),
                    });
                held.due = held.due.min(due);
                held.value.merge(&rollup);
            }
        }
    }

    /// The held readings (proxy id, reading), for adding to the kept ones.
    pub(crate) fn readings(&self) -> impl Iterator<Item = (Uuid, &VantageReading)> {
        self.readings
            .iter()
            .map(|((_, proxy), held)| (*proxy, &held.value.1))
    }

    /// What the held rollups of `proxy` from the vantage keyed `key` add,
    /// for hours from `since_hour` on: (hour, rollup).
    pub(crate) fn rollups_of(&self, key: &str, proxy: Uuid, since_hour: i64) -> Vec<(i64, Rollup)> {
        self.rollups
            .iter()
            .filter(|((held, id, hour), _)| held == key && *id == proxy && *hour >= since_hour)
            .map(|((_, _, hour), held)| (*hour, held.value.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxyhealth_core::{HealthReport, Status};
    use std::time::Duration;
    use time::OffsetDateTime;

    fn name(n: &str) -> VantageName {
        VantageName::new(n).expect("a valid name")
    }

    fn hour_start() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::from_secs(3_600 * 1000)
    }

    fn reading(vantage: &str, at: OffsetDateTime, status: Status) -> VantageReading {
        VantageReading {
            vantage: name(vantage),
            status,
            last_result: status,
            streak: 1,
            latency_ms: Some(12),
            checked_at: at,
            report: HealthReport::default(),
            stale: false,
        }
    }

    fn check(proxy: Uuid, at: OffsetDateTime, ms: u64) -> CheckRecord {
        CheckRecord {
            proxy_id: proxy,
            at,
            result: Status::Ok,
            latency: Some(Duration::from_millis(ms)),
        }
    }

    const HOLD: Duration = Duration::from_secs(60);

    fn all(held: &mut Unwritten) -> Vec<(VantageKey, VantageShare)> {
        held.take(None, usize::MAX)
    }

    #[test]
    fn a_proxy_keeps_its_newest_reading_whatever_the_order_they_came_in() {
        let (proxy, t0, now) = (Uuid::new_v4(), hour_start(), Instant::now());
        let v = name("eu-west");
        let newer = reading("eu-west", t0 + Duration::from_secs(10), Status::Unreachable);
        let mut held = Unwritten::default();
        held.add(&v, "eu-west", vec![(proxy, newer.clone())], &[], now, HOLD);
        held.add(
            &v,
            "eu-west",
            vec![(proxy, reading("eu-west", t0, Status::Ok))],
            &[],
            now,
            HOLD,
        );
        let shares = all(&mut held);
        assert_eq!(shares.len(), 1);
        assert_eq!(shares[0].1.readings, vec![(proxy, newer)]);
        assert!(held.is_empty(), "taking everything leaves nothing");
    }

    #[test]
    fn checks_of_one_proxy_and_hour_add_up_to_one_rollup() {
        let (proxy, t0, now) = (Uuid::new_v4(), hour_start(), Instant::now());
        let v = name("eu-west");
        let mut held = Unwritten::default();
        let next_hour = t0 + Duration::from_secs(3_600);
        held.add(
            &v,
            "eu-west",
            Vec::new(),
            &[check(proxy, t0, 10), check(proxy, t0, 20)],
            now,
            HOLD,
        );
        held.add(
            &v,
            "eu-west",
            Vec::new(),
            &[check(proxy, next_hour, 30)],
            now,
            HOLD,
        );
        let hour = hour_of(t0);
        let mine = held.rollups_of("eu-west", proxy, hour);
        assert_eq!(mine.len(), 2, "two hours: {mine:?}");
        let first = mine.iter().find(|(h, _)| *h == hour).map(|(_, r)| r.checks);
        assert_eq!(first, Some(2));
        assert!(
            held.rollups_of("eu-west", proxy, hour + 3_600 * 2)
                .is_empty()
        );
        assert!(held.rollups_of("ap-south", proxy, hour).is_empty());
    }

    #[test]
    fn only_what_is_due_is_taken_and_at_most_so_many() {
        let (t0, start) = (hour_start(), Instant::now());
        let v = name("eu-west");
        let mut held = Unwritten::default();
        let early: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        for proxy in &early {
            held.add(
                &v,
                "eu-west",
                vec![(*proxy, reading("eu-west", t0, Status::Ok))],
                &[],
                start,
                HOLD,
            );
        }
        let late = Uuid::new_v4();
        let later = start + HOLD;
        held.add(
            &v,
            "eu-west",
            vec![(late, reading("eu-west", t0, Status::Ok))],
            &[],
            later,
            HOLD,
        );
        // a newer reading of an early proxy stays due when the first was
        let refreshed = reading("eu-west", t0 + Duration::from_secs(10), Status::Ok);
        held.add(&v, "eu-west", vec![(early[0], refreshed)], &[], later, HOLD);
        assert!(
            held.take(Some(start + HOLD / 2 - Duration::from_millis(1)), 10)
                .is_empty(),
            "none before half the hold"
        );
        let two = held.take(Some(start + HOLD), 2);
        assert_eq!(two[0].1.readings.len(), 2, "at most two");
        let rest = held.take(Some(start + HOLD), 10);
        assert_eq!(rest[0].1.readings.len(), 1, "the third early one");
        assert!(
            held.take(Some(start + HOLD), 10).is_empty(),
            "the late one is not due"
        );
        assert_eq!(held.readings_held(), 1);
    }

    #[test]
    fn proxies_first_held_together_are_due_spread_over_the_second_half_of_the_hold() {
        let now = Instant::now();
        let epoch = now - Duration::from_secs(7);
        let dues: Vec<Duration> = (0..1000)
            .map(|_| due(epoch, now, HOLD, Uuid::new_v4()) - now)
            .collect();
        assert!(
            dues.iter().all(|d| *d >= HOLD / 2 && *d <= HOLD),
            "within the hold"
        );
        let first_half = dues.iter().filter(|d| **d < HOLD * 3 / 4).count();
        assert!(
            (300..700).contains(&first_half),
            "spread: {first_half} of 1000 in the first quarter"
        );
    }

    #[test]
    fn what_comes_due_together_are_neighbours_in_key_order_whenever_each_was_held() {
        let epoch = Instant::now();
        let held_at =
            |n: u64| epoch + Duration::from_secs(100) + Duration::from_millis(n * 37 % 10_000);
        let dues: Vec<(Uuid, Instant)> = (0..2000)
            .map(|n| {
                let proxy = Uuid::new_v4();
                (proxy, due(epoch, held_at(n), HOLD, proxy))
            })
            .collect();
        // one second of the schedule: a thirtieth of the key space
        let from = epoch + Duration::from_secs(150);
        let second: Vec<u32> = dues
            .iter()
            .filter(|(_, due)| *due >= from && *due < from + Duration::from_secs(1))
            .map(|(proxy, _)| key_part(*proxy))
            .collect();
        assert!(second.len() > 20, "{} due in that second", second.len());
        let (low, high) = (second.iter().min(), second.iter().max());
        assert!(
            high.zip(low)
                .is_some_and(|(high, low)| high - low <= 1024 / 30 + 1),
            "due together: parts {low:?} to {high:?} of 1024"
        );
    }

    #[test]
    fn what_could_not_be_written_is_held_again_under_what_came_since() {
        let (proxy, t0, now) = (Uuid::new_v4(), hour_start(), Instant::now());
        let v = name("eu-west");
        let mut held = Unwritten::default();
        let first = reading("eu-west", t0, Status::Ok);
        held.add(
            &v,
            "eu-west",
            vec![(proxy, first)],
            &[check(proxy, t0, 10)],
            now,
            HOLD,
        );
        let failed = all(&mut held);
        let newer = reading("eu-west", t0 + Duration::from_secs(10), Status::Ok);
        let later = now + Duration::from_secs(5);
        held.add(
            &v,
            "eu-west",
            vec![(proxy, newer.clone())],
            &[check(proxy, t0, 20)],
            later,
            HOLD,
        );
        held.put_back(failed, now);
        let due = held.take(Some(now), usize::MAX);
        assert_eq!(
            due[0].1.readings,
            vec![(proxy, newer)],
            "the newer reading stays"
        );
        assert_eq!(due[0].1.rollups[0].1.checks, 2, "both checks count");
    }

    #[test]
    fn a_deleted_vantage_leaves_nothing_held_and_others_keep_theirs() {
        let (proxy, t0, now) = (Uuid::new_v4(), hour_start(), Instant::now());
        let mut held = Unwritten::default();
        for n in ["eu-west", "ap-south"] {
            let readings = vec![(proxy, reading(n, t0, Status::Ok))];
            held.add(&name(n), n, readings, &[check(proxy, t0, 10)], now, HOLD);
        }
        held.forget_vantage("eu-west");
        let shares = all(&mut held);
        assert_eq!(shares.len(), 1);
        assert_eq!(shares[0].0, "ap-south");
    }

    #[test]
    fn a_reading_written_through_is_no_longer_held_unless_a_newer_one_came() {
        let (proxy, t0, now) = (Uuid::new_v4(), hour_start(), Instant::now());
        let v = name("eu-west");
        let mut held = Unwritten::default();
        let old = reading("eu-west", t0, Status::Ok);
        held.add(&v, "eu-west", vec![(proxy, old.clone())], &[], now, HOLD);
        held.written_through("eu-west", proxy, &old);
        assert_eq!(held.readings_held(), 0);
        let newer = reading("eu-west", t0 + Duration::from_secs(10), Status::Ok);
        held.add(&v, "eu-west", vec![(proxy, newer)], &[], now, HOLD);
        held.written_through("eu-west", proxy, &old);
        assert_eq!(held.readings_held(), 1, "the newer one is still to write");
    }
}

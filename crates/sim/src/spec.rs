//! What a fleet is made of: how many proxies of each kind, where they go, which shard.

use crate::addr::{MAX_FLEET, fleet_ip};
use crate::error::SimError;
use crate::kind::Kind;
use crate::stack::Serving;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

/// The seed of the placement shuffle unless [`FleetSpec::seed`] sets another.
pub const DEFAULT_SEED: u64 = 0x05ee_d0ff_1ee7;

/// The connections a fleet budgets descriptors for unless [`FleetSpec::max_connections`]
/// says otherwise (a checker with a parallelism of a thousand or less).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1_024;

/// One part of a fleet split over several processes: this process serves the proxies
/// whose global number `i` has `i % count == index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    /// This shard's number, from 0 to `count - 1`.
    pub index: u32,
    /// How many shards the fleet is split into (at least 1).
    pub count: u32,
}

impl Shard {
    /// The whole fleet in one process.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Whether the fleet member with global number `global` belongs to this shard.
    pub fn contains(self, global: usize) -> bool {
        self.count > 0 && global % self.count as usize == self.index as usize
    }

    /// Refuses a shard whose index is not below its count.
    fn validate(self) -> Result<(), SimError> {
        if self.count == 0 || self.index >= self.count {
            return Err(SimError::InvalidSpec(format!(
                "shard {self} does not exist: the index must be below the count (0/1 .. n-1/n)"
            )));
        }
        Ok(())
    }
}

impl Default for Shard {
    fn default() -> Self {
        Shard::WHOLE
    }
}

impl fmt::Display for Shard {
    /// `index/count`, as `--shard` takes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = SimError;

    /// Reads `index/count`, like `0/4`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || SimError::InvalidSpec(format!("shard {s:?} is not of the form index/count"));
        let (index, count) = s.split_once('/').ok_or_else(bad)?;
        let shard = Shard {
            index: index.trim().parse().map_err(|_| bad())?,
            count: count.trim().parse().map_err(|_| bad())?,
        };
        shard.validate()?;
        Ok(shard)
    }
}

/// One proxy as the plan places it, before anything is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// The proxy's number in the whole fleet (all shards), which fixes its address.
    pub index: usize,
    /// Its loopback address (the port is chosen when the fleet starts).
    pub ip: Ipv4Addr,
    /// How it answers.
    pub kind: Kind,
}

/// How to build a fleet: the kinds and their counts, the shard, the port and the seed.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetSpec {
    groups: Vec<(Kind, usize)>,
    shard: Shard,
    port: Option<u16>,
    seed: u64,
    max_connections: usize,
    serving: Serving,
}

impl FleetSpec {
    /// A fleet of `count` proxies of each listed kind, interleaved by a seeded shuffle.
    pub fn new(groups: &[(Kind, usize)]) -> Self {
        FleetSpec {
            groups: groups.to_vec(),
            shard: Shard::WHOLE,
            port: None,
            seed: DEFAULT_SEED,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            serving: Serving::default(),
        }
    }

    /// A fleet of `count` proxies that are all `kind`.
    pub fn uniform(kind: Kind, count: usize) -> Self {
        FleetSpec::new(&[(kind, count)])
    }

    /// A fleet of `total` proxies where each listed kind takes its percentage (rounded to
    /// the nearest proxy) and `rest` fills the remainder.
    ///
    /// Fails with [`SimError::InvalidSpec`] if a percentage is negative or not a number,
    /// or if the shares add up to more than `total`.
    pub fn mix(total: usize, shares: &[(Kind, f64)], rest: Kind) -> Result<Self, SimError> {
        let mut groups = Vec::with_capacity(shares.len() + 1);
        let mut taken = 0usize;
        for &(kind, percent) in shares {
            if !percent.is_finite() || percent < 0.0 {
                return Err(SimError::InvalidSpec(format!(
                    "the share of {} is {percent}%: it must be a number from 0 to 100",
                    kind.name()
                )));
            }
            // A fleet is far smaller than 2^52, so the f64 round trip is exact.
            let count = (total as f64 * percent / 100.0).round() as usize;
            taken = taken.saturating_add(count);
            groups.push((kind, count));
        }
        if taken > total {
            return Err(SimError::InvalidSpec(format!(
                "the shares take {taken} of {total} proxies: they add up to more than 100%"
            )));
        }
        groups.push((rest, total - taken));
        Ok(FleetSpec::new(&groups))
    }

    /// Keeps only shard `index` of `count` (addresses stay those of the whole fleet).
    /// An index not below the count makes [`FleetSpec::plan`] fail.
    pub fn shard(mut self, index: u32, count: u32) -> Self {
        self.shard = Shard { index, count };
        self
    }

    /// Uses this port on every address instead of one the system picks.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Changes the seed of the placement shuffle.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How many connections at once to budget file descriptors for.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections;
        self
    }

    /// Serves every proxy with this stack and TLS (default: the lean stack, plain TCP).
    pub fn serving(mut self, serving: Serving) -> Self {
        self.serving = serving;
        self
    }

    /// How the proxies serve.
    pub fn serving_of(&self) -> &Serving {
        &self.serving
    }

    /// The proxies of the whole fleet, all shards together.
    pub fn total(&self) -> usize {
        self.groups.iter().map(|&(_, count)| count).sum()
    }

    /// The shard this spec builds.
    pub fn shard_of(&self) -> Shard {
        self.shard
    }

    /// The fixed port, if one was set.
    pub fn fixed_port(&self) -> Option<u16> {
        self.port
    }

    /// The connection budget used for the descriptor check.
    pub fn connection_budget(&self) -> usize {
        self.max_connections
    }

    /// The proxies of this shard, in global order, with their addresses and kinds.
    ///
    /// The kinds are spread over the fleet by a Fisher–Yates shuffle seeded with the
    /// spec's seed, so the same spec always gives the same placement and the rare kinds
    /// are scattered rather than grouped at the end.
    pub fn plan(&self) -> Result<Vec<Planned>, SimError> {
        self.shard.validate()?;
        let total = self.total();
        if total > MAX_FLEET {
            return Err(SimError::InvalidSpec(format!(
                "{total} proxies do not fit in 127.1.0.1-127.255.255.254 (at most {MAX_FLEET})"
            )));
        }
        let mut kinds: Vec<Kind> = Vec::with_capacity(total);
        for &(kind, count) in &self.groups {
            kinds.extend(std::iter::repeat_n(kind, count));
        }
        shuffle(&mut kinds, self.seed);
        Ok(kinds
            .into_iter()
            .enumerate()
            .filter(|&(index, _)| self.shard.contains(index))
            .filter_map(|(index, kind)| fleet_ip(index).map(|ip| Planned { index, ip, kind }))
            .collect())
    }
}

/// A named mix for `proxyhealth sim --mix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mix {
    /// Every proxy healthy.
    #[default]
    Ok,
    /// A bad day: 2% hang, 2% slow, 3% errors, 2% 500 envelope, 1% refused, 2% with
    /// warnings (still ok), 0.5% each of 400-html, primary-html and non-json-200; the rest ok.
    BadDay,
}

impl Mix {
    /// The name `--mix` takes.
    pub fn name(self) -> &'static str {
        match self {
            Mix::Ok => "ok",
            Mix::BadDay => "bad-day",
        }
    }

    /// The spec of `count` proxies in this mix, slow proxies taking `slow` to answer.
    pub fn spec(self, count: usize, slow: Duration) -> Result<FleetSpec, SimError> {
        match self {
            Mix::Ok => Ok(FleetSpec::uniform(Kind::Ok, count)),
            Mix::BadDay => FleetSpec::mix(
                count,
                &[
                    (Kind::Hang, 2.0),
                    (Kind::Slow(slow), 2.0),
                    (Kind::Errors, 3.0),
                    (Kind::ServerError, 2.0),
                    (Kind::Refused, 1.0),
                    (Kind::OkWithWarnings, 2.0),
                    (Kind::BadRequestHtml, 0.5),
                    (Kind::PrimaryHtml, 0.5),
                    (Kind::NonJson200, 0.5),
                ],
                Kind::Ok,
            ),
        }
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mix {
    type Err = SimError;

    /// Reads `ok` or `bad-day`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ok" => Ok(Mix::Ok),
            "bad-day" => Ok(Mix::BadDay),
            _ => Err(SimError::InvalidSpec(format!(
                "unknown mix {s:?}: expected ok or bad-day"
            ))),
        }
    }
}

/// Shuffles in place with a SplitMix64 generator: deterministic for a seed, on every platform.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        // The modulo bias is irrelevant for spreading test proxies.
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mix_rounds_each_share_and_fills_the_rest() {
        let spec = FleetSpec::mix(
            10_000,
            &[(Kind::Hang, 2.0), (Kind::Errors, 3.0), (Kind::Refused, 1.0)],
            Kind::Ok,
        )
        .expect("valid mix");
        let plan = spec.plan().expect("plan");
        let count = |k: Kind| plan.iter().filter(|p| p.kind == k).count();
        assert_eq!(plan.len(), 10_000);
        assert_eq!(
            (
                count(Kind::Hang),
                count(Kind::Errors),
                count(Kind::Refused),
                count(Kind::Ok)
            ),
            (200, 300, 100, 9_400)
        );
    }

    #[test]
    fn shares_over_a_hundred_percent_are_refused_with_the_numbers() {
        let err = FleetSpec::mix(100, &[(Kind::Hang, 60.0), (Kind::Errors, 50.0)], Kind::Ok)
            .expect_err("110% must fail");
        assert_eq!(
            err.to_string(),
            "invalid fleet spec: the shares take 110 of 100 proxies: they add up to more than 100%"
        );
    }

    #[test]
    fn placement_is_deterministic_and_interleaved() {
        let spec = FleetSpec::new(&[(Kind::Ok, 900), (Kind::Hang, 100)]);
        let first = spec.plan().expect("plan");
        assert_eq!(first, spec.plan().expect("plan again"));
        let hangs_in_first_half = first[..500].iter().filter(|p| p.kind == Kind::Hang).count();
        assert!(
            (25..=75).contains(&hangs_in_first_half),
            "{hangs_in_first_half}"
        );
    }

    #[test]
    fn shards_partition_the_fleet_with_the_same_kinds_and_addresses() {
        let spec = Mix::BadDay
            .spec(1_000, Duration::from_secs(1))
            .expect("mix");
        let whole = spec.plan().expect("plan");
        let mut joined: Vec<Planned> = (0..3)
            .flat_map(|i| spec.clone().shard(i, 3).plan().expect("shard plan"))
            .collect();
        joined.sort_by_key(|p| p.index);
        assert_eq!(joined, whole);
    }

    #[test]
    fn a_shard_index_not_below_the_count_is_refused() {
        let err = FleetSpec::uniform(Kind::Ok, 10)
            .shard(3, 3)
            .plan()
            .expect_err("3/3");
        assert!(
            err.to_string().contains("shard 3/3 does not exist"),
            "{err}"
        );
        assert!("1/0".parse::<Shard>().is_err());
        assert_eq!(
            "2/4".parse::<Shard>().expect("valid"),
            Shard { index: 2, count: 4 }
        );
    }
}

//! Vantages: the places probes come from, and the quorum rule that turns one
//! result per vantage into the one overall status Coder's shapes carry.
//!
//! A proxy that fails from fewer vantages than the quorum is a partial
//! outage: it stays `ok` overall, with a warning that names the vantages and
//! what they saw, so a regional fault is visible without taking the proxy
//! out of service for everyone. A vantage without a fresh result is stale:
//! it is left out of the count (a silent vantage says nothing about the
//! proxy), so the denominator shrinks instead of the failures growing.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use time::OffsetDateTime;

use crate::Status;
use crate::validate::{FieldError, validate_name};

/// How many intervals a vantage's newest result stays fresh: the same
/// "stale after two intervals" the replicas use for their own results.
pub const FRESH_INTERVALS: u32 = 2;

/// A vantage's name (`eu-west`, `ap-south`): the proxy name rule, so it is
/// safe in a URL path, a metric label and a file name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VantageName(String);

impl VantageName {
    /// The name the service's own replicas probe from when `--vantage` is
    /// not given.
    pub const DEFAULT: &'static str = "local";

    /// The name, checked against the name rule.
    pub fn new(name: &str) -> Result<Self, FieldError> {
        validate_name(name)?;
        Ok(VantageName(name.to_owned()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VantageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for VantageName {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VantageName::new(s)
    }
}

/// How many fresh vantages must see a proxy fail before it is down overall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quorum {
    /// More than half of the vantages with a fresh result.
    #[default]
    Majority,
    /// At least this many vantages with a fresh result (never fewer than 1).
    AtLeast(u32),
}

impl Quorum {
    /// The failures needed among `fresh` vantages with a fresh result.
    pub fn needed(self, fresh: usize) -> usize {
        match self {
            Quorum::Majority => fresh / 2 + 1,
            Quorum::AtLeast(n) => usize::try_from(n.max(1)).unwrap_or(usize::MAX),
        }
    }
}

impl fmt::Display for Quorum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quorum::Majority => f.write_str("majority"),
            Quorum::AtLeast(n) => write!(f, "{n}"),
        }
    }
}

/// A quorum that is neither `majority` nor a whole number from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid vantage quorum {0:?}: expected \"majority\" or a whole number from 1")]
pub struct QuorumError(pub String);

impl FromStr for Quorum {
    type Err = QuorumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("majority") {
            return Ok(Quorum::Majority);
        }
        match s.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(Quorum::AtLeast(n)),
            _ => Err(QuorumError(s.to_owned())),
        }
    }
}

/// One vantage's newest result for one proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VantageResult {
    /// Where the probe came from.
    pub vantage: VantageName,
    /// What the probe gave.
    pub status: Status,
    /// When it was checked, on the service's clock.
    pub checked_at: OffsetDateTime,
    /// The headline of its report (its first error), when it failed.
    pub headline: Option<String>,
}

impl VantageResult {
    /// Whether this result still counts at `now`, with checks every `interval`.
    pub fn is_fresh(&self, now: OffsetDateTime, interval: Duration) -> bool {
        self.checked_at + interval * FRESH_INTERVALS >= now
    }
}

/// The overall verdict over every vantage's result for one proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The status Coder's shapes, the gauge and notifications carry.
    pub status: Status,
    /// Vantages that saw the proxy fail without reaching the quorum, with
    /// what they saw: a partial outage when not empty.
    pub partial: Vec<VantageResult>,
    /// Vantages without a fresh result: not counted.
    pub stale: Vec<VantageName>,
}

impl Verdict {
    /// The warning a partial outage adds to the proxy's report, naming the
    /// vantages and what they saw; `None` when there is none.
    pub fn partial_warning(&self) -> Option<String> {
        if self.partial.is_empty() {
            return None;
        }
        let seen: Vec<String> = self
            .partial
            .iter()
            .map(|r| match &r.headline {
                Some(headline) => format!("{} ({}: {headline})", r.vantage, r.status),
                None => format!("{} ({})", r.vantage, r.status),
            })
            .collect();
        Some(format!(
            "partial outage: failing from {} of the vantages: {}",
            self.partial.len(),
            seen.join("; ")
        ))
    }
}

/// The overall status of a proxy from its vantages' results at `now`.
///
/// Only fresh results count. The proxy is down when at least the quorum of
/// them failed (`unhealthy` or `unreachable`); it then takes the failure
/// most of those vantages saw (`unreachable` on a tie, the one that says
/// less is known). Fewer failures leave it `ok` with the failing vantages in
/// [`Verdict::partial`]. Without any failure, the fresh results' own status
/// holds (`ok`; `unregistered` when the proxy has no URL, which every vantage
/// sees alike); without any fresh result, `unknown`.
pub fn verdict(
    results: &[VantageResult],
    now: OffsetDateTime,
    interval: Duration,
    quorum: Quorum,
) -> Verdict {
    let (fresh, stale): (Vec<&VantageResult>, Vec<&VantageResult>) =
        results.iter().partition(|r| r.is_fresh(now, interval));
    let stale = stale.iter().map(|r| r.vantage.clone()).collect();
    let failing: Vec<&VantageResult> = fresh
        .iter()
        .copied()
        .filter(|r| matches!(r.status, Status::Unhealthy | Status::Unreachable))
        .collect();
    if fresh.is_empty() {
        return Verdict {
            status: Status::Unknown,
            partial: Vec::new(),
            stale,
        };
    }
    if !failing.is_empty() && failing.len() >= quorum.needed(fresh.len()) {
        let unreachable = failing
            .iter()
            .filter(|r| r.status == Status::Unreachable)
            .count();
        let status = if unreachable * 2 >= failing.len() {
            Status::Unreachable
        } else {
            Status::Unhealthy
        };
        return Verdict {
            status,
            partial: Vec::new(),
            stale,
        };
    }
    let status = if fresh.iter().all(|r| r.status == Status::Unregistered) {
        Status::Unregistered
    } else {
        Status::Ok
    };
    Verdict {
        status,
        partial: failing.into_iter().cloned().collect(),
        stale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_secs(30);

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("a valid time")
    }

    fn seen(vantage: &str, status: Status, ago_s: u64) -> VantageResult {
        VantageResult {
            vantage: VantageName::new(vantage).expect("a valid name"),
            status,
            checked_at: now() - Duration::from_secs(ago_s),
            headline: (status != Status::Ok).then(|| format!("{status} from {vantage}")),
        }
    }

    #[test]
    fn a_failure_from_one_of_three_vantages_is_a_partial_outage_that_stays_ok() {
        let results = [
            seen("eu-west", Status::Ok, 5),
            seen("us-east", Status::Ok, 5),
            seen("ap-south", Status::Unreachable, 5),
        ];
        let verdict = verdict(&results, now(), INTERVAL, Quorum::Majority);
        assert_eq!(verdict.status, Status::Ok);
        assert_eq!(verdict.partial.len(), 1);
        assert_eq!(
            verdict.partial_warning().as_deref(),
            Some(
                "partial outage: failing from 1 of the vantages: \
                 ap-south (unreachable: unreachable from ap-south)"
            )
        );
    }

    #[test]
    fn a_failure_from_two_of_three_vantages_is_down_overall() {
        let results = [
            seen("eu-west", Status::Ok, 5),
            seen("us-east", Status::Unreachable, 5),
            seen("ap-south", Status::Unreachable, 5),
        ];
        let verdict = verdict(&results, now(), INTERVAL, Quorum::Majority);
        assert_eq!(verdict.status, Status::Unreachable);
        assert!(verdict.partial.is_empty());
        assert_eq!(verdict.partial_warning(), None);
    }

    #[test]
    fn a_stale_vantage_is_left_out_of_the_count() {
        // two fresh vantages: one failure is not a majority of them; the
        // stale one's old failure does not count
        let results = [
            seen("eu-west", Status::Ok, 5),
            seen("us-east", Status::Unreachable, 5),
            seen("ap-south", Status::Unreachable, 61),
        ];
        let verdict = verdict(&results, now(), INTERVAL, Quorum::Majority);
        assert_eq!(verdict.status, Status::Ok);
        assert_eq!(
            verdict.stale,
            vec![VantageName::new("ap-south").expect("a valid name")]
        );
        assert_eq!(verdict.partial.len(), 1);
    }

    #[test]
    fn a_result_is_fresh_for_exactly_two_intervals() {
        assert!(seen("eu-west", Status::Ok, 60).is_fresh(now(), INTERVAL));
        assert!(!seen("eu-west", Status::Ok, 61).is_fresh(now(), INTERVAL));
    }

    #[test]
    fn a_fixed_quorum_counts_failures_not_a_share() {
        let results = [
            seen("eu-west", Status::Ok, 5),
            seen("us-east", Status::Ok, 5),
            seen("ap-south", Status::Unhealthy, 5),
        ];
        assert_eq!(
            verdict(&results, now(), INTERVAL, Quorum::AtLeast(1)).status,
            Status::Unhealthy
        );
        assert_eq!(
            verdict(&results, now(), INTERVAL, Quorum::AtLeast(2)).status,
            Status::Ok
        );
    }

    #[test]
    fn failures_that_reach_the_quorum_take_the_status_most_of_them_saw() {
        let results = [
            seen("a", Status::Unhealthy, 5),
            seen("b", Status::Unhealthy, 5),
            seen("c", Status::Unreachable, 5),
        ];
        assert_eq!(
            verdict(&results, now(), INTERVAL, Quorum::Majority).status,
            Status::Unhealthy
        );
        let tie = [
            seen("a", Status::Unhealthy, 5),
            seen("b", Status::Unreachable, 5),
        ];
        assert_eq!(
            verdict(&tie, now(), INTERVAL, Quorum::Majority).status,
            Status::Unreachable,
            "a tie says the less known"
        );
    }

    #[test]
    fn one_vantage_alone_decides_as_today() {
        let results = [seen("local", Status::Unreachable, 5)];
        assert_eq!(
            verdict(&results, now(), INTERVAL, Quorum::Majority).status,
            Status::Unreachable
        );
    }

    #[test]
    fn no_fresh_result_is_unknown_and_an_unregistered_proxy_stays_unregistered() {
        let old = [seen("eu-west", Status::Ok, 120)];
        assert_eq!(
            verdict(&old, now(), INTERVAL, Quorum::Majority).status,
            Status::Unknown
        );
        let unregistered = [
            seen("eu-west", Status::Unregistered, 5),
            seen("us-east", Status::Unregistered, 5),
        ];
        assert_eq!(
            verdict(&unregistered, now(), INTERVAL, Quorum::Majority).status,
            Status::Unregistered
        );
    }

    #[test]
    fn a_quorum_reads_majority_or_a_whole_number_and_names_a_bad_value() {
        assert_eq!("majority".parse::<Quorum>(), Ok(Quorum::Majority));
        assert_eq!("2".parse::<Quorum>(), Ok(Quorum::AtLeast(2)));
        let err = "0".parse::<Quorum>().expect_err("zero is refused");
        assert_eq!(
            err.to_string(),
            "invalid vantage quorum \"0\": expected \"majority\" or a whole number from 1"
        );
    }

    #[test]
    fn a_vantage_name_follows_the_name_rule() {
        assert!(VantageName::new("eu-west").is_ok());
        assert!(VantageName::new("eu west").is_err());
        assert!(VantageName::new("primary").is_err());
    }
}

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

use serde::{Deserialize, Serialize};

use crate::validate::{FieldError, validate_name};
use crate::{HealthReport, Hysteresis, Status};

/// How many intervals a vantage's newest result stays fresh: the same
/// "stale after two intervals" the replicas use for their own results.
pub const FRESH_INTERVALS: u32 = 2;

/// A vantage's name (`eu-west`, `ap-south`): the proxy name rule, so it is
/// safe in a URL path, a metric label and a file name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VantageName(String);

impl TryFrom<String> for VantageName {
    type Error = FieldError;
    fn try_from(name: String) -> Result<Self, Self::Error> {
        validate_name(&name)?;
        Ok(VantageName(name))
    }
}

impl From<VantageName> for String {
    fn from(name: VantageName) -> Self {
        name.0
    }
}

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

impl Default for VantageName {
    /// [`VantageName::DEFAULT`].
    fn default() -> Self {
        VantageName(VantageName::DEFAULT.to_owned())
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

/// One vantage's newest result for one proxy: what the matrix shows in one
/// cell, and what the quorum counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VantageReading {
    /// Where the probe came from.
    pub vantage: VantageName,
    /// The vantage's status after hysteresis (each vantage's own results
    /// are damped on their own before the quorum counts them).
    pub status: Status,
    /// What the vantage's last check alone gave.
    pub last_result: Status,
    /// How many of the vantage's checks in a row gave `last_result`.
    pub streak: u32,
    /// How long the vantage's last request took, in milliseconds; `None`
    /// when none was made.
    pub latency_ms: Option<u32>,
    /// When it was checked, on the service's clock.
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    /// The vantage's report of that check.
    pub report: HealthReport,
    /// Whether the reading was no longer fresh when the proxy was last
    /// judged (then it did not count).
    #[serde(default)]
    pub stale: bool,
}

impl VantageReading {
    /// Whether this result still counts at `now`, with checks every `interval`.
    pub fn is_fresh(&self, now: OffsetDateTime, interval: Duration) -> bool {
        self.checked_at + interval * FRESH_INTERVALS >= now
    }

    /// The reading after a new result of the same vantage: its status damped
    /// by `hysteresis` against this one's.
    pub fn next(
        previous: Option<&VantageReading>,
        vantage: VantageName,
        raw: Status,
        latency_ms: Option<u32>,
        checked_at: OffsetDateTime,
        report: HealthReport,
        hysteresis: Hysteresis,
    ) -> VantageReading {
        let streak = match previous {
            Some(previous) if previous.last_result == raw => previous.streak.saturating_add(1),
            _ => 1,
        };
        let status = hysteresis.next(previous.map(|p| p.status), raw, streak);
        VantageReading {
            vantage,
            status,
            last_result: raw,
            streak,
            latency_ms,
            checked_at,
            report,
            stale: false,
        }
    }
}

/// The overall verdict over every vantage's result for one proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The status Coder's shapes, the gauge and notifications carry.
    pub status: Status,
    /// Vantages that saw the proxy fail without reaching the quorum, with
    /// what they saw: a partial outage when not empty.
    pub partial: Vec<VantageReading>,
    /// Vantages that saw the proxy fail when they reached the quorum (the
    /// proxy is down overall), with what they saw.
    pub failing: Vec<VantageReading>,
    /// Vantages with a fresh result.
    pub fresh: usize,
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
        let seen: Vec<String> = self.partial.iter().map(describe).collect();
        Some(format!(
            "partial outage: failing from {} of {} vantages: {}",
            self.partial.len(),
            self.fresh,
            seen.join("; ")
        ))
    }

    /// The error a proxy down by the quorum gets in its report, naming the
    /// vantages that agree and what they saw; `None` when it is not down.
    pub fn quorum_error(&self) -> Option<String> {
        if self.failing.is_empty() {
            return None;
        }
        let seen: Vec<String> = self.failing.iter().map(describe).collect();
        Some(format!(
            "{} from {} of {} vantages: {}",
            self.status,
            self.failing.len(),
            self.fresh,
            seen.join("; ")
        ))
    }

    /// Whether `vantage` is among the stale ones.
    pub fn is_stale(&self, vantage: &VantageName) -> bool {
        self.stale.contains(vantage)
    }
}

/// `name (status: first error)`, what one failing vantage saw.
fn describe(reading: &VantageReading) -> String {
    let headline = reading.report.headline();
    if headline.is_empty() {
        format!("{} ({})", reading.vantage, reading.status)
    } else {
        format!("{} ({}: {headline})", reading.vantage, reading.status)
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
    results: &[VantageReading],
    now: OffsetDateTime,
    interval: Duration,
    quorum: Quorum,
) -> Verdict {
    let (fresh, stale): (Vec<&VantageReading>, Vec<&VantageReading>) =
        results.iter().partition(|r| r.is_fresh(now, interval));
    let stale = stale.iter().map(|r| r.vantage.clone()).collect();
    let failing: Vec<&VantageReading> = fresh
        .iter()
        .copied()
        .filter(|r| matches!(r.status, Status::Unhealthy | Status::Unreachable))
        .collect();
    if fresh.is_empty() {
        return Verdict {
            status: Status::Unknown,
            partial: Vec::new(),
            failing: Vec::new(),
            fresh: 0,
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
            failing: failing.into_iter().cloned().collect(),
            fresh: fresh.len(),
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
        failing: Vec::new(),
        fresh: fresh.len(),
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

    fn seen(vantage: &str, status: Status, ago_s: u64) -> VantageReading {
        VantageReading {
            vantage: VantageName::new(vantage).expect("a valid name"),
            status,
            last_result: status,
            streak: 1,
            latency_ms: Some(20),
            checked_at: now() - Duration::from_secs(ago_s),
            report: if status == Status::Ok {
                HealthReport::default()
            } else {
                HealthReport::error(format!("{status} from {vantage}"))
            },
            stale: false,
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
                "partial outage: failing from 1 of 3 vantages: \
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
        assert_eq!(
            verdict.quorum_error().as_deref(),
            Some(
                "unreachable from 2 of 3 vantages: us-east (unreachable: unreachable from us-east); \
                 ap-south (unreachable: unreachable from ap-south)"
            )
        );
    }

    #[test]
    fn a_vantage_damps_its_own_results_before_the_quorum_counts_them() {
        let rise_fall = Hysteresis { rise: 1, fall: 2 };
        let ok = VantageReading::next(
            None,
            VantageName::new("eu-west").expect("a valid name"),
            Status::Ok,
            Some(10),
            now(),
            HealthReport::default(),
            rise_fall,
        );
        let once = VantageReading::next(
            Some(&ok),
            ok.vantage.clone(),
            Status::Unreachable,
            None,
            now(),
            HealthReport::error("refused"),
            rise_fall,
        );
        assert_eq!(
            (once.status, once.last_result, once.streak),
            (Status::Ok, Status::Unreachable, 1)
        );
        let twice = VantageReading::next(
            Some(&once),
            ok.vantage.clone(),
            Status::Unreachable,
            None,
            now(),
            HealthReport::error("refused"),
            rise_fall,
        );
        assert_eq!((twice.status, twice.streak), (Status::Unreachable, 2));
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

//! Other vantages' results, and how a proxy's overall status is judged from
//! them and the service's own.
//!
//! The service probes from its own vantage; agents (and nothing else) send
//! the results of theirs. [`RemoteBook`] keeps each other vantage's newest
//! result per proxy, damped by hysteresis on its own, and refuses what a
//! well-behaved agent never sends: a result for a proxy the service does not
//! have, one older than the newest already accepted, one timed in the future.
//! [`Judge`] turns the own result and the book's into the one status Coder's
//! shapes carry, by the quorum of [`proxyhealth_core::vantage`].

use proxyhealth_core::vantage::verdict;
use proxyhealth_core::{
    CheckRecord, HealthReport, Hysteresis, ProxyStatus, Quorum, Status, VantageHistory,
    VantageName, VantageReading, VantageTransition,
};
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// How far ahead of the service's clock a result may be timed and still be
/// taken (clocks of agents drift a little; more is a broken or hostile agent).
pub const CLOCK_SKEW_ALLOWED: Duration = Duration::from_secs(5);

/// One result of another vantage, as its agent sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCheck {
    /// The proxy checked.
    pub proxy_id: Uuid,
    /// What the check alone gave (the agent's classification).
    pub status: Status,
    /// How long the request took, in milliseconds; `None` when none was made.
    pub latency_ms: Option<u32>,
    /// When the check started, on the agent's clock.
    pub checked_at: OffsetDateTime,
    /// The check's report.
    pub report: HealthReport,
}

/// Why one result of a batch was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The service has no such proxy (never had, or deleted): not assigned
    /// to any vantage.
    #[error("proxy {0} is not assigned to this vantage")]
    NotAssigned(Uuid),
    /// A newer result of the vantage for the proxy was already taken.
    #[error(
        "result for proxy {proxy_id} checked at {checked_at} is older than the newest already accepted ({newest})"
    )]
    Older {
        /// The proxy.
        proxy_id: Uuid,
        /// When the refused result was checked.
        checked_at: OffsetDateTime,
        /// When the newest accepted one was.
        newest: OffsetDateTime,
    },
    /// Timed after the service's clock (beyond [`CLOCK_SKEW_ALLOWED`]).
    #[error(
        "result for proxy {proxy_id} is timed in the future ({checked_at}, the service's clock reads {now})"
    )]
    Future {
        /// The proxy.
        proxy_id: Uuid,
        /// When the refused result claims it was checked.
        checked_at: OffsetDateTime,
        /// The service's clock when it arrived.
        now: OffsetDateTime,
    },
}

impl Refusal {
    /// The proxy the refused result named.
    pub fn proxy_id(&self) -> Uuid {
        match self {
            Refusal::NotAssigned(id) => *id,
            Refusal::Older { proxy_id, .. } | Refusal::Future { proxy_id, .. } => *proxy_id,
        }
    }

    /// A short name for counting refusals by kind (a metric label).
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::NotAssigned(_) => "not_assigned",
            Refusal::Older { .. } => "older",
            Refusal::Future { .. } => "future",
        }
    }
}

/// What became of a batch of results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Intake {
    /// The readings taken (new, or the same as the newest one: a batch sent
    /// again after its answer was lost), to be kept by the store.
    pub accepted: Vec<(Uuid, VantageReading)>,
    /// The results refused, and why.
    pub refused: Vec<Refusal>,
    /// What the new readings add to the vantage's own history: their checks
    /// and the vantage's status changes (a result sent again adds nothing).
    pub history: VantageHistory,
}

/// Every other vantage's newest reading per proxy.
#[derive(Debug, Default)]
pub struct RemoteBook {
    /// Per proxy, one reading per vantage, sorted by vantage name.
    readings: HashMap<Uuid, Vec<VantageReading>>,
}

impl RemoteBook {
    /// The other vantages' readings of one proxy, by vantage name.
    pub fn of(&self, id: &Uuid) -> &[VantageReading] {
        self.readings.get(id).map_or(&[], Vec::as_slice)
    }

    /// Puts readings kept by a store back (at start), each unless a newer
    /// one of its vantage is there.
    pub fn restore(&mut self, readings: impl IntoIterator<Item = (Uuid, VantageReading)>) {
        for (id, reading) in readings {
            self.put(id, reading);
        }
    }

    /// Takes `checks` from `vantage` at `now`: each result damped against the
    /// vantage's previous reading of its proxy; a result for a proxy not in
    /// `known`, older than the newest taken, or timed in the future is refused.
    pub fn take(
        &mut self,
        vantage: &VantageName,
        checks: Vec<RemoteCheck>,
        known: impl Fn(&Uuid) -> bool,
        now: OffsetDateTime,
        hysteresis: Hysteresis,
    ) -> Intake {
        let mut intake = Intake::default();
        for check in checks {
            let id = check.proxy_id;
            if !known(&id) {
                intake.refused.push(Refusal::NotAssigned(id));
                continue;
            }
            if check.checked_at > now + CLOCK_SKEW_ALLOWED {
                intake.refused.push(Refusal::Future {
                    proxy_id: id,
                    checked_at: check.checked_at,
                    now,
                });
                continue;
            }
            let previous = self.reading(&id, vantage);
            if let Some(previous) = previous {
                if check.checked_at < previous.checked_at {
                    intake.refused.push(Refusal::Older {
                        proxy_id: id,
                        checked_at: check.checked_at,
                        newest: previous.checked_at,
                    });
                    continue;
                }
                if check.checked_at == previous.checked_at {
                    intake.accepted.push((id, previous.clone()));
                    continue;
                }
            }
            let reading = VantageReading::next(
                previous,
                vantage.clone(),
                check.status,
                check.latency_ms,
                check.checked_at,
                check.report,
                hysteresis,
            );
            let from = previous.map(|previous| previous.status);
            intake.history.checks.push(CheckRecord {
                proxy_id: id,
                at: reading.checked_at,
                result: reading.last_result,
                latency: reading
                    .latency_ms
                    .map(|ms| Duration::from_millis(u64::from(ms))),
            });
            if from != Some(reading.status) {
                intake.history.transitions.push(VantageTransition {
                    proxy_id: id,
                    vantage: vantage.clone(),
                    at: reading.checked_at,
                    from,
                    to: reading.status,
                    report: reading.report.clone(),
                });
            }
            intake.accepted.push((id, reading.clone()));
            self.put(id, reading);
        }
        intake
    }

    /// Forgets every reading of `vantage` (it was deleted).
    pub fn forget_vantage(&mut self, vantage: &VantageName) {
        self.readings.retain(|_, readings| {
            readings.retain(|reading| &reading.vantage != vantage);
            !readings.is_empty()
        });
    }

    /// Keeps only the proxies `keep` says are still there.
    pub fn retain_proxies(&mut self, keep: impl Fn(&Uuid) -> bool) {
        self.readings.retain(|id, _| keep(id));
    }

    fn reading(&self, id: &Uuid, vantage: &VantageName) -> Option<&VantageReading> {
        self.of(id)
            .iter()
            .find(|reading| &reading.vantage == vantage)
    }

    fn put(&mut self, id: Uuid, reading: VantageReading) {
        let readings = self.readings.entry(id).or_default();
        match readings.binary_search_by(|r| r.vantage.cmp(&reading.vantage)) {
            Ok(at) if readings[at].checked_at <= reading.checked_at => readings[at] = reading,
            Ok(_) => {}
            Err(at) => readings.insert(at, reading),
        }
    }
}

/// How a merge judges a proxy: the own vantage's results damped by
/// hysteresis, then the quorum over every vantage's fresh reading.
#[derive(Debug, Clone, Copy)]
pub struct Judge<'a> {
    /// Damping of each vantage's own sequence of results.
    pub hysteresis: Hysteresis,
    /// The service's own vantage.
    pub own: &'a VantageName,
    /// How many fresh vantages must agree a proxy is down.
    pub quorum: Quorum,
    /// The check interval, which freshness is counted in.
    pub interval: Duration,
    /// The other vantages' readings.
    pub remote: &'a RemoteBook,
}

/// What the judge decided for one proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    /// The overall status.
    pub status: Status,
    /// The overall report: the own one, with what the vantages say.
    pub report: HealthReport,
    /// Every vantage's reading, the own first; empty when no other vantage
    /// has one (then status and report are the own ones).
    pub vantages: Vec<VantageReading>,
}

impl Judge<'_> {
    /// The overall status of proxy `id` from its own reading and the other
    /// vantages', at `now`.
    pub fn judge(&self, id: &Uuid, own: VantageReading, now: OffsetDateTime) -> Judged {
        let remote = self.remote.of(id);
        if remote.is_empty() {
            return Judged {
                status: own.status,
                report: own.report,
                vantages: Vec::new(),
            };
        }
        // judged in name order, so the vantages a report names come in the
        // same order on every replica whichever vantage is its own (the
        // book keeps each proxy's readings in name order: the own one goes
        // in its place, and then first, with nothing copied twice)
        let place = remote.partition_point(|reading| reading.vantage < own.vantage);
        let mut vantages = Vec::with_capacity(remote.len() + 1);
        vantages.extend(remote[..place].iter().cloned());
        vantages.push(own);
        vantages.extend(remote[place..].iter().cloned());
        let verdict = verdict(&vantages, now, self.interval, self.quorum);
        vantages[..=place].rotate_right(1);
        for reading in &mut vantages {
            reading.stale = verdict.is_stale(&reading.vantage);
        }
        let own = &vantages[0].report;
        // Down by the quorum: the one error says who agrees. A partial
        // outage is a warning: Coder's clients read errors as unfit.
        let report = match (verdict.quorum_error(), verdict.partial_warning()) {
            (Some(error), _) => HealthReport {
                errors: vec![error],
                warnings: own.warnings.clone(),
            },
            (None, Some(warning)) => HealthReport {
                errors: Vec::new(),
                warnings: std::iter::once(warning)
                    .chain(own.warnings.iter().cloned())
                    .collect(),
            },
            (None, None) => own.clone(),
        };
        Judged {
            status: verdict.status,
            report,
            vantages,
        }
    }

    /// `status` judged again at `now` with the book's readings (another
    /// vantage's result arrived, or time made one stale); `None` when the
    /// proxy's overall status, report and readings stay as they are.
    pub fn rejudge(&self, status: &ProxyStatus, now: OffsetDateTime) -> Option<ProxyStatus> {
        let own = own_reading(status, self.own);
        let judged = self.judge(&status.proxy.id, own, now);
        if judged.status == status.status
            && judged.report == status.report
            && judged.vantages == status.vantages
        {
            return None;
        }
        // the report and readings are replaced: copying them first is waste
        Some(ProxyStatus {
            proxy: status.proxy.clone(),
            host: status.host.clone(),
            status: judged.status,
            last_result: status.last_result,
            streak: status.streak,
            report: judged.report,
            checked_at: status.checked_at,
            latency: status.latency,
            status_changed_at: if status.status == judged.status {
                status.status_changed_at
            } else {
                now
            },
            history: status.history.clone(),
            check_seq: status.check_seq,
            tls_not_after: status.tls_not_after,
            tls_days_left: status.tls_days_left,
            vantages: judged.vantages,
        })
    }
}

/// The own vantage's status of a proxy, as [`own_reading`] gives it,
/// without copying the reading.
pub fn own_status(status: &ProxyStatus) -> Status {
    status
        .vantages
        .first()
        .map_or(status.status, |own| own.status)
}

/// The own vantage's reading of a status: the first of its vantages, or,
/// when it has none, the status itself (then all of it is the own vantage's).
pub fn own_reading(status: &ProxyStatus, own: &VantageName) -> VantageReading {
    if let Some(first) = status.vantages.first() {
        return first.clone();
    }
    VantageReading {
        vantage: own.clone(),
        status: status.status,
        last_result: status.last_result,
        streak: status.streak,
        latency_ms: status
            .latency
            .map(|latency| u32::try_from(latency.as_millis()).unwrap_or(u32::MAX)),
        checked_at: status.checked_at,
        report: status.report.clone(),
        stale: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).expect("a valid time")
    }

    fn name(s: &str) -> VantageName {
        VantageName::new(s).expect("a valid name")
    }

    fn check(id: Uuid, status: Status, checked_at: OffsetDateTime) -> RemoteCheck {
        RemoteCheck {
            proxy_id: id,
            status,
            latency_ms: Some(30),
            checked_at,
            report: if status == Status::Ok {
                HealthReport::default()
            } else {
                HealthReport::error("connection refused")
            },
        }
    }

    #[test]
    fn a_result_older_than_the_newest_taken_is_refused_and_the_same_one_again_is_taken() {
        let id = Uuid::new_v4();
        let mut book = RemoteBook::default();
        let eu = name("eu-west");
        let first = book.take(
            &eu,
            vec![check(id, Status::Ok, at(10))],
            |_| true,
            at(10),
            Hysteresis::default(),
        );
        assert_eq!(first.accepted.len(), 1);
        let again = book.take(
            &eu,
            vec![check(id, Status::Ok, at(10))],
            |_| true,
            at(11),
            Hysteresis::default(),
        );
        assert_eq!((again.accepted.len(), again.refused.len()), (1, 0));
        let older = book.take(
            &eu,
            vec![check(id, Status::Unreachable, at(5))],
            |_| true,
            at(12),
            Hysteresis::default(),
        );
        assert_eq!(older.refused[0].reason(), "older");
        assert_eq!(book.of(&id)[0].status, Status::Ok);
    }

    #[test]
    fn an_intake_adds_each_new_check_and_each_change_of_the_vantages_status_to_its_history() {
        let id = Uuid::new_v4();
        let mut book = RemoteBook::default();
        let eu = name("eu-west");
        let mut take = |status, s| {
            book.take(
                &eu,
                vec![check(id, status, at(s))],
                |_| true,
                at(s),
                Hysteresis::default(),
            )
            .history
        };
        let first = take(Status::Ok, 0);
        assert_eq!(first.checks.len(), 1);
        assert_eq!(
            first
                .transitions
                .iter()
                .map(|t| (t.from, t.to))
                .collect::<Vec<_>>(),
            [(None, Status::Ok)]
        );
        let same = take(Status::Ok, 10);
        assert_eq!((same.checks.len(), same.transitions.len()), (1, 0));
        let down = take(Status::Unreachable, 20);
        assert_eq!(down.transitions[0].from, Some(Status::Ok));
        assert_eq!(down.transitions[0].to, Status::Unreachable);
        assert_eq!(down.transitions[0].vantage, eu);
        assert_eq!(down.checks[0].latency, Some(Duration::from_millis(30)));
        let again = take(Status::Unreachable, 20);
        assert!(
            again.is_empty(),
            "a result sent again adds nothing: {again:?}"
        );
    }

    #[test]
    fn a_result_timed_in_the_future_or_for_an_unknown_proxy_is_refused() {
        let id = Uuid::new_v4();
        let mut book = RemoteBook::default();
        let eu = name("eu-west");
        let intake = book.take(
            &eu,
            vec![
                check(id, Status::Ok, at(60)),
                check(Uuid::new_v4(), Status::Ok, at(0)),
            ],
            |known| *known == id,
            at(0),
            Hysteresis::default(),
        );
        let reasons: Vec<_> = intake.refused.iter().map(Refusal::reason).collect();
        assert_eq!(reasons, ["future", "not_assigned"]);
        assert!(book.of(&id).is_empty());
        assert!(
            intake.refused[0]
                .to_string()
                .contains("timed in the future")
        );
    }

    #[test]
    fn the_quorum_error_names_the_vantages_that_agree() {
        let id = Uuid::new_v4();
        let mut book = RemoteBook::default();
        for vantage in ["ap-south", "us-east"] {
            book.take(
                &name(vantage),
                vec![check(id, Status::Unreachable, at(0))],
                |_| true,
                at(0),
                Hysteresis::default(),
            );
        }
        let own_name = name("local");
        let judge = Judge {
            hysteresis: Hysteresis::default(),
            own: &own_name,
            quorum: Quorum::Majority,
            interval: Duration::from_secs(30),
            remote: &book,
        };
        let own = VantageReading::next(
            None,
            own_name.clone(),
            Status::Ok,
            Some(5),
            at(1),
            HealthReport::default(),
            Hysteresis::default(),
        );
        let judged = judge.judge(&id, own, at(1));
        assert_eq!(judged.status, Status::Unreachable);
        assert_eq!(
            judged.report.errors,
            [
                "unreachable from 2 of 3 vantages: ap-south (unreachable: connection refused); \
              us-east (unreachable: connection refused)"
            ]
        );
        assert_eq!(judged.vantages.len(), 3);
        assert_eq!(judged.vantages[0].vantage, own_name);
    }

    #[test]
    fn an_own_failure_seen_by_no_other_vantage_is_a_warning_not_an_error() {
        let id = Uuid::new_v4();
        let mut book = RemoteBook::default();
        for vantage in ["ap-south", "us-east"] {
            book.take(
                &name(vantage),
                vec![check(id, Status::Ok, at(0))],
                |_| true,
                at(0),
                Hysteresis::default(),
            );
        }
        let own_name = name("local");
        let judge = Judge {
            hysteresis: Hysteresis::default(),
            own: &own_name,
            quorum: Quorum::Majority,
            interval: Duration::from_secs(30),
            remote: &book,
        };
        let own = VantageReading::next(
            None,
            own_name.clone(),
            Status::Unreachable,
            None,
            at(1),
            HealthReport::error("connection refused"),
            Hysteresis::default(),
        );
        let judged = judge.judge(&id, own, at(1));
        assert_eq!(judged.status, Status::Ok);
        assert!(judged.report.errors.is_empty());
        assert_eq!(
            judged.report.warnings,
            [
                "partial outage: failing from 1 of 3 vantages: local (unreachable: connection refused)"
            ]
        );
    }

    #[test]
    fn a_deleted_vantage_is_forgotten() {
        let id = Uuid::new_v4();
        let mut book = RemoteBook::default();
        let eu = name("eu-west");
        book.take(
            &eu,
            vec![check(id, Status::Ok, at(0))],
            |_| true,
            at(0),
            Hysteresis::default(),
        );
        book.forget_vantage(&eu);
        assert!(book.of(&id).is_empty());
    }
}

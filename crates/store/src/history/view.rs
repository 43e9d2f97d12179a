//! A proxy's history over a window, and the incidents, composed from a
//! [`HistoryStore`]'s reads.
//!
//! Windows are whole hours, the current one included: a window of `n` hours
//! starts at the start of the hour `n - 1` hours before the current one, so
//! uptime and buckets always cover the same hours (the rollups are hourly).
//!
//! An incident is a period a proxy spent out of `ok`: it starts at a
//! transition from `ok` (or from nothing, a first status) to another status,
//! and ends at the next transition to `ok`; until then it is open. Its worst
//! status ranks `unreachable` over `unhealthy` over `unregistered` over
//! `unknown`; its first error is the first line of the first error any of
//! its transitions reported. A deleted proxy is checked no more, so its
//! open incident ends when it was deleted ([`end_at_deletion`]).

use std::collections::HashMap;
use std::time::Duration;

use proxyhealth_core::{IncidentEnd, Status, Transition};
use time::OffsetDateTime;
use uuid::Uuid;

use super::cache::{HOUR_SECS, hour_of};
use super::{HistoryStore, HourBucket, UptimeCounts};
use crate::StoreError;

/// Most transitions walked back to find where an incident that began before
/// a window started (a chain of changes between bad statuses).
const WALK_BACK_MAX: usize = 100;

/// A period a proxy spent out of `ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRecord {
    /// The proxy.
    pub proxy_id: Uuid,
    /// Its name when the incident started.
    pub proxy_name: String,
    /// When it left `ok`.
    pub started_at: OffsetDateTime,
    /// When it was `ok` again, or its proxy was deleted; `None` while open.
    pub ended_at: Option<OffsetDateTime>,
    /// Why it ended; `None` while open.
    pub ended_by: Option<IncidentEnd>,
    /// The worst status during it.
    pub worst: Status,
    /// The first line of the first error reported during it (empty if none).
    pub first_error: String,
}

impl IncidentRecord {
    /// How long it lasted (until `now` while open).
    pub fn duration(&self, now: OffsetDateTime) -> Duration {
        let end = self.ended_at.unwrap_or(now);
        Duration::try_from(end - self.started_at).unwrap_or_default()
    }
}

/// A proxy's history over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowView {
    /// The start of the window's first hour.
    pub since: OffsetDateTime,
    /// The window's checks.
    pub counts: UptimeCounts,
    /// The proxy's status when the window started, if one was recorded.
    pub status_at_start: Option<Status>,
    /// The hours with checks, oldest first.
    pub buckets: Vec<HourBucket>,
    /// The transitions in the window, oldest first.
    pub transitions: Vec<Transition>,
    /// The incidents that overlap the window, newest first.
    pub incidents: Vec<IncidentRecord>,
}

/// The start of a window of `hours` whole hours ending with the one holding `now`.
pub fn window_start(now: OffsetDateTime, hours: u32) -> OffsetDateTime {
    let start = hour_of(now) - (i64::from(hours.max(1)) - 1) * HOUR_SECS;
    OffsetDateTime::from_unix_timestamp(start).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// One proxy's history over the last `hours` hours at `now`.
pub async fn window(
    history: &dyn HistoryStore,
    proxy_id: Uuid,
    hours: u32,
    now: OffsetDateTime,
) -> Result<WindowView, StoreError> {
    let since = window_start(now, hours);
    let buckets = history.buckets(proxy_id, since).await?;
    let transitions = history.transitions(Some(proxy_id), since).await?;
    let before = history.last_before(Some(proxy_id), since).await?;
    let status_at_start = before.first().map(|t| t.to);
    let mut counts = UptimeCounts::default();
    for bucket in &buckets {
        counts.ok += bucket.rollup.ok;
        counts.checks += bucket.rollup.checks;
    }
    let incidents = incidents_with(history, before, &transitions).await?;
    Ok(WindowView {
        since,
        counts,
        status_at_start,
        buckets,
        transitions,
        incidents,
    })
}

/// Every incident open at or after `since`, of every proxy, newest start first.
pub async fn incidents(
    history: &dyn HistoryStore,
    since: OffsetDateTime,
) -> Result<Vec<IncidentRecord>, StoreError> {
    let transitions = history.transitions(None, since).await?;
    let before = history.last_before(None, since).await?;
    incidents_with(history, before, &transitions).await
}

/// The incidents of `transitions` (oldest first), each proxy's run
/// continuing from its last transition before them (`before`), walked back
/// to the run's start when that was a change between bad statuses.
async fn incidents_with(
    history: &dyn HistoryStore,
    before: Vec<Transition>,
    transitions: &[Transition],
) -> Result<Vec<IncidentRecord>, StoreError> {
    let mut runs: HashMap<Uuid, Vec<Transition>> = HashMap::new();
    for last in before {
        if last.to == Status::Ok {
            continue;
        }
        let mut run = vec![last];
        // walk back while the run's first transition came from a bad status
        while run.len() < WALK_BACK_MAX && run[0].from.is_some_and(|from| from != Status::Ok) {
            let earlier = history
                .last_before(Some(run[0].proxy_id), run[0].at)
                .await?;
            match earlier.into_iter().next() {
                Some(earlier) => run.insert(0, earlier),
                None => break,
            }
        }
        runs.insert(run[0].proxy_id, run);
    }
    for transition in transitions {
        runs.entry(transition.proxy_id)
            .or_default()
            .push(transition.clone());
    }
    let mut found = Vec::new();
    for run in runs.values() {
        found.extend(incidents_of(run));
    }
    found.sort_by(|a, b| {
        b.started_at
            .cmp(&a.started_at)
            .then_with(|| a.proxy_id.cmp(&b.proxy_id))
    });
    Ok(found)
}

/// The incidents in one proxy's transitions, oldest first.
pub fn incidents_of(transitions: &[Transition]) -> Vec<IncidentRecord> {
    let mut found = Vec::new();
    let mut open: Option<IncidentRecord> = None;
    for transition in transitions {
        if transition.to == Status::Ok {
            if let Some(mut incident) = open.take() {
                incident.ended_at = Some(transition.at);
                incident.ended_by = Some(IncidentEnd::Recovered);
                found.push(incident);
            }
            continue;
        }
        let error = transition.report.headline().to_owned();
        match &mut open {
            Some(incident) => {
                if transition.to.severity() > incident.worst.severity() {
                    incident.worst = transition.to;
                }
                if incident.first_error.is_empty() {
                    incident.first_error = error;
                }
            }
            None => {
                open = Some(IncidentRecord {
                    proxy_id: transition.proxy_id,
                    proxy_name: transition.proxy_name.clone(),
                    started_at: transition.at,
                    ended_at: None,
                    ended_by: None,
                    worst: transition.to,
                    first_error: error,
                });
            }
        }
    }
    found.extend(open);
    found
}

/// The incidents (newest first) with those of deleted proxies ended when
/// their proxy was deleted (`deleted_at`, by proxy id): an incident open at
/// the deletion, or ended only by a result written after it, ends then; one
/// that started at or after it (a check that raced the deletion) is dropped,
/// and so is one that now ends before `since`.
pub fn end_at_deletion(
    incidents: Vec<IncidentRecord>,
    deleted_at: &HashMap<Uuid, OffsetDateTime>,
    since: OffsetDateTime,
) -> Vec<IncidentRecord> {
    incidents
        .into_iter()
        .filter_map(|mut incident| {
            let Some(&deleted) = deleted_at.get(&incident.proxy_id) else {
                return Some(incident);
            };
            if incident.started_at >= deleted {
                return None;
            }
            if incident.ended_at.is_none_or(|ended| ended > deleted) {
                incident.ended_at = Some(deleted);
                incident.ended_by = Some(IncidentEnd::ProxyDeleted);
            }
            incident
                .ended_at
                .is_none_or(|ended| ended >= since)
                .then_some(incident)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxyhealth_core::HealthReport;

    fn at(minute: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(minute * 60).expect("a time")
    }

    fn t(minute: i64, from: Option<Status>, to: Status, error: &str) -> Transition {
        Transition {
            proxy_id: Uuid::nil(),
            proxy_name: "p".into(),
            proxy_url: String::new(),
            at: at(minute),
            from,
            to,
            report: if error.is_empty() {
                HealthReport::default()
            } else {
                HealthReport::error(error)
            },
            replica: None,
            previous_lasted: None,
        }
    }

    #[test]
    fn an_incident_runs_from_leaving_ok_to_the_next_ok_with_its_worst_status() {
        let found = incidents_of(&[
            t(0, None, Status::Ok, ""),
            t(10, Some(Status::Ok), Status::Unhealthy, "disk full\nmore"),
            t(12, Some(Status::Unhealthy), Status::Unreachable, "refused"),
            t(15, Some(Status::Unreachable), Status::Ok, ""),
            t(20, Some(Status::Ok), Status::Unreachable, "timed out"),
        ]);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].started_at, at(10));
        assert_eq!(found[0].ended_at, Some(at(15)));
        assert_eq!(found[0].ended_by, Some(IncidentEnd::Recovered));
        assert_eq!(found[0].worst, Status::Unreachable);
        assert_eq!(found[0].first_error, "disk full");
        assert_eq!(found[0].duration(at(100)), Duration::from_secs(300));
        assert_eq!(found[1].ended_at, None, "still open");
        assert_eq!(found[1].ended_by, None);
        assert_eq!(found[1].duration(at(30)), Duration::from_secs(600));
    }

    #[test]
    fn a_deleted_proxys_open_incident_ends_at_its_deletion_and_later_ones_are_dropped() {
        let mut found = incidents_of(&[
            t(0, None, Status::Unreachable, "refused"),
            t(5, Some(Status::Unreachable), Status::Ok, ""),
            t(10, Some(Status::Ok), Status::Unhealthy, "disk full"),
            t(30, Some(Status::Unhealthy), Status::Ok, ""),
            t(40, Some(Status::Ok), Status::Unhealthy, "late"),
        ]);
        found.reverse();
        let deleted = HashMap::from([(Uuid::nil(), at(20))]);
        let ended = end_at_deletion(found.clone(), &deleted, at(0));
        assert_eq!(ended.len(), 2, "the incident after the deletion is dropped");
        assert_eq!(ended[0].started_at, at(10));
        assert_eq!(ended[0].ended_at, Some(at(20)), "ended by the deletion");
        assert_eq!(ended[0].ended_by, Some(IncidentEnd::ProxyDeleted));
        assert_eq!(ended[1].ended_at, Some(at(5)), "ended before it: kept");
        assert_eq!(ended[1].ended_by, Some(IncidentEnd::Recovered));

        let since_later = end_at_deletion(found.clone(), &deleted, at(25));
        assert!(since_later.is_empty(), "{since_later:?}");
        let others = end_at_deletion(found.clone(), &HashMap::new(), at(0));
        assert_eq!(others, found, "a live proxy's incidents are untouched");
    }

    #[test]
    fn a_window_is_whole_hours_with_the_current_one_last() {
        let now = OffsetDateTime::from_unix_timestamp(10 * 3600 + 1234).expect("a time");
        assert_eq!(window_start(now, 24).unix_timestamp(), -13 * 3600);
        assert_eq!(window_start(now, 1).unix_timestamp(), 10 * 3600);
    }
}

//! Persisted history, written once and run against every backend
//! the way the conformance suite is: `history_suite!` turns every case into
//! one `#[tokio::test]` for a backend's fixture factory.

use std::sync::Arc;
use std::time::Duration;

use proxyhealth_core::{CheckRecord, HealthReport, HistoryBatch, Status, Transition};
use proxyhealth_store::{HistoryStore, ProxyStore};
use time::OffsetDateTime;
use uuid::Uuid;

/// Generates one test per history case, each on a fresh store from `$factory`.
macro_rules! history_suite {
    ($factory:ident) => {
        $crate::history::history_suite!(@cases $factory;
            transitions_and_rollups_are_written_as_checks_happen,
            a_status_already_recorded_is_not_a_transition_again,
            uptime_counts_only_the_hours_inside_the_window,
            pruning_deletes_old_rows_but_keeps_each_proxys_last_transition,
            retention_prunes_chunk_by_chunk_until_nothing_is_older,
            a_fleet_sized_batch_is_recorded_whole_twice_over
        );
    };
    (@cases $factory:ident; $($case:ident),* $(,)?) => {
        mod history_cases {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(fixture) = super::$factory().await else { return };
                    $crate::history::$case(fixture.store.clone()).await;
                    fixture.finish().await;
                }
            )*
        }
    };
}
pub(crate) use history_suite;

/// The store's history (every writable store has one).
fn history_of(store: &Arc<dyn ProxyStore>) -> Arc<dyn HistoryStore> {
    store.history().expect("a writable store keeps history")
}

/// The current hour's start, so tests never straddle an hour by accident.
fn this_hour() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    let secs = now.unix_timestamp().div_euclid(3600) * 3600;
    OffsetDateTime::from_unix_timestamp(secs).expect("an hour")
}

fn check(proxy_id: Uuid, at: OffsetDateTime, result: Status, ms: Option<u64>) -> CheckRecord {
    CheckRecord {
        proxy_id,
        at,
        result,
        latency: ms.map(Duration::from_millis),
    }
}

fn transition(proxy_id: Uuid, at: OffsetDateTime, from: Option<Status>, to: Status) -> Transition {
    Transition {
        proxy_id,
        proxy_name: "eu-west".into(),
        proxy_url: "http://127.0.0.1:9".into(),
        at,
        from,
        to,
        report: if to == Status::Ok {
            HealthReport::default()
        } else {
            HealthReport::error("connection refused")
        },
        replica: None,
        previous_lasted: None,
    }
}

pub(crate) async fn transitions_and_rollups_are_written_as_checks_happen(
    store: Arc<dyn ProxyStore>,
) {
    let history = history_of(&store);
    let id = Uuid::new_v4();
    let hour = this_hour();
    let first = hour + Duration::from_secs(60);
    let recorded = history
        .record_batch(HistoryBatch {
            checks: vec![check(id, first, Status::Ok, Some(10))],
            transitions: vec![transition(id, first, None, Status::Ok)],
        })
        .await
        .expect("record");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].from, None);
    let second = hour + Duration::from_secs(120);
    let third = hour + Duration::from_secs(180);
    history
        .record_batch(HistoryBatch {
            checks: vec![check(id, second, Status::Ok, Some(30))],
            transitions: vec![],
        })
        .await
        .expect("record");
    let recorded = history
        .record_batch(HistoryBatch {
            checks: vec![check(id, third, Status::Unreachable, None)],
            transitions: vec![transition(id, third, Some(Status::Ok), Status::Unreachable)],
        })
        .await
        .expect("record");
    assert_eq!(recorded[0].from, Some(Status::Ok));
    assert_eq!(recorded[0].previous_lasted, Some(Duration::from_secs(120)));

    let buckets = history.buckets(id, hour).await.expect("buckets");
    assert_eq!(buckets.len(), 1);
    assert_eq!(buckets[0].hour, hour);
    let rollup = &buckets[0].rollup;
    assert_eq!((rollup.checks, rollup.ok, rollup.unreachable), (3, 2, 1));
    assert_eq!(rollup.latency_max_us, Some(30_000));
    let median = rollup.latency_median_us().expect("a median");
    assert!((9_000..=11_000).contains(&median), "median {median}");

    let transitions = history
        .transitions(Some(id), hour)
        .await
        .expect("transitions");
    let seen: Vec<(Option<Status>, Status)> = transitions.iter().map(|t| (t.from, t.to)).collect();
    assert_eq!(
        seen,
        [(None, Status::Ok), (Some(Status::Ok), Status::Unreachable)]
    );
    assert_eq!(transitions[1].report.errors, ["connection refused"]);
    assert_eq!(transitions[1].proxy_name, "eu-west");
    assert_eq!(transitions[1].at, third);
}

pub(crate) async fn a_status_already_recorded_is_not_a_transition_again(
    store: Arc<dyn ProxyStore>,
) {
    let history = history_of(&store);
    let id = Uuid::new_v4();
    let hour = this_hour();
    history
        .record_batch(HistoryBatch {
            checks: vec![],
            transitions: vec![transition(id, hour, None, Status::Unhealthy)],
        })
        .await
        .expect("record");
    // a restarted engine sees the proxy for the first time
    let later = hour + Duration::from_secs(5);
    let recorded = history
        .record_batch(HistoryBatch {
            checks: vec![],
            transitions: vec![transition(id, later, None, Status::Unhealthy)],
        })
        .await
        .expect("record");
    assert!(recorded.is_empty(), "{recorded:?}");
    let recorded = history
        .record_batch(HistoryBatch {
            checks: vec![],
            transitions: vec![transition(id, later, None, Status::Ok)],
        })
        .await
        .expect("record");
    assert_eq!(recorded[0].from, Some(Status::Unhealthy), "from the record");
    assert_eq!(recorded[0].previous_lasted, Some(Duration::from_secs(5)));
    assert_eq!(
        history
            .transitions(Some(id), hour)
            .await
            .expect("read")
            .len(),
        2
    );
}

pub(crate) async fn uptime_counts_only_the_hours_inside_the_window(store: Arc<dyn ProxyStore>) {
    let history = history_of(&store);
    let id = Uuid::new_v4();
    let hour = this_hour();
    let day = Duration::from_secs(24 * 3600);
    // the window of 24 hours starts at the hour 23 hours before this one
    let window_start = hour - Duration::from_secs(23 * 3600);
    let outside = window_start - Duration::from_secs(1);
    let inside = window_start;
    let checks = vec![
        check(id, outside, Status::Unreachable, None),
        check(id, outside, Status::Unreachable, None),
        check(id, inside, Status::Ok, Some(5)),
        check(id, inside, Status::Unhealthy, Some(5)),
        check(id, hour, Status::Ok, Some(5)),
        check(id, hour, Status::Ok, Some(5)),
    ];
    history
        .record_batch(HistoryBatch {
            checks,
            transitions: vec![],
        })
        .await
        .expect("record");
    let uptimes = history.uptimes(window_start, None).await.expect("uptimes");
    let counts = uptimes.get(&id).expect("the proxy's counts");
    assert_eq!((counts.ok, counts.checks), (3, 4));
    let wider = history.uptimes(hour - day, None).await.expect("uptimes");
    assert_eq!(wider.get(&id).map(|c| (c.ok, c.checks)), Some((3, 6)));
    let before_this_hour = history
        .uptimes(hour - day, Some(hour))
        .await
        .expect("uptimes");
    assert_eq!(
        before_this_hour.get(&id).map(|c| (c.ok, c.checks)),
        Some((1, 4))
    );
    let buckets = history.buckets(id, window_start).await.expect("buckets");
    assert_eq!(buckets.len(), 2);
    assert_eq!(buckets[0].hour, window_start);
}

pub(crate) async fn pruning_deletes_old_rows_but_keeps_each_proxys_last_transition(
    store: Arc<dyn ProxyStore>,
) {
    let history = history_of(&store);
    let (steady, flapping) = (Uuid::new_v4(), Uuid::new_v4());
    let hour = this_hour();
    let old = hour - Duration::from_secs(100 * 24 * 3600);
    let cutoff = hour - Duration::from_secs(90 * 24 * 3600);
    history
        .record_batch(HistoryBatch {
            checks: vec![
                check(steady, old, Status::Ok, Some(1)),
                check(steady, hour, Status::Ok, Some(1)),
            ],
            transitions: vec![
                transition(steady, old, None, Status::Ok),
                transition(flapping, old, None, Status::Ok),
                transition(
                    flapping,
                    old + Duration::from_secs(60),
                    None,
                    Status::Unreachable,
                ),
                transition(flapping, hour, None, Status::Ok),
            ],
        })
        .await
        .expect("record");
    let pruned = history.prune(cutoff, 1000).await.expect("prune");
    assert_eq!((pruned.transitions, pruned.rollups), (2, 1));
    let left = history
        .transitions(None, OffsetDateTime::UNIX_EPOCH)
        .await
        .expect("read");
    let left: Vec<(Uuid, Status)> = left.iter().map(|t| (t.proxy_id, t.to)).collect();
    assert_eq!(left, [(steady, Status::Ok), (flapping, Status::Ok)]);
    let at_start = history.last_before(Some(steady), hour).await.expect("read");
    assert_eq!(
        at_start.len(),
        1,
        "the steady proxy's status is still known"
    );
    let buckets = history
        .buckets(steady, OffsetDateTime::UNIX_EPOCH)
        .await
        .expect("read");
    assert_eq!(buckets.len(), 1);
    assert_eq!(
        history
            .prune(cutoff, 1000)
            .await
            .expect("prune")
            .transitions,
        0
    );
}

pub(crate) async fn retention_prunes_chunk_by_chunk_until_nothing_is_older(
    store: Arc<dyn ProxyStore>,
) {
    use proxyhealth_store::history::retention::{RetentionSettings, prune_once};
    let history = history_of(&store);
    let hour = this_hour();
    let old = hour - Duration::from_secs(100 * 24 * 3600);
    let checks = (0..7)
        .map(|i| {
            check(
                Uuid::new_v4(),
                old + Duration::from_secs(i * 3600),
                Status::Ok,
                None,
            )
        })
        .collect();
    history
        .record_batch(HistoryBatch {
            checks,
            transitions: vec![],
        })
        .await
        .expect("record");
    let settings = RetentionSettings {
        chunk: 2,
        ..RetentionSettings::default()
    };
    let pruned = prune_once(history.as_ref(), settings, OffsetDateTime::now_utc())
        .await
        .expect("prune");
    assert_eq!(pruned.rollups, 7, "every chunk until none is left");
    let left = history
        .uptimes(OffsetDateTime::UNIX_EPOCH, None)
        .await
        .expect("read");
    assert!(left.is_empty(), "{left:?}");
}

/// A sweep's batch larger than any part a store writes at once: every
/// proxy's rollup counts both sweeps, and every transition is recorded.
pub(crate) async fn a_fleet_sized_batch_is_recorded_whole_twice_over(store: Arc<dyn ProxyStore>) {
    let history = history_of(&store);
    let hour = this_hour();
    let ids: Vec<Uuid> = (0..1_234).map(|_| Uuid::new_v4()).collect();
    for (sweep, minute) in [(0u64, 1u64), (1, 2)] {
        let at = hour + Duration::from_secs(60 * minute);
        let recorded = history
            .record_batch(HistoryBatch {
                checks: ids
                    .iter()
                    .map(|&id| check(id, at, Status::Ok, Some(5 + sweep)))
                    .collect(),
                transitions: if sweep == 0 {
                    ids.iter()
                        .map(|&id| transition(id, at, None, Status::Ok))
                        .collect()
                } else {
                    Vec::new()
                },
            })
            .await
            .expect("record");
        assert_eq!(recorded.len(), if sweep == 0 { ids.len() } else { 0 });
    }
    for &id in [ids[0], ids[499], ids[500], ids[1_233]].iter() {
        let buckets = history.buckets(id, hour).await.expect("buckets");
        assert_eq!(buckets.len(), 1, "proxy {id}");
        assert_eq!((buckets[0].rollup.checks, buckets[0].rollup.ok), (2, 2));
    }
    let transitions = history.transitions(None, hour).await.expect("transitions");
    assert_eq!(transitions.len(), ids.len());
}

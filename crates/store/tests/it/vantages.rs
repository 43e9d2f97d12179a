//! The vantages and their agent tokens, written once and run against every
//! backend: `vantage_suite!` turns every case into one `#[tokio::test]` for
//! a backend's fixture factory.

use std::sync::Arc;
use std::time::Duration;

use proxyhealth_core::{
    CheckRecord, HealthReport, Status, VantageHistory, VantageName, VantageReading,
    VantageTransition,
};
use proxyhealth_store::{
    AgentSighting, AgentTokenError, NewProxy, ProxyStore, VantageError, VantageStore,
};
use time::OffsetDateTime;
use uuid::Uuid;

/// Generates one test per vantage case, each on a fresh store from `$factory`.
macro_rules! vantage_suite {
    ($factory:ident) => {
        $crate::vantages::vantage_suite!(@cases $factory;
            a_created_vantage_is_listed_and_its_token_verifies,
            a_name_is_unique_ignoring_case_and_a_bad_one_is_refused_naming_the_field,
            a_rotated_token_replaces_the_old_one_at_once,
            a_deleted_vantage_s_token_says_its_vantage_is_gone,
            a_malformed_or_foreign_token_is_refused,
            an_unknown_vantage_is_not_found_by_name,
            kept_readings_read_back_exactly_with_their_report_and_stale_flag,
            an_older_reading_never_replaces_a_newer_one,
            a_batch_keeps_the_newest_reading_of_each_proxy,
            deleting_a_vantage_deletes_its_readings_and_refuses_more,
            a_deleted_proxy_s_readings_go_with_it_and_are_not_kept_again,
            a_vantage_s_history_reads_back_its_hours_and_status_changes,
            a_vantage_s_history_goes_with_it_and_an_unknown_one_is_not_found,
            pruning_a_vantage_s_history_keeps_each_proxy_s_last_change,
            the_own_vantage_keeps_a_history_without_an_agents_vantage_and_each_change_once,
            an_agent_kept_reads_back_its_last_sighting_and_its_newest_batch,
            a_vantage_keeps_its_64_agents_seen_last_and_they_go_with_it
        );
    };
    (@cases $factory:ident; $($case:ident),* $(,)?) => {
        mod vantage_cases {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(fixture) = super::$factory().await else { return };
                    $crate::vantages::$case(fixture.store.clone()).await;
                    fixture.finish().await;
                }
            )*
        }
    };
}
pub(crate) use vantage_suite;

fn vantages(store: &Arc<dyn ProxyStore>) -> Arc<dyn VantageStore> {
    store.vantages().expect("a store of our own keeps vantages")
}

pub(crate) async fn a_created_vantage_is_listed_and_its_token_verifies(store: Arc<dyn ProxyStore>) {
    let vantages = vantages(&store);
    let created = vantages.create("eu-west").await.expect("create");
    assert_eq!(created.vantage.name.as_str(), "eu-west");
    assert!(created.token.starts_with(&created.vantage.id.to_string()));
    vantages.create("ap-south").await.expect("create another");
    let listed = vantages.list().await.expect("list");
    let names: Vec<&str> = listed.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["ap-south", "eu-west"], "by name");
    let verified = vantages
        .verify_token(&created.token)
        .await
        .expect("its own token verifies");
    assert_eq!(verified.id, created.vantage.id);
    assert_eq!(verified.name, created.vantage.name);
}

pub(crate) async fn a_name_is_unique_ignoring_case_and_a_bad_one_is_refused_naming_the_field(
    store: Arc<dyn ProxyStore>,
) {
    let vantages = vantages(&store);
    vantages.create("eu-west").await.expect("create");
    let err = vantages.create("EU-West").await.expect_err("taken");
    assert!(matches!(err, VantageError::Taken(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "a vantage named \"EU-West\" already exists"
    );
    let err = vantages.create("eu west").await.expect_err("bad name");
    assert!(matches!(err, VantageError::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("name"), "{err}");
    assert_eq!(
        vantages.list().await.expect("list").len(),
        1,
        "nothing lost"
    );
}

pub(crate) async fn a_rotated_token_replaces_the_old_one_at_once(store: Arc<dyn ProxyStore>) {
    let vantages = vantages(&store);
    let created = vantages.create("eu-west").await.expect("create");
    let rotated = vantages.rotate_token("EU-WEST").await.expect("rotate");
    assert_eq!(rotated.vantage.id, created.vantage.id, "the same vantage");
    assert_ne!(rotated.token, created.token);
    let err = vantages
        .verify_token(&created.token)
        .await
        .expect_err("the old token is refused");
    assert!(matches!(err, AgentTokenError::WrongSecret), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the agent token is not the vantage's current token (rotated?)"
    );
    vantages
        .verify_token(&rotated.token)
        .await
        .expect("the new token verifies");
}

pub(crate) async fn a_deleted_vantage_s_token_says_its_vantage_is_gone(store: Arc<dyn ProxyStore>) {
    let vantages = vantages(&store);
    let created = vantages.create("eu-west").await.expect("create");
    vantages.delete("Eu-West").await.expect("delete");
    let err = vantages
        .verify_token(&created.token)
        .await
        .expect_err("refused");
    assert!(matches!(err, AgentTokenError::UnknownVantage), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the agent token's vantage does not exist (deleted?)"
    );
    assert!(vantages.list().await.expect("list").is_empty());
}

pub(crate) async fn a_malformed_or_foreign_token_is_refused(store: Arc<dyn ProxyStore>) {
    let vantages = vantages(&store);
    vantages.create("eu-west").await.expect("create");
    let err = vantages.verify_token("not-a-token").await.expect_err("bad");
    assert!(matches!(err, AgentTokenError::Malformed), "{err:?}");
    // a proxy's token has the same form but names no vantage
    let proxy = store
        .create_proxy(proxyhealth_store::NewProxy {
            name: "sydney".into(),
            ..Default::default()
        })
        .await
        .expect("create a proxy");
    let err = vantages
        .verify_token(&proxy.token)
        .await
        .expect_err("a proxy token is no agent token");
    assert!(matches!(err, AgentTokenError::UnknownVantage), "{err:?}");
}

pub(crate) async fn an_unknown_vantage_is_not_found_by_name(store: Arc<dyn ProxyStore>) {
    let vantages = vantages(&store);
    let err = vantages.delete("nowhere").await.expect_err("absent");
    assert_eq!(err.to_string(), "no vantage named \"nowhere\"");
    let err = vantages.rotate_token("nowhere").await.expect_err("absent");
    assert!(matches!(err, VantageError::NotFound(_)), "{err:?}");
}

/// A proxy created in `store`, by id.
async fn proxy(store: &Arc<dyn ProxyStore>, name: &str) -> Uuid {
    store
        .create_proxy(NewProxy {
            name: name.into(),
            ..Default::default()
        })
        .await
        .expect("create a proxy")
        .proxy
        .id
}

/// A time with nanoseconds, so a reading that lost any precision shows it.
fn at(seconds_later: u64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(1_800_000_000_123_456_789).expect("a valid time")
        + Duration::from_secs(seconds_later)
}

/// A failing reading of `vantage` with errors, warnings and the stale flag set.
fn reading(vantage: &str, checked_at: OffsetDateTime) -> VantageReading {
    VantageReading {
        vantage: VantageName::new(vantage).expect("a valid name"),
        status: Status::Unreachable,
        last_result: Status::Unreachable,
        streak: 3,
        latency_ms: Some(1234),
        checked_at,
        report: HealthReport {
            errors: vec!["connect: connection refused (\"quoted\", ünïcode)".into()],
            warnings: vec!["slow".into(), "older TLS".into()],
        },
        stale: true,
    }
}

fn name(vantage: &str) -> VantageName {
    VantageName::new(vantage).expect("a valid name")
}

pub(crate) async fn kept_readings_read_back_exactly_with_their_report_and_stale_flag(
    store: Arc<dyn ProxyStore>,
) {
    let vantages = vantages(&store);
    vantages.create("eu-west").await.expect("create");
    vantages.create("ap-south").await.expect("create");
    let (sydney, tokyo) = (proxy(&store, "sydney").await, proxy(&store, "tokyo").await);
    let mut fresh = reading("eu-west", at(0));
    fresh.status = Status::Ok;
    fresh.last_result = Status::Ok;
    fresh.latency_ms = None;
    fresh.report = HealthReport::default();
    fresh.stale = false;
    let eu = vec![(sydney, reading("eu-west", at(0))), (tokyo, fresh)];
    let ap = vec![(sydney, reading("ap-south", at(1)))];
    assert_eq!(
        vantages
            .keep_readings(&name("eu-west"), &eu)
            .await
            .expect("keep"),
        2
    );
    assert_eq!(
        vantages
            .keep_readings(&name("AP-South"), &ap)
            .await
            .expect("keep"),
        1
    );

    let mut expected = [ap.clone(), eu.clone()].concat();
    expected[1..].sort_by_key(|(id, _)| *id);
    assert_eq!(
        vantages.readings().await.expect("readings"),
        expected,
        "every reading as written, by vantage name then proxy id"
    );
}

pub(crate) async fn an_older_reading_never_replaces_a_newer_one(store: Arc<dyn ProxyStore>) {
    let vantages = vantages(&store);
    vantages.create("eu-west").await.expect("create");
    let sydney = proxy(&store, "sydney").await;
    let newer = reading("eu-west", at(30));
    let mut older = reading("eu-west", at(0));
    older.status = Status::Ok;
    let eu = name("eu-west");
    vantages
        .keep_readings(&eu, &[(sydney, newer.clone())])
        .await
        .expect("keep the newer");
    let written = vantages
        .keep_readings(&eu, &[(sydney, older)])
        .await
        .expect("an older write is no error");
    assert_eq!(written, 0, "the older one is not written");
    assert_eq!(
        vantages.readings().await.expect("readings"),
        [(sydney, newer.clone())]
    );

    // the same time again is written (a batch sent again, or judged again)
    let mut judged_again = newer;
    judged_again.stale = false;
    let written = vantages
        .keep_readings(&eu, &[(sydney, judged_again.clone())])
        .await
        .expect("keep");
    assert_eq!(written, 1);
    assert_eq!(
        vantages.readings().await.expect("readings"),
        [(sydney, judged_again)]
    );
}

pub(crate) async fn a_batch_keeps_the_newest_reading_of_each_proxy(store: Arc<dyn ProxyStore>) {
    let vantages = vantages(&store);
    vantages.create("eu-west").await.expect("create");
    let sydney = proxy(&store, "sydney").await;
    let newest = reading("eu-west", at(20));
    let batch = [
        (sydney, reading("eu-west", at(10))),
        (sydney, newest.clone()),
        (sydney, reading("eu-west", at(0))),
    ];
    let written = vantages
        .keep_readings(&name("eu-west"), &batch)
        .await
        .expect("keep");
    assert_eq!(written, 1, "one row per proxy");
    assert_eq!(
        vantages.readings().await.expect("readings"),
        [(sydney, newest)]
    );
}

pub(crate) async fn deleting_a_vantage_deletes_its_readings_and_refuses_more(
    store: Arc<dyn ProxyStore>,
) {
    let vantages = vantages(&store);
    vantages.create("eu-west").await.expect("create");
    vantages.create("ap-south").await.expect("create");
    let sydney = proxy(&store, "sydney").await;
    let kept = reading("ap-south", at(0));
    vantages
        .keep_readings(&name("eu-west"), &[(sydney, reading("eu-west", at(0)))])
        .await
        .expect("keep");
    vantages
        .keep_readings(&name("ap-south"), &[(sydney, kept.clone())])
        .await
        .expect("keep");

    vantages.delete("eu-west").await.expect("delete");
    assert_eq!(
        vantages.readings().await.expect("readings"),
        [(sydney, kept)],
        "only the other vantage's reading is left"
    );
    let err = vantages
        .keep_readings(&name("eu-west"), &[(sydney, reading("eu-west", at(60)))])
        .await
        .expect_err("a deleted vantage's readings are refused");
    assert!(matches!(err, VantageError::NotFound(_)), "{err:?}");
    assert_eq!(err.to_string(), "no vantage named \"eu-west\"");

    // a vantage made again under the name starts with no readings
    vantages.create("eu-west").await.expect("create again");
    assert_eq!(vantages.readings().await.expect("readings").len(), 1);
}

pub(crate) async fn a_deleted_proxy_s_readings_go_with_it_and_are_not_kept_again(
    store: Arc<dyn ProxyStore>,
) {
    let vantages = vantages(&store);
    vantages.create("eu-west").await.expect("create");
    let (sydney, tokyo) = (proxy(&store, "sydney").await, proxy(&store, "tokyo").await);
    let eu = name("eu-west");
    let kept = reading("eu-west", at(0));
    vantages
        .keep_readings(&eu, &[(sydney, kept.clone()), (tokyo, kept.clone())])
        .await
        .expect("keep");

    store.delete_proxy(tokyo).await.expect("delete the proxy");
    assert_eq!(
        vantages.readings().await.expect("readings"),
        [(sydney, kept.clone())]
    );
    // results on their way when it was deleted, and of a proxy never made
    let written = vantages
        .keep_readings(
            &eu,
            &[
                (tokyo, reading("eu-west", at(30))),
                (Uuid::new_v4(), reading("eu-west", at(30))),
            ],
        )
        .await
        .expect("keep");
    assert_eq!(written, 0);
    assert_eq!(
        vantages.readings().await.expect("readings"),
        [(sydney, kept)]
    );
}

/// A whole-microsecond time `seconds` after the start of an hour (every
/// backend keeps it exactly).
fn in_hour(hour: i64, seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000 + hour * 3600 + seconds)
        .expect("a valid time")
        + Duration::from_micros(250)
}

fn vcheck(proxy: Uuid, at: OffsetDateTime, result: Status, latency_ms: Option<u64>) -> CheckRecord {
    CheckRecord {
        proxy_id: proxy,
        at,
        result,
        latency: latency_ms.map(Duration::from_millis),
    }
}

fn vchange(
    proxy: Uuid,
    vantage: &str,
    at: OffsetDateTime,
    from: Option<Status>,
    to: Status,
) -> VantageTransition {
    VantageTransition {
        proxy_id: proxy,
        vantage: name(vantage),
        at,
        from,
        to,
        report: if to == Status::Ok {
            HealthReport::default()
        } else {
            HealthReport::error("connect: connection refused (\"quoted\", ünïcode)")
        },
    }
}

pub(crate) async fn a_vantage_s_history_reads_back_its_hours_and_status_changes(
    store: Arc<dyn ProxyStore>,
) {
    let vantages = vantages(&store);
    vantages.create("ap-south").await.expect("create");
    vantages.create("eu-west").await.expect("create");
    let sydney = proxy(&store, "sydney").await;
    let ap = name("ap-south");
    // two batches in hour 0 (the second adds to the first's row), one in hour 1
    vantages
        .record_history(
            &ap,
            &VantageHistory {
                checks: vec![
                    vcheck(sydney, in_hour(0, 10), Status::Ok, Some(20)),
                    vcheck(sydney, in_hour(0, 40), Status::Ok, Some(30)),
                ],
                transitions: vec![vchange(
                    sydney,
                    "ap-south",
                    in_hour(0, 10),
                    None,
                    Status::Ok,
                )],
            },
        )
        .await
        .expect("first batch");
    vantages
        .record_history(
            &name("AP-South"),
            &VantageHistory {
                checks: vec![vcheck(sydney, in_hour(0, 70), Status::Unreachable, None)],
                transitions: vec![vchange(
                    sydney,
                    "ap-south",
                    in_hour(0, 70),
                    Some(Status::Ok),
                    Status::Unreachable,
                )],
            },
        )
        .await
        .expect("second batch, the name in another case");
    vantages
        .record_history(
            &ap,
            &VantageHistory {
                checks: vec![vcheck(sydney, in_hour(1, 5), Status::Ok, Some(900))],
                transitions: vec![vchange(
                    sydney,
                    "ap-south",
                    in_hour(1, 5),
                    Some(Status::Unreachable),
                    Status::Ok,
                )],
            },
        )
        .await
        .expect("third batch");
    // another vantage's history of the same proxy is its own
    vantages
        .record_history(
            &name("eu-west"),
            &VantageHistory {
                checks: vec![vcheck(sydney, in_hour(0, 10), Status::Unhealthy, Some(5))],
                transitions: vec![vchange(
                    sydney,
                    "eu-west",
                    in_hour(0, 10),
                    None,
                    Status::Unhealthy,
                )],
            },
        )
        .await
        .expect("eu-west's batch");

    let seen = vantages
        .history(&ap, sydney, in_hour(0, 0) - Duration::from_micros(250))
        .await
        .expect("ap-south's history");
    assert_eq!(seen.status_at_start, None, "nothing before the first hour");
    assert_eq!(seen.buckets.len(), 2, "{:?}", seen.buckets);
    let first = &seen.buckets[0].rollup;
    assert_eq!(
        (first.checks, first.ok, first.unreachable, first.unhealthy),
        (3, 2, 1, 0)
    );
    assert_eq!(first.latency_max_us, Some(30_000));
    assert_eq!(
        first.sketch.count(),
        2,
        "a check without a request has no latency"
    );
    assert_eq!(seen.buckets[1].rollup.latency_max_us, Some(900_000));
    let changes: Vec<(Option<Status>, Status, OffsetDateTime)> = seen
        .transitions
        .iter()
        .map(|t| (t.from, t.to, t.at))
        .collect();
    assert_eq!(
        changes,
        [
            (None, Status::Ok, in_hour(0, 10)),
            (Some(Status::Ok), Status::Unreachable, in_hour(0, 70)),
            (Some(Status::Unreachable), Status::Ok, in_hour(1, 5)),
        ]
    );
    assert_eq!(seen.transitions[1].vantage, ap);
    assert_eq!(
        seen.transitions[1].report.errors,
        ["connect: connection refused (\"quoted\", ünïcode)"]
    );

    // a window from hour 1 starts with the status of hour 0's last change
    let later = vantages
        .history(&ap, sydney, in_hour(1, 0))
        .await
        .expect("a later window");
    assert_eq!(later.status_at_start, Some(Status::Unreachable));
    assert_eq!(later.buckets.len(), 1);
    assert_eq!(later.transitions.len(), 1);

    let eu = vantages
        .history(&name("eu-west"), sydney, in_hour(0, 0))
        .await
        .expect("eu-west's history");
    assert_eq!(eu.buckets.len(), 1);
    assert_eq!(eu.buckets[0].rollup.unhealthy, 1);
    assert_eq!(eu.transitions.len(), 1);
    assert_eq!(eu.transitions[0].to, Status::Unhealthy);
}

pub(crate) async fn a_vantage_s_history_goes_with_it_and_an_unknown_one_is_not_found(
    store: Arc<dyn ProxyStore>,
) {
    let vantages = vantages(&store);
    vantages.create("ap-south").await.expect("create");
    let sydney = proxy(&store, "sydney").await;
    let ap = name("ap-south");
    let batch = VantageHistory {
        checks: vec![vcheck(sydney, in_hour(0, 10), Status::Ok, Some(20))],
        transitions: vec![vchange(
            sydney,
            "ap-south",
            in_hour(0, 10),
            None,
            Status::Ok,
        )],
    };
    vantages.record_history(&ap, &batch).await.expect("record");
    vantages.delete("ap-south").await.expect("delete");
    let err = vantages
        .history(&ap, sydney, in_hour(0, 0))
        .await
        .expect_err("gone with its vantage");
    assert!(matches!(err, VantageError::NotFound(_)), "{err:?}");
    assert_eq!(err.to_string(), "no vantage named \"ap-south\"");
    let err = vantages
        .record_history(&ap, &batch)
        .await
        .expect_err("nothing is written for a deleted vantage");
    assert!(matches!(err, VantageError::NotFound(_)), "{err:?}");
    // created again under the same name: none of the old history comes back
    vantages.create("ap-south").await.expect("create again");
    let fresh = vantages
        .history(&ap, sydney, in_hour(0, 0))
        .await
        .expect("the new vantage's history");
    assert!(
        fresh.buckets.is_empty() && fresh.transitions.is_empty(),
        "{fresh:?}"
    );
}

pub(crate) async fn pruning_a_vantage_s_history_keeps_each_proxy_s_last_change(
    store: Arc<dyn ProxyStore>,
) {
    let vantages = vantages(&store);
    vantages.create("ap-south").await.expect("create");
    let sydney = proxy(&store, "sydney").await;
    let ap = name("ap-south");
    vantages
        .record_history(
            &ap,
            &VantageHistory {
                checks: vec![
                    vcheck(sydney, in_hour(0, 10), Status::Ok, Some(20)),
                    vcheck(sydney, in_hour(5, 10), Status::Unreachable, None),
                ],
                transitions: vec![
                    vchange(sydney, "ap-south", in_hour(0, 10), None, Status::Ok),
                    vchange(
                        sydney,
                        "ap-south",
                        in_hour(0, 20),
                        Some(Status::Ok),
                        Status::Unreachable,
                    ),
                ],
            },
        )
        .await
        .expect("record");
    let pruned = vantages
        .prune_history(in_hour(3, 0), 100)
        .await
        .expect("prune");
    assert_eq!(
        pruned, 2,
        "hour 0's rollup and the change a newer one follows"
    );
    let seen = vantages
        .history(&ap, sydney, in_hour(0, 0))
        .await
        .expect("history");
    assert_eq!(seen.buckets.len(), 1, "hour 5 is kept");
    assert_eq!(seen.transitions.len(), 1, "the last change is kept");
    assert_eq!(seen.transitions[0].to, Status::Unreachable);
    assert_eq!(
        vantages
            .prune_history(in_hour(3, 0), 100)
            .await
            .expect("again"),
        0
    );
}

pub(crate) async fn the_own_vantage_keeps_a_history_without_an_agents_vantage_and_each_change_once(
    store: Arc<dyn ProxyStore>,
) {
    let vantages = vantages(&store);
    let sydney = proxy(&store, "sydney").await;
    let local = name("local");
    // two replicas of one vantage, each judging from its own view: the
    // second offers the first's changes again, and only the new one counts
    vantages
        .record_own_history(
            &local,
            &VantageHistory {
                checks: vec![vcheck(sydney, in_hour(0, 10), Status::Ok, Some(20))],
                transitions: vec![vchange(sydney, "local", in_hour(0, 10), None, Status::Ok)],
            },
        )
        .await
        .expect("the first replica's batch");
    vantages
        .record_own_history(
            &name("LOCAL"),
            &VantageHistory {
                checks: vec![
                    vcheck(sydney, in_hour(0, 20), Status::Ok, Some(30)),
                    vcheck(sydney, in_hour(0, 30), Status::Unreachable, None),
                ],
                transitions: vec![
                    vchange(sydney, "local", in_hour(0, 20), None, Status::Ok),
                    vchange(
                        sydney,
                        "local",
                        in_hour(0, 30),
                        Some(Status::Ok),
                        Status::Unreachable,
                    ),
                ],
            },
        )
        .await
        .expect("the second replica's batch, the name in another case");
    vantages
        .record_own_history(
            &local,
            &VantageHistory {
                checks: vec![vcheck(sydney, in_hour(0, 40), Status::Unreachable, None)],
                transitions: vec![vchange(
                    sydney,
                    "local",
                    in_hour(0, 40),
                    Some(Status::Ok),
                    Status::Unreachable,
                )],
            },
        )
        .await
        .expect("the first replica again");

    let seen = vantages
        .history(&local, sydney, in_hour(0, 0))
        .await
        .expect("the own vantage's history needs no agents' vantage");
    assert_eq!(seen.buckets.len(), 1, "{:?}", seen.buckets);
    let hour = &seen.buckets[0].rollup;
    assert_eq!((hour.checks, hour.ok, hour.unreachable), (4, 2, 2));
    assert_eq!(hour.latency_max_us, Some(30_000));
    let changes: Vec<(Option<Status>, Status, OffsetDateTime)> = seen
        .transitions
        .iter()
        .map(|t| (t.from, t.to, t.at))
        .collect();
    assert_eq!(
        changes,
        [
            (None, Status::Ok, in_hour(0, 10)),
            (Some(Status::Ok), Status::Unreachable, in_hour(0, 30)),
        ]
    );
    assert_eq!(seen.transitions[1].vantage, local);

    // an agents' vantage of another name made and deleted leaves it alone
    vantages.create("ap-south").await.expect("create");
    vantages.delete("ap-south").await.expect("delete");
    let kept = vantages
        .history(&local, sydney, in_hour(0, 0))
        .await
        .expect("still there");
    assert_eq!(kept.transitions.len(), 2);
    // a name with neither an agents' vantage nor a history is unknown
    let err = vantages
        .history(&name("nowhere"), sydney, in_hour(0, 0))
        .await
        .expect_err("unknown");
    assert!(matches!(err, VantageError::NotFound(_)), "{err:?}");
    // pruned by age like the rest, each proxy's last change kept
    let pruned = vantages
        .prune_history(in_hour(3, 0), 100)
        .await
        .expect("prune");
    assert_eq!(
        pruned, 2,
        "hour 0's rollup and the change a newer one follows"
    );
    let after = vantages
        .history(&local, sydney, in_hour(3, 0))
        .await
        .expect("history");
    assert_eq!(after.status_at_start, Some(Status::Unreachable));
}

/// A whole second: agents' times are kept to the microsecond on PostgreSQL.
fn second(seconds_later: u64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("a valid time")
        + Duration::from_secs(seconds_later)
}

/// Agent `agent` of `vantage` seen at second `seen`, its last batch, if
/// any, at (second, lag in ms).
fn sighting(
    vantage: &str,
    agent: &str,
    version: &str,
    seen: u64,
    batch: Option<(u64, u64)>,
) -> AgentSighting {
    AgentSighting {
        vantage: name(vantage),
        agent: agent.to_owned(),
        version: version.to_owned(),
        address: Some("192.0.2.7".to_owned()),
        last_seen: second(seen),
        assigned: 3,
        lag_ms: batch.map(|(_, lag)| lag),
        last_result_at: batch.map(|(when, _)| second(when)),
    }
}

pub(crate) async fn an_agent_kept_reads_back_its_last_sighting_and_its_newest_batch(
    store: Arc<dyn ProxyStore>,
) {
    let vantages = vantages(&store);
    vantages.create("ap-south").await.expect("create");
    // replica a saw a batch at 10 s; replica b an assignment request at 20 s
    vantages
        .keep_agents(&[sighting("ap-south", "agent-1", "1.0", 10, Some((10, 900)))])
        .await
        .expect("keep a's");
    vantages
        .keep_agents(&[sighting("AP-South", "agent-1", "1.1", 20, None)])
        .await
        .expect("keep b's");
    // and a's write of an older sighting arrives late: it changes nothing
    vantages
        .keep_agents(&[sighting("ap-south", "agent-1", "0.9", 5, Some((5, 100)))])
        .await
        .expect("keep a late one");
    // a sighting of a vantage that is gone is left out
    vantages
        .keep_agents(&[sighting("gone", "agent-9", "1.0", 20, None)])
        .await
        .expect("keep one of no vantage");
    let kept = vantages.agents().await.expect("read the agents");
    assert_eq!(
        kept,
        [AgentSighting {
            version: "1.1".to_owned(),
            ..sighting("ap-south", "agent-1", "1.1", 20, Some((10, 900)))
        }],
        "the last sighting, with the newest batch's lag"
    );
}

pub(crate) async fn a_vantage_keeps_its_64_agents_seen_last_and_they_go_with_it(
    store: Arc<dyn ProxyStore>,
) {
    let vantages = vantages(&store);
    vantages.create("ap-south").await.expect("create");
    vantages.create("eu-west").await.expect("create another");
    let many: Vec<AgentSighting> = (0..70)
        .map(|n| sighting("ap-south", &format!("agent-{n:02}"), "1.0", n, None))
        .collect();
    vantages.keep_agents(&many).await.expect("keep 70");
    vantages
        .keep_agents(&[sighting("eu-west", "agent-00", "1.0", 1, None)])
        .await
        .expect("keep another vantage's");
    let kept = vantages.agents().await.expect("read the agents");
    let ap: Vec<&str> = kept
        .iter()
        .filter(|a| a.vantage.as_str() == "ap-south")
        .map(|a| a.agent.as_str())
        .collect();
    assert_eq!(ap.len(), 64, "{ap:?}");
    assert_eq!(ap.first(), Some(&"agent-06"), "the six seen first went");
    vantages.delete("ap-south").await.expect("delete");
    let kept = vantages.agents().await.expect("read the agents");
    let left: Vec<(&str, &str)> = kept
        .iter()
        .map(|a| (a.vantage.as_str(), a.agent.as_str()))
        .collect();
    assert_eq!(left, [("eu-west", "agent-00")]);
}

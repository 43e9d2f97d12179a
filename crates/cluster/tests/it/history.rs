//! Persisted history with several replicas: each transition is
//! recorded once, by the replica whose result caused it, in the same
//! transaction as that result; the hourly rollups add up every replica's share.

use crate::support::{TestCluster, every_view_shows, plain_replicas};
use proxyhealth_core::Status;
use proxyhealth_testkit::FakeProxy;
use proxyhealth_testkit::fake_proxy::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use time::OffsetDateTime;

#[tokio::test(start_paused = true)]
async fn with_three_replicas_each_transition_is_recorded_once_by_the_replica_that_caused_it() {
    let db = TestCluster::memory();
    let failing = Arc::new(AtomicBool::new(false));
    let answer = failing.clone();
    let fake = FakeProxy::start(move |_| {
        let failing = answer.clone();
        async move {
            if failing.load(Ordering::SeqCst) {
                json(200, r#"{"errors":["disk full"],"warnings":[]}"#)
            } else {
                json(200, r#"{"errors":[],"warnings":[]}"#)
            }
        }
    })
    .await;
    let id = db.proxy("flappy", &fake.url).await;
    let replicas = plain_replicas(&db, 3).await;
    let limit = Duration::from_secs(15);
    every_view_shows(&replicas, &id, Status::Ok, limit, "every view shows ok").await;
    failing.store(true, Ordering::SeqCst);
    every_view_shows(
        &replicas,
        &id,
        Status::Unhealthy,
        limit,
        "every view shows the failure",
    )
    .await;
    failing.store(false, Ordering::SeqCst);
    every_view_shows(
        &replicas,
        &id,
        Status::Ok,
        limit,
        "every view shows ok again",
    )
    .await;
    // a few more checks of every replica's share, none a transition
    tokio::time::sleep(Duration::from_secs(2)).await;
    for replica in &replicas {
        assert_eq!(replica.status(&id), Some(Status::Ok));
    }
    let ids: Vec<_> = replicas.iter().map(|r| r.id).collect();
    for replica in replicas {
        replica.stop().await;
    }

    let history = db.store.history().expect("PostgreSQL keeps history");
    let transitions = history
        .transitions(Some(id), OffsetDateTime::UNIX_EPOCH)
        .await
        .expect("read the transitions");
    let moves: Vec<(Option<Status>, Status)> = transitions.iter().map(|t| (t.from, t.to)).collect();
    assert_eq!(
        moves,
        [
            (None, Status::Ok),
            (Some(Status::Ok), Status::Unhealthy),
            (Some(Status::Unhealthy), Status::Ok),
        ],
        "each transition once: {transitions:?}"
    );
    for transition in &transitions {
        let by = transition.replica.expect("the replica that caused it");
        assert!(ids.contains(&by), "{by} is one of the replicas");
    }
    assert_eq!(transitions[1].report.errors, ["disk full"]);
    assert!(transitions[2].previous_lasted.is_some());

    // every written result is one check in the rollups, whoever wrote it
    let buckets = history
        .buckets(id, OffsetDateTime::now_utc() - Duration::from_secs(7200))
        .await
        .expect("read the rollups");
    let checks: u64 = buckets.iter().map(|b| b.rollup.checks).sum();
    let unhealthy: u64 = buckets.iter().map(|b| b.rollup.unhealthy).sum();
    assert!(
        checks >= 3,
        "{checks} checks counted: at least the three transitions' ones"
    );
    assert!(
        checks <= fake.hits() as u64,
        "{checks} counted, {} made",
        fake.hits()
    );
    assert!(unhealthy >= 1, "the failure was counted");
    db.finish().await;
}

//! The second opinion: with two live replicas, a proxy that fails only for
//! one of them does not leave `ok`, and both observations are stored; with
//! the option off, it does leave `ok`.

use crate::support::{Running, TestCluster, broken_client, eventually, healthy_proxy};
use proxyhealth_cluster::ClusterSettings;
use proxyhealth_cluster::metrics::{CLAIMS, DISAGREEING_PROXIES, LIVE_REPLICAS, SECOND_OPINIONS};
use proxyhealth_core::Status;
use std::time::Duration;
use tokio::time::Instant;

/// The failing replica's settings: it polls four times as often as the
/// healthy one (whichever polls first after a proxy is due claims it), so
/// it claims most checks.
fn eager(settings: &mut ClusterSettings) {
    settings.poll = Duration::from_millis(50);
}

#[tokio::test(start_paused = true)]
async fn a_proxy_failing_for_one_replica_only_stays_ok_and_both_observations_are_stored() {
    let db = TestCluster::memory();
    let fake = healthy_proxy().await;
    let id = db.proxy("p", &fake.url).await;
    let good = Running::start(&db, "good", None, |_| {}).await;
    eventually(Duration::from_secs(5), "the proxy ok", || {
        good.status(&id) == Some(Status::Ok)
    })
    .await;
    // every check of this replica fails (its requests go nowhere); it polls
    // four times as often as the other, so it claims most checks and the
    // scenario does not hang on winning the race for a due proxy
    let blind = Running::start(&db, "blind", Some(broken_client().await), eager).await;
    eventually(Duration::from_secs(5), "two live replicas", || {
        good.metric(LIVE_REPLICAS) == 2.0
    })
    .await;
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        for replica in [&good, &blind] {
            assert_eq!(replica.status(&id), Some(Status::Ok), "the proxy left ok");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        blind.metric(SECOND_OPINIONS) >= 1.0,
        "the failing replica asked for a second opinion (it claimed {}, the other {}; {} checks)",
        blind.metric(CLAIMS),
        good.metric(CLAIMS),
        fake.hits()
    );
    let observations = db
        .coordination()
        .observations(id)
        .await
        .expect("observations");
    let of = |replica: &Running| {
        observations
            .iter()
            .find(|o| o.replica_id == replica.id)
            .map(|o| o.status)
    };
    assert_eq!(of(&good), Some(Status::Ok), "{observations:?}");
    assert_eq!(of(&blind), Some(Status::Unreachable), "{observations:?}");
    let disagreements = db
        .coordination()
        .disagreements(Duration::from_secs(2), Duration::from_secs(10))
        .await
        .expect("disagreements");
    assert!(
        disagreements.iter().any(|d| d.proxy_id == id),
        "{disagreements:?}"
    );
    // and each replica's gauge counts it, for the alert on disagreeing
    // replicas; the gauge is refreshed every five heartbeats (10 s), so the
    // wait allows two refreshes on a loaded machine
    eventually(
        Duration::from_secs(20),
        "the disagreement in the metric",
        || good.metric(DISAGREEING_PROXIES) == 1.0 && blind.metric(DISAGREEING_PROXIES) == 1.0,
    )
    .await;
    good.stop().await;
    blind.stop().await;
    db.finish().await;
}

#[tokio::test(start_paused = true)]
async fn without_the_second_opinion_one_replicas_failure_counts() {
    let db = TestCluster::memory();
    let fake = healthy_proxy().await;
    let id = db.proxy("p", &fake.url).await;
    let off = |s: &mut ClusterSettings| s.second_opinion = false;
    let good = Running::start(&db, "good", None, off).await;
    eventually(Duration::from_secs(5), "the proxy ok", || {
        good.status(&id) == Some(Status::Ok)
    })
    .await;
    let blind = Running::start(&db, "blind", Some(broken_client().await), |s| {
        off(s);
        eager(s);
    })
    .await;
    proxyhealth_testkit::eventually(
        Duration::from_secs(10),
        "the failure in the views",
        async || {
            if good.status(&id) == Some(Status::Unreachable) {
                Ok(())
            } else {
                Err(format!(
                    "the failing replica claimed {}, the other {}; {} checks",
                    blind.metric(CLAIMS),
                    good.metric(CLAIMS),
                    fake.hits()
                ))
            }
        },
    )
    .await;
    assert_eq!(blind.metric(SECOND_OPINIONS), 0.0);
    good.stop().await;
    blind.stop().await;
    db.finish().await;
}

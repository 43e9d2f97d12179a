//! Sharing the work and the view: each proxy is checked about once per
//! interval whatever the number of replicas, and every replica serves the
//! same statuses and gauges soon after a change.

use super::harness::{
    INTERVAL, Replica, TIMEOUT, TestDb, all_live, all_ok, checks_in, eventually, fleet, logs,
    replicas, settled, shortest_gaps, views_show,
};
use proxyhealth_cluster::metrics::CLAIMS;
use proxyhealth_core::Status;
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_proxy_is_checked_about_once_per_interval_with_one_two_or_three_replicas() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    const WINDOW: u32 = 10;
    let window = INTERVAL * WINDOW;
    let (least, most) = checks_in(window);
    let names = ["p0", "p1", "p2", "p3", "p4", "p5"];
    let mut running = vec![Replica::start("a", &db, TIMEOUT).await];
    let fakes = fleet(&running[0], &names, Duration::ZERO).await;
    views_show(
        &[&running[0]],
        &fakes,
        all_ok,
        Duration::from_secs(10),
        "the first replica shows every proxy ok",
    )
    .await;
    for n in 1..=3_usize {
        if n > 1 {
            running.push(Replica::start(["a", "b", "c"][n - 1], &db, TIMEOUT).await);
            let all: Vec<&Replica> = running.iter().collect();
            all_live(&all, n, Duration::from_secs(10)).await;
        }
        // one interval for the newcomer's first claims to settle
        tokio::time::sleep(INTERVAL).await;
        let mut claims_before = Vec::new();
        for replica in &running {
            claims_before.push(replica.metric(CLAIMS).await);
        }
        let from = Instant::now();
        tokio::time::sleep(window).await;
        let to = Instant::now();
        let mut claims = Vec::new();
        for (replica, before) in running.iter().zip(&claims_before) {
            claims.push(replica.metric(CLAIMS).await - before);
        }
        let requests: Vec<Vec<Instant>> = fakes.iter().map(|f| f.requests(from, to)).collect();
        let checks: Vec<usize> = requests.iter().map(Vec::len).collect();
        // the shortest time between two checks of one proxy
        let gaps = shortest_gaps(&requests, window);
        eprintln!(
            "{n} replica(s): checks per proxy in {WINDOW} intervals: {checks:?} (want \
             {least}..={most}); shortest gap per proxy: {gaps:?}; claims per replica: {claims:?}"
        );
        for ((fake, count), gap) in fakes.iter().zip(&checks).zip(&gaps) {
            assert!(
                (least..=most).contains(count),
                "{n} replica(s): {} was checked {count} times in {WINDOW} intervals \
                 (want {least}..={most}); all: {checks:?}",
                fake.name
            );
            assert!(
                *gap >= INTERVAL.mul_f64(0.9),
                "{n} replica(s): {} was checked twice within {gap:?}: {:?}",
                fake.name,
                requests
            );
        }
        let total: usize = checks.iter().sum();
        let total_claims: f64 = claims.iter().sum();
        assert!(
            (total_claims - total as f64).abs() <= fakes.len() as f64,
            "{n} replica(s): {total_claims} claims for {total} checks"
        );
    }
    drop(running);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_serve_the_same_statuses_and_gauges_after_a_change() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let running = replicas(&db, 3, TIMEOUT).await;
    let all: Vec<&Replica> = running.iter().collect();
    let fakes = fleet(
        &running[0],
        &["east", "west", "north", "south"],
        Duration::ZERO,
    )
    .await;
    settled(&all, &fakes, Duration::from_secs(10)).await;

    let changed = &fakes[1];
    changed.fail(true);
    let started = Instant::now();
    // the first replica to show the failure, then how long until all do
    let first: std::sync::Mutex<Option<Duration>> = std::sync::Mutex::new(None);
    let (_, took) = eventually(
        Duration::from_secs(15),
        "all replicas show west unhealthy",
        || {
            let first = &first;
            let all = &all;
            async move {
                let mut showing = 0;
                for replica in all {
                    if replica.statuses().await.get("west") == Some(&Status::Unhealthy) {
                        showing += 1;
                    }
                }
                if showing > 0 {
                    let mut first = first.lock().expect("not poisoned");
                    first.get_or_insert(started.elapsed());
                }
                if showing == all.len() {
                    Ok(())
                } else {
                    Err(format!("{showing} of {} show it", all.len()))
                }
            }
        },
    )
    .await;
    let first = first.into_inner().expect("not poisoned").unwrap_or(took);
    let spread = took.saturating_sub(first);
    eprintln!(
        "a failure shown by the first replica after {first:?}, by all three after {took:?} \
         (spread {spread:?})"
    );
    assert!(
        spread <= Duration::from_secs(2),
        "the replicas showed the failure {spread:?} apart\n{}",
        logs(&all)
    );

    // the same regions, statuses and gauges everywhere
    let (expected_regions, expected_statuses, expected_gauges) = (
        running[0].regions().await,
        running[0].statuses().await,
        running[0].gauges().await,
    );
    assert_eq!(expected_statuses.get("west"), Some(&Status::Unhealthy));
    assert_eq!(
        expected_statuses
            .values()
            .filter(|s| **s == Status::Ok)
            .count(),
        3,
        "{expected_statuses:?}"
    );
    let west_region = expected_regions["regions"]
        .as_array()
        .and_then(|list| list.iter().find(|r| r["name"] == "west"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(west_region["healthy"], false, "{expected_regions}");
    assert_eq!(
        expected_gauges.get(&changed.id.to_string()),
        Some(&(Status::Unhealthy.gauge_value() as f64)),
        "{expected_gauges:?}"
    );
    assert_eq!(expected_gauges.len(), 4, "{expected_gauges:?}");
    for replica in &running[1..] {
        assert_eq!(
            replica.regions().await,
            expected_regions,
            "{}'s /regions",
            replica.label
        );
        assert_eq!(
            replica.statuses().await,
            expected_statuses,
            "{}'s statuses",
            replica.label
        );
        assert_eq!(
            replica.gauges().await,
            expected_gauges,
            "{}'s gauges",
            replica.label
        );
    }
    drop(running);
    db.drop_db().await;
}

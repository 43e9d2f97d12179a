//! Shared probing and one view: the cluster checks each proxy about once per
//! interval whatever the number of replicas, a re-check asked through one
//! replica is one check in the cluster, and a result written by one replica
//! is in every replica's view within about a second.

use crate::support::{
    INTERVAL, Running, TestCluster, eventually, every_view_shows, healthy_fleet, healthy_proxy,
    plain_replicas,
};
use proxyhealth_cluster::metrics::{CLAIMS, LIVE_REPLICAS};
use proxyhealth_core::Status;
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::time::Instant;
use uuid::Uuid;

#[tokio::test(start_paused = true)]
async fn three_replicas_check_each_proxy_about_once_per_interval() {
    let db = TestCluster::memory();
    let (fakes, ids) = healthy_fleet(&db, 4).await;
    let replicas = plain_replicas(&db, 3).await;
    eventually(
        Duration::from_secs(10),
        "every view shows every proxy ok",
        || {
            replicas
                .iter()
                .all(|r| ids.iter().all(|id| r.status(id) == Some(Status::Ok)))
        },
    )
    .await;
    eventually(Duration::from_secs(5), "three live replicas", || {
        replicas.iter().all(|r| r.metric(LIVE_REPLICAS) == 3.0)
    })
    .await;

    let window = Duration::from_secs(6);
    let before: Vec<usize> = fakes.iter().map(|f| f.hits()).collect();
    let claims_before: f64 = replicas.iter().map(|r| r.metric(CLAIMS)).sum();
    tokio::time::sleep(window).await;
    let checks: Vec<usize> = fakes
        .iter()
        .zip(&before)
        .map(|(f, b)| f.hits() - b)
        .collect();
    let claims: f64 = replicas.iter().map(|r| r.metric(CLAIMS)).sum::<f64>() - claims_before;
    // one check per interval per proxy is 6 in the window; each check waits
    // up to a poll and a batch more, so a little fewer. Every replica
    // checking every proxy would be three times as many.
    let per_interval = window.as_secs_f64() / INTERVAL.as_secs_f64();
    for (i, n) in checks.iter().enumerate() {
        let n = *n as f64;
        assert!(
            n >= per_interval * 0.5 && n <= per_interval * 1.34,
            "proxy {i}: {n} checks in {window:?} at a {INTERVAL:?} interval with three replicas ({checks:?})"
        );
    }
    let total: usize = checks.iter().sum();
    assert!(
        (claims - total as f64).abs() <= 4.0 * 3.0,
        "claims {claims} and checks {total} agree"
    );
    for replica in replicas {
        replica.stop().await;
    }
    db.finish().await;
}

#[tokio::test(start_paused = true)]
async fn a_recheck_asked_through_one_replica_is_one_check_in_the_cluster() {
    let db = TestCluster::memory();
    let fake = healthy_proxy().await;
    let id = db.proxy("p", &fake.url).await;
    let long = |s: &mut proxyhealth_cluster::ClusterSettings| s.interval = Duration::from_secs(60);
    let replicas = vec![
        Running::start(&db, "a", None, long).await,
        Running::start(&db, "b", None, long).await,
        Running::start(&db, "c", None, long).await,
    ];
    every_view_shows(
        &replicas,
        &id,
        Status::Ok,
        Duration::from_secs(10),
        "every view shows the proxy ok",
    )
    .await;
    let before = fake.hits();
    let seen = replicas[0]
        .engine
        .status_of(&id)
        .expect("status")
        .checked_at;
    assert!(replicas[1].engine.recheck_in_background(id));
    eventually(Duration::from_secs(5), "the re-check in every view", || {
        replicas.iter().all(|r| {
            r.engine
                .status_of(&id)
                .is_some_and(|status| status.checked_at > seen)
        })
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(fake.hits() - before, 1, "one check in the cluster");
    for replica in replicas {
        replica.stop().await;
    }
    let rows = db
        .coordination()
        .replicas(Duration::from_secs(2))
        .await
        .expect("replicas");
    assert!(
        rows.iter().all(|row| row.stopped_at.is_some() && !row.live),
        "a clean stop marks each replica stopped at once: {rows:?}"
    );
    db.finish().await;
}

#[tokio::test(start_paused = true)]
async fn a_result_written_by_one_replica_is_in_every_view_within_a_second() {
    let db = TestCluster::memory();
    let (_fakes, ids) = healthy_fleet(&db, 3).await;
    let replicas = plain_replicas(&db, 3).await;
    eventually(
        Duration::from_secs(10),
        "every view shows every proxy",
        || {
            replicas
                .iter()
                .all(|r| ids.iter().all(|id| r.status(id).is_some()))
        },
    )
    .await;
    // Sample every view for a while: whenever views disagree on a proxy's
    // newest result, they must agree again within a second.
    let mut disagreeing_since: HashMap<Uuid, Instant> = HashMap::new();
    let mut longest = Duration::ZERO;
    let mut results_seen = 0usize;
    let mut last: HashMap<Uuid, OffsetDateTime> = HashMap::new();
    let end = Instant::now() + Duration::from_secs(6);
    while Instant::now() < end {
        for id in &ids {
            let stamps: Vec<Option<OffsetDateTime>> = replicas
                .iter()
                .map(|r| r.engine.status_of(id).map(|s| s.checked_at))
                .collect();
            let newest = stamps.iter().flatten().max().copied();
            if let Some(newest) = newest
                && last.insert(*id, newest) != Some(newest)
            {
                results_seen += 1;
            }
            if stamps.iter().all(|s| *s == stamps[0]) {
                if let Some(since) = disagreeing_since.remove(id) {
                    longest = longest.max(since.elapsed());
                }
            } else {
                let since = *disagreeing_since.entry(*id).or_insert_with(Instant::now);
                longest = longest.max(since.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(results_seen >= 9, "{results_seen} new results seen");
    assert!(
        longest <= Duration::from_secs(1),
        "views disagreed for {longest:?}"
    );
    for replica in replicas {
        replica.stop().await;
    }
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_periodic_whole_read_drops_a_proxy_whose_row_is_gone_and_keeps_the_others() {
    let Some(db) = TestCluster::postgres().await else {
        return;
    };
    let (_fakes, ids) = healthy_fleet(&db, 2).await;
    let replica = Running::start(&db, "a", None, |settings| {
        settings.full_reload = Duration::from_secs(1);
    })
    .await;
    eventually(Duration::from_secs(10), "both proxies ok", || {
        ids.iter().all(|id| replica.status(id) == Some(Status::Ok))
    })
    .await;
    // gone without a trace an incremental read could see (a hard delete,
    // as an operator's SQL or a restored backup would do)
    let mut conn = db.connect().await;
    sqlx::query("DELETE FROM workspace_proxies WHERE id = $1")
        .bind(ids[0])
        .execute(&mut conn)
        .await
        .expect("delete the row");
    eventually(
        Duration::from_secs(5),
        "the whole read drops the proxy",
        || replica.status(&ids[0]).is_none(),
    )
    .await;
    assert_eq!(replica.status(&ids[1]), Some(Status::Ok), "the other stays");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        replica.status(&ids[1]),
        Some(Status::Ok),
        "whole reads beside the incremental ones keep it"
    );
    replica.stop().await;
    drop(conn);
    db.finish().await;
}

//! Database faults: killed listener sessions and a PostgreSQL restart, each
//! followed by recovery (the views converge again, `/healthz` back to ok)
//! without restarting any replica, and without a burst of duplicate probes.

use super::harness::{
    INTERVAL, Replica, TIMEOUT, TestDb, all_healthy, eventually, fleet, hits, replicas,
    runtime_settings, settled, shortest_gaps, terminate, views_show,
};
use proxyhealth_cluster::metrics::LISTENER_RECONNECTS;
use proxyhealth_core::Status;
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_whose_listener_sessions_are_killed_reconnect_and_converge() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let running = replicas(&db, 3, TIMEOUT).await;
    let all: Vec<&Replica> = running.iter().collect();
    let fakes = fleet(&running[0], &["l0", "l1", "l2"], Duration::ZERO).await;
    settled(&all, &fakes, Duration::from_secs(10)).await;

    let pool = db.pool().await;
    let killed = terminate(&pool, "LISTEN%").await;
    assert_eq!(killed, 3, "one listener session per replica");
    let reconnected = eventually(
        Duration::from_secs(15),
        "every listener reconnected",
        || async {
            for replica in &all {
                let reconnects = replica.metric(LISTENER_RECONNECTS).await;
                if reconnects < 1.0 {
                    return Err(format!("{}: {reconnects} reconnects", replica.label));
                }
            }
            Ok(())
        },
    )
    .await
    .1;
    fakes[2].fail(true);
    let converged = views_show(
        &all,
        &fakes,
        |fake| {
            if fake.name == "l2" {
                Status::Unhealthy
            } else {
                Status::Ok
            }
        },
        Duration::from_secs(10),
        "every replica shows l2 unhealthy",
    )
    .await;
    let healthy = all_healthy(&all, Duration::from_secs(5), "/healthz ok everywhere").await;
    let listening: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_one(&pool)
    .await
    .expect("count the listeners");
    eprintln!(
        "killed {killed} listener sessions: all reconnected within {reconnected:?}; a later \
         failure shown everywhere after {converged:?}; healthz ok after {healthy:?}; \
         {listening} listening again"
    );
    assert_eq!(listening, 3, "each replica listens again");
    drop(running);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_keep_serving_through_a_postgresql_restart_and_recover_without_a_restart() {
    let Some(pg) = proxyhealth_testkit::OwnPostgres::start() else {
        return;
    };
    let db = TestDb::on(&pg.url).await;
    let running = replicas(&db, 3, TIMEOUT).await;
    let all: Vec<&Replica> = running.iter().collect();
    let fakes = fleet(&running[0], &["r0", "r1", "r2"], Duration::ZERO).await;
    settled(&all, &fakes, Duration::from_secs(10)).await;

    pg.stop();
    let stopped_at = Instant::now();
    let hits_at_stop = hits(&fakes);
    // each replica says its view is stale once it is older than two intervals
    let (_, degraded) = eventually(
        INTERVAL * 2 + Duration::from_secs(8),
        "every /healthz degraded with a stale view",
        || async {
            for replica in &all {
                let (status, body) = replica.healthz().await;
                if status != 503 || body["view"] != "stale" {
                    return Err(format!("{}: {status} {body}", replica.label));
                }
            }
            Ok(())
        },
    )
    .await;
    // ... and, once a read of the view failed, why
    let settings = runtime_settings(INTERVAL, TIMEOUT);
    let (body, failed) = eventually(
        settings.safety_read + Duration::from_secs(10),
        "every /healthz names the failed read",
        || async {
            let mut last = Value::Null;
            for replica in &all {
                let (status, body) = replica.healthz().await;
                let error = body["store_error"].as_str().unwrap_or_default();
                if status != 503 || !error.contains("reading the shared view") {
                    return Err(format!("{}: {status} {body}", replica.label));
                }
                last = body;
            }
            Ok(last)
        },
    )
    .await;
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["view"], "stale", "{body}");
    assert!(
        body["view_age_ms"].as_f64().unwrap_or(0.0) > (INTERVAL * 2).as_millis() as f64,
        "{body}"
    );
    // ... and keeps serving its last view
    let mut answer_times = Vec::new();
    for replica in &all {
        let asked = Instant::now();
        let statuses = replica.statuses().await;
        let listed = asked.elapsed();
        let asked = Instant::now();
        let regions = replica.regions().await;
        let regions_took = asked.elapsed();
        let asked = Instant::now();
        replica.healthz().await;
        answer_times.push((listed, regions_took, asked.elapsed()));
        assert_eq!(
            regions["regions"].as_array().map(Vec::len),
            Some(fakes.len()),
            "{} keeps serving /regions: {regions}",
            replica.label
        );
        assert!(
            statuses.values().all(|s| *s == Status::Ok),
            "{} keeps its last view: {statuses:?}",
            replica.label
        );
    }
    fakes[0].fail(true);
    let checks_while_down: Vec<usize> = hits(&fakes)
        .iter()
        .zip(&hits_at_stop)
        .map(|(a, b)| a - b)
        .collect();
    let down_for = stopped_at.elapsed();
    pg.start_again();
    let started_at = Instant::now();
    let healthy = all_healthy(
        &all,
        Duration::from_secs(30),
        "/healthz ok everywhere after the restart",
    )
    .await;
    let converged = views_show(
        &all,
        &fakes,
        |fake| {
            if fake.name == "r0" {
                Status::Unhealthy
            } else {
                Status::Ok
            }
        },
        Duration::from_secs(15),
        "every replica shows the failure after the restart",
    )
    .await
        + healthy;
    // no burst of duplicate probes: over the first intervals after the
    // restart, each proxy checked about once per interval, and a healthy one
    // never twice within an interval (the failing one is checked twice at
    // once: the second opinion)
    let window = INTERVAL * 5;
    tokio::time::sleep(window.saturating_sub(started_at.elapsed())).await;
    let shortest = INTERVAL.mul_f64(0.95) + settings.batch;
    let most = (window.as_secs_f64() / shortest.as_secs_f64()).floor() as usize + 2;
    let requests: Vec<Vec<Instant>> = fakes
        .iter()
        .map(|f| f.requests(started_at, started_at + window))
        .collect();
    let checks: Vec<usize> = requests.iter().map(Vec::len).collect();
    let gaps = shortest_gaps(&requests, window);
    let mut reconnects = Vec::new();
    for replica in &all {
        reconnects.push(replica.metric(LISTENER_RECONNECTS).await);
    }
    eprintln!(
        "PostgreSQL down for {down_for:?}: every view stale after {degraded:?}, the failed read \
         named {failed:?} later ({body}), {checks_while_down:?} \
         checks while down, (proxy list, /regions, /healthz) answered in {answer_times:?}; \
         after the restart: healthz ok after {healthy:?}, the failure shown \
         everywhere after {converged:?}; checks per proxy in the first {window:?}: {checks:?} \
         (at most {most}), shortest gaps {gaps:?}; \
         listener reconnects: {reconnects:?}"
    );
    assert!(
        checks_while_down.iter().all(|c| *c <= 1),
        "no checks without the database: {checks_while_down:?}"
    );
    for ((fake, count), gap) in fakes.iter().zip(&checks).zip(&gaps) {
        assert!(
            *count <= most,
            "{} was checked {count} times in the {window:?} after the restart (at most {most})",
            fake.name
        );
        assert!(
            fake.name == "r0" || *gap >= INTERVAL.mul_f64(0.9),
            "{} was checked twice within {gap:?} after the restart",
            fake.name
        );
    }
    assert!(
        reconnects.iter().all(|r| *r >= 1.0),
        "every listener reconnected: {reconnects:?}"
    );
    drop(running);
    db.drop_db().await;
    drop(pg);
}

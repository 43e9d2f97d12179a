//! A replica whose notification session is killed (`pg_terminate_backend`),
//! or whose database restarts, reconnects, reloads its whole view, and keeps
//! converging with the others, without a restart.

use crate::support::{HEALTHY, TestCluster, eventually, every_view_shows, plain_replicas};
use proxyhealth_cluster::metrics::{LISTENER_CONNECTED, LISTENER_RECONNECTS};
use proxyhealth_core::Status;
use proxyhealth_testkit::fake_proxy::json;
use proxyhealth_testkit::{FakeProxy, OwnPostgres};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A proxy whose health the test switches.
async fn switchable() -> (FakeProxy, Arc<AtomicBool>) {
    let healthy = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&healthy);
    let fake = FakeProxy::start(move |_| {
        let healthy = flag.load(Ordering::SeqCst);
        async move {
            if healthy {
                json(200, HEALTHY)
            } else {
                json(200, r#"{"errors":["disk full"],"warnings":[]}"#)
            }
        }
    })
    .await;
    (fake, healthy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_whose_listener_session_is_killed_reloads_and_converges() {
    let Some(db) = TestCluster::postgres().await else {
        return;
    };
    let (fake, healthy) = switchable().await;
    let id = db.proxy("p", &fake.url).await;
    let replicas = plain_replicas(&db, 2).await;
    every_view_shows(
        &replicas,
        &id,
        Status::Ok,
        Duration::from_secs(5),
        "both views ok",
    )
    .await;

    let mut conn = db.connect().await;
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND query ILIKE 'LISTEN%'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("kill the listener sessions");
    assert_eq!(killed.len(), 2, "one listener session per replica");

    eventually(
        Duration::from_secs(15),
        "both listeners reconnected",
        || {
            replicas.iter().all(|r| {
                r.metric(LISTENER_RECONNECTS) >= 1.0 && r.metric(LISTENER_CONNECTED) == 1.0
            })
        },
    )
    .await;
    healthy.store(false, Ordering::SeqCst);
    every_view_shows(
        &replicas,
        &id,
        Status::Unhealthy,
        Duration::from_secs(10),
        "both views show the failure",
    )
    .await;
    for replica in replicas {
        replica.stop().await;
    }
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_keep_their_view_through_a_database_restart_and_recover() {
    let Some(pg) = OwnPostgres::start() else {
        return;
    };
    let db = TestCluster::postgres_on(pg.url.clone()).await;
    let (fake, healthy) = switchable().await;
    let id = db.proxy("p", &fake.url).await;
    let replicas = plain_replicas(&db, 2).await;
    every_view_shows(
        &replicas,
        &id,
        Status::Ok,
        Duration::from_secs(5),
        "both views ok",
    )
    .await;

    pg.stop();
    // the last view is served while the database is away, and its reads
    // are reported failing
    eventually(Duration::from_secs(15), "both views' reads failing", || {
        replicas
            .iter()
            .all(|r| r.engine.sweep_state().last_error.is_some())
    })
    .await;
    for replica in &replicas {
        assert_eq!(replica.status(&id), Some(Status::Ok));
    }
    pg.start_again();
    eventually(Duration::from_secs(20), "both listeners back", || {
        replicas
            .iter()
            .all(|r| r.metric(LISTENER_RECONNECTS) >= 1.0 && r.metric(LISTENER_CONNECTED) == 1.0)
    })
    .await;
    let before = fake.hits();
    healthy.store(false, Ordering::SeqCst);
    every_view_shows(
        &replicas,
        &id,
        Status::Unhealthy,
        Duration::from_secs(20),
        "both views show the failure",
    )
    .await;
    assert!(
        replicas
            .iter()
            .all(|r| r.engine.sweep_state().last_error.is_none()),
        "the views are read again"
    );
    // no burst of duplicate probes after the outage: a handful of checks
    // for one proxy, not one per replica per missed interval
    assert!(fake.hits() - before <= 8, "{} checks", fake.hits() - before);
    for replica in replicas {
        replica.stop().await;
    }
    db.finish().await;
}

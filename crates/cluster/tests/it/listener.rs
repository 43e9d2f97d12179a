//! A replica whose notification session is killed (`pg_terminate_backend`)
//! reconnects, reloads its whole view, and keeps converging with the others.

use crate::support::{HEALTHY, Running, TestDb, eventually};
use proxyhealth_cluster::metrics::{LISTENER_CONNECTED, LISTENER_RECONNECTS};
use proxyhealth_core::Status;
use proxyhealth_testkit::FakeProxy;
use proxyhealth_testkit::fake_proxy::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_whose_listener_session_is_killed_reloads_and_converges() {
    let Some(db) = TestDb::create().await else {
        return;
    };
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
    let id = db.proxy("p", &fake.url).await;
    let replicas = vec![
        Running::start(&db, "a", None, |_| {}).await,
        Running::start(&db, "b", None, |_| {}).await,
    ];
    eventually(Duration::from_secs(5), "both views ok", || {
        replicas.iter().all(|r| r.status(&id) == Some(Status::Ok))
    })
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
    eventually(
        Duration::from_secs(10),
        "both views show the failure",
        || {
            replicas
                .iter()
                .all(|r| r.status(&id) == Some(Status::Unhealthy))
        },
    )
    .await;
    for replica in replicas {
        replica.stop().await;
    }
    db.drop_db().await;
}

//! Maintenance windows with several replicas on PostgreSQL: a replica's
//! fenced result write reads the windows in its own transaction, so a proxy
//! in a window records no change and no notification row, and its checks
//! count for no uptime; a change still true when the window ends is
//! recorded and notified once, by whichever replica writes next.

use crate::support::{
    HEALTHY, Running, TestCluster, every_view_shows, notification_rows, notifying_cluster,
    plain_replicas,
};
use proxyhealth_core::Status;
use proxyhealth_core::maintenance::{MaintenanceScope, MaintenanceWindow, NewMaintenance};
use proxyhealth_testkit::FakeProxy;
use proxyhealth_testkit::fake_proxy::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// How long a view may take to show a change.
const LIMIT: Duration = Duration::from_secs(10);

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

/// A window of `proxy` from a minute ago to an hour from now.
async fn open_window(db: &TestCluster, proxy: Uuid) -> MaintenanceWindow {
    let now = OffsetDateTime::now_utc();
    db.store
        .maintenance()
        .expect("PostgreSQL keeps windows")
        .create(
            &NewMaintenance {
                scope: MaintenanceScope::Proxy(proxy),
                starts_at: now - Duration::from_secs(60),
                ends_at: now + Duration::from_secs(3600),
                weekly: false,
                reason: "upgrade".to_owned(),
            },
            now,
        )
        .await
        .expect("create the window")
}

/// The proxy's recorded changes, as (from, to).
async fn moves(db: &TestCluster, proxy: Uuid) -> Vec<(Option<Status>, Status)> {
    db.store
        .history()
        .expect("PostgreSQL keeps history")
        .transitions(Some(proxy), OffsetDateTime::UNIX_EPOCH)
        .await
        .expect("read the transitions")
        .iter()
        .map(|t| (t.from, t.to))
        .collect()
}

/// The checks the proxy's rollups count.
async fn counted_checks(db: &TestCluster, proxy: Uuid) -> u64 {
    db.store
        .history()
        .expect("PostgreSQL keeps history")
        .buckets(proxy, OffsetDateTime::now_utc() - Duration::from_secs(7200))
        .await
        .expect("read the rollups")
        .iter()
        .map(|b| b.rollup.checks)
        .sum()
}

/// Two replicas, a proxy shown `ok` by both, then put in a window and failing
/// until both views show it; returns them with the window.
async fn failing_inside_a_window(
    db: &TestCluster,
    proxy: Uuid,
    healthy: &AtomicBool,
) -> (Vec<Running>, MaintenanceWindow) {
    let replicas = plain_replicas(db, 2).await;
    every_view_shows(&replicas, &proxy, Status::Ok, LIMIT, "both views show ok").await;
    let window = open_window(db, proxy).await;
    healthy.store(false, Ordering::SeqCst);
    every_view_shows(
        &replicas,
        &proxy,
        Status::Unhealthy,
        LIMIT,
        "both views show the failure inside the window",
    )
    .await;
    (replicas, window)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proxy_failing_inside_its_window_in_a_cluster_is_neither_recorded_nor_notified() {
    let Some(db) = notifying_cluster().await else {
        return;
    };
    let (_fake, healthy) = switchable().await;
    let proxy = db.proxy("upgrading", &_fake.url).await;
    let (replicas, _window) = failing_inside_a_window(&db, proxy, &healthy).await;
    let counted = counted_checks(&db, proxy).await;
    // several more checks inside the window, by either replica
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        moves(&db, proxy).await,
        [(None, Status::Ok)],
        "only the status before the window is recorded"
    );
    assert_eq!(
        notification_rows(&db, proxy).await,
        [],
        "no notification row inside the window"
    );
    assert_eq!(
        counted_checks(&db, proxy).await,
        counted,
        "the checks inside the window count for no uptime"
    );
    for replica in replicas {
        replica.stop().await;
    }
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proxy_still_failing_when_its_window_ends_in_a_cluster_is_notified_once() {
    let Some(db) = notifying_cluster().await else {
        return;
    };
    let (_fake, healthy) = switchable().await;
    let proxy = db.proxy("upgrading", &_fake.url).await;
    let (replicas, window) = failing_inside_a_window(&db, proxy, &healthy).await;
    // the replica that saw the failure dies inside the window: what is
    // notified at its end comes from the database, not from its memory
    let mut replicas = replicas.into_iter();
    let first = replicas.next().expect("two replicas");
    let second = replicas.next().expect("two replicas");
    first.stop().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(notification_rows(&db, proxy).await, []);
    db.store
        .maintenance()
        .expect("PostgreSQL keeps windows")
        .end(window.id, OffsetDateTime::now_utc())
        .await
        .expect("end the window");
    // several checks after the window, all still failing
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        moves(&db, proxy).await,
        [(None, Status::Ok), (Some(Status::Ok), Status::Unhealthy)],
        "the failure still true at the end is recorded once"
    );
    assert_eq!(
        notification_rows(&db, proxy).await,
        [(Some("ok".to_owned()), "unhealthy".to_owned())],
        "and notified once"
    );
    second.stop().await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proxy_down_and_back_inside_its_window_in_a_cluster_notifies_nothing() {
    let Some(db) = notifying_cluster().await else {
        return;
    };
    let (_fake, healthy) = switchable().await;
    let proxy = db.proxy("upgrading", &_fake.url).await;
    let (replicas, window) = failing_inside_a_window(&db, proxy, &healthy).await;
    healthy.store(true, Ordering::SeqCst);
    every_view_shows(
        &replicas,
        &proxy,
        Status::Ok,
        LIMIT,
        "both views show ok again",
    )
    .await;
    db.store
        .maintenance()
        .expect("PostgreSQL keeps windows")
        .end(window.id, OffsetDateTime::now_utc())
        .await
        .expect("end the window");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(moves(&db, proxy).await, [(None, Status::Ok)]);
    assert_eq!(notification_rows(&db, proxy).await, []);
    for replica in replicas {
        replica.stop().await;
    }
    db.finish().await;
}

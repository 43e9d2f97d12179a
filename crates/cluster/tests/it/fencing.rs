//! Fencing: a replica that stalls past its lease finds its proxy taken over
//! when it wakes; its late write is rejected and counted, and no status goes
//! back in time.

use crate::support::{HEALTHY, Running, TestCluster, eventually};
use proxyhealth_cluster::metrics::{REJECTED, TAKEOVERS};
use proxyhealth_core::Status;
use proxyhealth_testkit::FakeProxy;
use proxyhealth_testkit::fake_proxy::json;
use std::time::Duration;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn a_stalled_replicas_late_write_is_rejected_and_counted() {
    let db = TestCluster::memory();
    // the first check hangs past the timeout (2 s): its replica stalls past
    // its lease; every later check is answered at once
    let fake = FakeProxy::start(|n| async move {
        if n == 0 {
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        json(200, HEALTHY)
    })
    .await;
    let id = db.proxy("p", &fake.url).await;
    // one check slot: while its check hangs it claims nothing more, as a
    // stalled process would not
    let stalled = Running::start(&db, "stalled", None, |s| {
        s.lease = Duration::from_millis(500);
        s.parallelism = 1;
    })
    .await;
    eventually(Duration::from_secs(5), "the first check started", || {
        fake.hits() >= 1
    })
    .await;
    let other = Running::start(&db, "other", None, |_| {}).await;
    eventually(
        Duration::from_secs(5),
        "the other took the proxy over",
        || other.metric(TAKEOVERS) >= 1.0,
    )
    .await;
    // Until the stalled replica's check ends (at its 2 s timeout, as a
    // failure), watch both views: the proxy shows ok once the other wrote,
    // and never goes back.
    let until = Instant::now() + Duration::from_secs(4);
    let mut seen_ok = false;
    while Instant::now() < until {
        for replica in [&stalled, &other] {
            match replica.status(&id) {
                None => assert!(!seen_ok, "the status went away"),
                Some(Status::Ok) => seen_ok = true,
                Some(status) => panic!("the late failure was written: {status}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen_ok, "the other replica's result is in the views");
    assert_eq!(
        stalled.metric(REJECTED),
        1.0,
        "the late write was rejected and counted"
    );
    assert_eq!(other.metric(REJECTED), 0.0);
    stalled.stop().await;
    other.stop().await;
    db.finish().await;
}

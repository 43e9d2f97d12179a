//! Notifications with three replicas on one PostgreSQL: each
//! status change is recorded once (by the replica whose fenced result write
//! made it) with its outbox row in the same transaction, and the replicas'
//! workers claim each row once, so a receiver gets exactly one notification
//! per change and one per recovery, not one per replica.

use super::harness::{
    Fake, INTERVAL, Replica, TIMEOUT, TestDb, eventually, logs, settled, views_show,
};
use proxyhealth_core::Status;
use proxyhealth_testkit::receiver::{Receiver, signature_is_valid};
use std::collections::BTreeMap;
use std::time::Duration;

const SECRET: &str = "cluster-notify-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_send_exactly_one_notification_per_change() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let receiver = Receiver::start().await;
    let target = format!("ops={}", receiver.url);
    let flags = ["--notify-webhook", &target, "--notify-secret", SECRET];
    let mut all = Vec::new();
    for label in ["a", "b", "c"] {
        all.push(Replica::start_with_flags(label, &db, INTERVAL, TIMEOUT, &flags).await);
    }
    let replicas: Vec<&Replica> = all.iter().collect();
    let fakes = vec![
        Fake::create(replicas[0], "n1", Duration::ZERO).await,
        Fake::create(replicas[1], "n2", Duration::ZERO).await,
    ];
    settled(&replicas, &fakes, Duration::from_secs(20)).await;
    // whatever registration itself notified (unregistered to ok) is not
    // counted: only the changes below are
    let before = receiver.received().len();

    for fake in &fakes {
        fake.fail(true);
    }
    views_show(
        &replicas,
        &fakes,
        |_| Status::Unhealthy,
        Duration::from_secs(20),
        "every replica shows the proxies unhealthy",
    )
    .await;
    for fake in &fakes {
        fake.fail(false);
    }
    settled(&replicas, &fakes, Duration::from_secs(20)).await;

    // both changes of both proxies delivered, then a few intervals more for
    // any duplicate to show
    eventually(
        Duration::from_secs(20),
        "two notifications per proxy",
        || async {
            let n = receiver.accepted().len() - before;
            if n >= 4 {
                Ok(())
            } else {
                Err(format!("{n} received"))
            }
        },
    )
    .await;
    tokio::time::sleep(INTERVAL * 4).await;

    let got: Vec<_> = receiver.received().into_iter().skip(before).collect();
    let mut changes: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    let mut deliveries = std::collections::BTreeSet::new();
    for request in &got {
        assert_eq!(request.answered, 200);
        assert!(
            signature_is_valid(
                SECRET.as_bytes(),
                request,
                time::OffsetDateTime::now_utc().unix_timestamp(),
                300
            ),
            "signed"
        );
        let body = request.json();
        assert!(
            deliveries.insert(body["delivery_id"].to_string()),
            "delivery {} sent twice",
            body["delivery_id"]
        );
        let key = (
            body["proxy"]["name"].as_str().unwrap_or("").to_owned(),
            body["from"].as_str().unwrap_or("").to_owned(),
            body["to"].as_str().unwrap_or("").to_owned(),
        );
        *changes.entry(key).or_default() += 1;
    }
    let want: BTreeMap<(String, String, String), usize> = ["n1", "n2"]
        .into_iter()
        .flat_map(|name| {
            [
                (
                    (name.to_owned(), "ok".to_owned(), "unhealthy".to_owned()),
                    1,
                ),
                (
                    (name.to_owned(), "unhealthy".to_owned(), "ok".to_owned()),
                    1,
                ),
            ]
        })
        .collect();
    assert_eq!(
        changes,
        want,
        "one notification per change; logs:\n{}",
        logs(&replicas)
    );
    println!(
        "three replicas: {} notifications for 4 changes, none twice",
        got.len()
    );
}

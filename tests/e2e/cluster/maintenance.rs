//! Maintenance windows with two `proxyhealth serve` replicas on one
//! PostgreSQL and a webhook: a proxy failing inside its window is delivered
//! nothing; once the window is ended while it still fails, the receiver gets
//! that change once.

use super::harness::{
    Fake, INTERVAL, Replica, TIMEOUT, TestDb, eventually, logs, settled, views_show,
};
use proxyhealth_core::Status;
use proxyhealth_testkit::receiver::Receiver;
use serde_json::json;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_nothing_inside_a_window_and_the_change_once_at_its_end() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let receiver = Receiver::start().await;
    let target = format!("ops={}", receiver.url);
    let flags = ["--notify-webhook", &target];
    let mut all = Vec::new();
    for label in ["a", "b"] {
        all.push(Replica::start_with_flags(label, &db, INTERVAL, TIMEOUT, &flags).await);
    }
    let replicas: Vec<&Replica> = all.iter().collect();
    let fakes = vec![Fake::create(replicas[0], "n1", Duration::ZERO).await];
    settled(&replicas, &fakes, Duration::from_secs(20)).await;
    let before = receiver.received().len();

    let now = OffsetDateTime::now_utc();
    let at = |t: OffsetDateTime| t.format(&Rfc3339).expect("an RFC 3339 time");
    let (status, body) = replicas[1]
        .post(
            "/api/v2/proxyhealth/maintenance",
            &json!({
                "proxy": "n1",
                "start": at(now - Duration::from_secs(60)),
                "end": at(now + Duration::from_secs(3600)),
                "reason": "upgrade",
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let window: serde_json::Value = serde_json::from_str(&body).expect("the window as JSON");
    let id = window["id"].as_str().expect("the window's id").to_owned();

    fakes[0].fail(true);
    views_show(
        &replicas,
        &fakes,
        |_| Status::Unhealthy,
        Duration::from_secs(20),
        "both replicas show the failure inside the window",
    )
    .await;
    tokio::time::sleep(INTERVAL * 4).await;
    assert_eq!(
        receiver.received().len(),
        before,
        "nothing delivered inside the window; logs:\n{}",
        logs(&replicas)
    );

    let (status, body) = replicas[0]
        .post(
            &format!("/api/v2/proxyhealth/maintenance/{id}/end"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    eventually(
        Duration::from_secs(20),
        "the change delivered at the window's end",
        || async {
            let n = receiver.accepted().len() - before;
            if n >= 1 {
                Ok(())
            } else {
                Err(format!("{n} received"))
            }
        },
    )
    .await;
    tokio::time::sleep(INTERVAL * 4).await;
    let got: Vec<(String, String, String)> = receiver
        .received()
        .into_iter()
        .skip(before)
        .map(|request| {
            let body = request.json();
            (
                body["proxy"]["name"].as_str().unwrap_or("").to_owned(),
                body["from"].as_str().unwrap_or("").to_owned(),
                body["to"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("n1".to_owned(), "ok".to_owned(), "unhealthy".to_owned())],
        "the change still true at the end, once; logs:\n{}",
        logs(&replicas)
    );
}

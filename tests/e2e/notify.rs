//! Notifications through the real binary: `notify test` against a
//! real receiver, and a `serve` stopped with a notification still pending
//! (its receiver down) that the next `serve` on the same SQLite file delivers.

use crate::support::{Server, async_command, stdout};
use proxyhealth_testkit::fake_proxy::{FakeProxy, json, refused_url};
use proxyhealth_testkit::receiver::{Receiver, signature_is_valid};
use std::net::SocketAddr;
use std::time::Duration;

const SECRET: &str = "e2e-notify-secret";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_test_sends_to_every_target_and_says_what_came_back() {
    let receiver = Receiver::start().await;
    let nowhere = refused_url().await;
    let output = async_command()
        .args(["notify", "test"])
        .args(["--notify-webhook", &format!("ops={}", receiver.url)])
        .args(["--notify-slack", &format!("chat={nowhere}/slack")])
        .env("PROXYHEALTH_NOTIFY_SECRET", SECRET)
        .output()
        .await
        .expect("run notify test");
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "one target failed: {out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "ops (webhook): ok, HTTP 200");
    let port = nowhere.rsplit(':').next().unwrap_or_default();
    assert!(
        lines[1].starts_with(&format!(
            "chat (slack): failed: request to 127.0.0.1:{port} failed: cannot connect: "
        )),
        "{out}"
    );
    assert!(
        !out.contains("/slack"),
        "a target's URL is never printed: {out}"
    );
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["type"], "test");
    assert_eq!(got[0].header("x-proxyhealth-event"), "test");
    assert!(signature_is_valid(SECRET.as_bytes(), &got[0], now(), 300));

    let none = async_command()
        .args(["notify", "test"])
        .output()
        .await
        .expect("run notify test");
    assert_eq!(none.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&none.stderr).trim(),
        "error: no notification target is configured (--notify-webhook, --notify-slack, \
         or notify_webhook / notify_slack in the file)"
    );
}

/// `serve` on `db` notifying `receiver_url`, started off the runtime.
async fn serve(db: &str, receiver_url: &str) -> Server {
    let db = db.to_owned();
    let target = format!("ops={receiver_url}");
    tokio::task::spawn_blocking(move || {
        let mut server = Server::start_on(
            &db,
            &[
                "--interval",
                "1s",
                "--timeout",
                "1s",
                "--admin-token",
                "notify-admin-token",
                "--notify-webhook",
                &target,
                "--notify-secret",
                SECRET,
                "--notify-timeout",
                "1s",
            ],
        );
        server.token = "notify-admin-token".to_owned();
        server
    })
    .await
    .expect("start serve")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_pending_at_a_restart_is_delivered_by_the_next_serve() {
    // the receiver's port, reserved; nothing listens on it until the restart
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr: SocketAddr = reserved.local_addr().expect("addr");
    drop(reserved);
    let receiver_url = format!("http://{addr}/hook");

    // a proxy failing from the start: its first status is notified
    let proxy = FakeProxy::start(|_| async { json(500, r#"{"message":"broken"}"#) }).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("proxyhealth.db").display());

    let mut first = serve(&db, &receiver_url).await;
    let api = first.api();
    let created = api
        .create_proxy(&proxyhealth_api::wire::CreateProxyRequest {
            name: "eu-west".into(),
            display_name: "EU West".into(),
            icon: String::new(),
        })
        .await
        .expect("create");
    let id = created.value.proxy.region.id;
    api.register(
        &created.value.proxy_token,
        &proxyhealth_testkit::api::registration(&proxy.url, "e2e"),
    )
    .await
    .expect("register");
    wait_for(&first, id, "unhealthy").await;
    // its notification is tried, and fails: nothing listens yet; stop then,
    // before the backoff grows
    proxyhealth_testkit::eventually(Duration::from_secs(15), "a failed attempt", async || {
        let rows = api.notifications().await.expect("notifications").value;
        let tried = rows.notifications.iter().any(|n| {
            n.proxy_id == id
                && n.to == proxyhealth_core::Status::Unhealthy
                && n.state == "pending"
                && n.attempts >= 1
        });
        if tried {
            Ok(())
        } else {
            Err(format!("{rows:?}\n{}", first.log_text()))
        }
    })
    .await;
    let stopped = tokio::task::spawn_blocking(move || {
        let stopped = first.terminate(Duration::from_secs(15));
        (first, stopped)
    })
    .await
    .expect("stop");
    assert!(stopped.1.is_some_and(|(status, _)| status.success()));
    drop(stopped.0);

    let receiver = Receiver::start_on(addr).await;
    let second = serve(&db, &receiver_url).await;
    let down = proxyhealth_testkit::eventually(
        Duration::from_secs(20),
        "the pending notification delivered after the restart",
        async || {
            receiver
                .accepted()
                .into_iter()
                .find(|r| r.json()["to"] == "unhealthy")
                .ok_or_else(|| second.log_text())
        },
    )
    .await;
    let body = down.json();
    assert_eq!(body["proxy"]["id"], id.to_string());
    assert!(
        body["from"].is_null() || body["from"] == "unregistered",
        "{body}"
    );
    assert!(signature_is_valid(SECRET.as_bytes(), &down, now(), 300));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let unhealthy = receiver
        .received()
        .iter()
        .filter(|r| r.json()["to"] == "unhealthy")
        .count();
    assert_eq!(unhealthy, 1, "delivered once");
}

/// Waits until `server` shows the proxy `id` with `status`.
async fn wait_for(server: &Server, id: uuid::Uuid, status: &str) {
    let what = format!("{id} shown {status}");
    proxyhealth_testkit::eventually(Duration::from_secs(15), &what, async || {
        let shown = server
            .api()
            .proxy(&id.to_string())
            .await
            .map(|answer| answer.value.status.status.as_str().to_owned())
            .unwrap_or_default();
        if shown == status { Ok(()) } else { Err(shown) }
    })
    .await;
}

//! Notifications on status changes, end to end inside one
//! process: the real service over a real store, a fake proxy the test turns
//! up and down, sweeps on demand, and a real HTTP receiver on loopback
//! (`proxyhealth_testkit::Receiver`) that records, verifies and fails when
//! told.

use crate::helpers::{ADMIN, TestApp, app_settings, config, eventually, start};
use proxyhealth_notify::{NotifySettings, Secret, Target, TargetKind};
use proxyhealth_server::AppSettings;
use proxyhealth_store::{MemoryStore, NewProxy, ProxyStore, Registration};
use proxyhealth_testkit::fake_proxy::{FakeProxy, json};
use proxyhealth_testkit::receiver::{Receiver, signature_is_valid};
use reqwest::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use uuid::Uuid;

const SECRET: &str = "whsec-test-0123456789";
const WAIT: Duration = Duration::from_secs(15);

/// A proxy whose health the test switches: a report without errors, or a 503.
struct Switch {
    up: Arc<AtomicBool>,
    proxy: FakeProxy,
}

impl Switch {
    async fn start() -> Switch {
        let up = Arc::new(AtomicBool::new(true));
        let answer_up = Arc::clone(&up);
        let proxy = FakeProxy::start(move |_| {
            let up = answer_up.load(Ordering::SeqCst);
            async move {
                if up {
                    json(200, r#"{"errors":[],"warnings":[]}"#)
                } else {
                    json(503, r#"{"message":"overloaded"}"#)
                }
            }
        })
        .await;
        Switch { up, proxy }
    }

    fn set(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }
}

/// A memory store holding one registered proxy `eu-west` at `url`.
/// The store is opened with the notification settings' policy, as `serve`
/// opens its own.
async fn store_with_proxy(url: &str, notify: &NotifySettings) -> (Arc<MemoryStore>, Uuid) {
    let store = Arc::new(MemoryStore::with_outbox_policy(notify.outbox_policy()));
    let created = store
        .create_proxy(NewProxy {
            name: "eu-west".into(),
            display_name: "EU West".into(),
            ..Default::default()
        })
        .await
        .expect("create");
    let id = created.proxy.id;
    store
        .register_proxy(
            id,
            Registration {
                url: url.to_owned(),
                wildcard_hostname: String::new(),
                derp_enabled: true,
                derp_only: false,
                version: "v2.20.0".into(),
            },
        )
        .await
        .expect("register");
    (store, id)
}

fn webhook(url: &str) -> Target {
    Target::parse(TargetKind::Webhook, &format!("ops={url}")).expect("target")
}

fn settings(targets: Vec<Target>) -> NotifySettings {
    NotifySettings {
        targets,
        secret: Some(Secret::new(SECRET)),
        timeout: Duration::from_secs(2),
        public_url: url::Url::parse("https://health.example/").ok(),
        ..NotifySettings::default()
    }
}

async fn app_with(store: Arc<MemoryStore>, notify: NotifySettings) -> TestApp {
    start(AppSettings {
        notify,
        ..app_settings(store, config())
    })
    .await
}

async fn sweep(app: &TestApp) {
    app.engine.force_update().await.expect("sweep");
}

/// The recent notifications through the admin API.
async fn deliveries(app: &TestApp) -> serde_json::Value {
    let answer = app.admin_get("/api/v2/proxyhealth/notifications").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["notifications"].clone()
}

/// Waits until the newest notification's state is `state`.
async fn wait_for_state(app: &TestApp, state: &str) -> serde_json::Value {
    eventually(WAIT, &format!("a {state} notification"), async || {
        let rows = deliveries(app).await;
        if rows[0]["state"] == state {
            Ok(rows)
        } else {
            Err(rows)
        }
    })
    .await
}

async fn metrics(app: &TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn a_change_and_its_recovery_are_each_notified_once_and_signed() {
    let receiver = Receiver::start().await;
    let proxy = Switch::start().await;
    let notify = settings(vec![webhook(&receiver.url)]);
    let (store, id) = store_with_proxy(&proxy.proxy.url, &notify).await;
    let app = app_with(store, notify).await;
    sweep(&app).await;
    proxy.set(false);
    sweep(&app).await;
    let got = receiver.wait_for_accepted(1, WAIT).await;
    let down = &got[0];
    assert!(
        signature_is_valid(SECRET.as_bytes(), down, now(), 300),
        "the signature verifies with the secret"
    );
    assert!(!signature_is_valid(b"another secret", down, now(), 300));
    assert_eq!(down.header("content-type"), "application/json");
    assert_eq!(down.header("x-proxyhealth-event"), "status_change");
    let body = down.json();
    assert_eq!(body["type"], "status_change");
    assert_eq!(down.header("x-proxyhealth-delivery"), body["delivery_id"]);
    assert_eq!(body["proxy"]["id"], id.to_string());
    assert_eq!(body["proxy"]["name"], "eu-west");
    assert_eq!(body["proxy"]["url"], proxy.proxy.url);
    assert_eq!(body["from"], "ok");
    assert_eq!(body["to"], "unhealthy");
    assert_eq!(body["recovered"], false);
    assert!(
        body["errors"][0].as_str().unwrap_or("").contains("503"),
        "{body}"
    );
    assert!(body["previous_status_seconds"].as_f64().is_some(), "{body}");
    assert!(body["at"].as_str().is_some_and(|at| at.ends_with('Z')));
    assert_eq!(
        body["dashboard_url"],
        format!("https://health.example/proxies/{id}")
    );

    proxy.set(true);
    sweep(&app).await;
    let got = receiver.wait_for_accepted(2, WAIT).await;
    let up = got[1].json();
    assert_eq!(up["from"], "unhealthy");
    assert_eq!(up["to"], "ok");
    assert_eq!(up["recovered"], true);
    assert_eq!(up["errors"], serde_json::json!([]));
    assert!(signature_is_valid(SECRET.as_bytes(), &got[1], now(), 300));

    // a sweep without a change writes no row, so nothing more can be sent
    sweep(&app).await;
    let rows = deliveries(&app).await;
    assert_eq!(rows.as_array().map(Vec::len), Some(2), "{rows}");
    assert_eq!(receiver.received().len(), 2);
    for row in rows.as_array().into_iter().flatten() {
        assert_eq!(row["state"], "delivered");
        assert_eq!(row["attempts"], 1);
        assert_eq!(row["target"], "ops");
        assert_eq!(row["last_status"], 200);
    }
    let text = metrics(&app).await;
    assert_eq!(
        metric(
            &text,
            "proxyhealth_notifications_sent_total{target=\"ops\"}"
        ),
        2.0
    );
    assert!(
        !text.contains(&receiver.url),
        "the target's URL is never a label"
    );
}

#[tokio::test]
async fn a_slack_target_gets_a_readable_message() {
    let receiver = Receiver::start().await;
    let proxy = Switch::start().await;
    let slack = Target::parse(TargetKind::Slack, &format!("chat={}", receiver.url)).expect("ok");
    let notify = settings(vec![slack]);
    let (store, id) = store_with_proxy(&proxy.proxy.url, &notify).await;
    let app = app_with(store, notify).await;
    sweep(&app).await;
    proxy.set(false);
    sweep(&app).await;
    let got = receiver.wait_for_accepted(1, WAIT).await;
    let text = got[0].json()["text"].as_str().unwrap_or("").to_owned();
    assert!(
        text.starts_with(":large_orange_circle: eu-west is unhealthy (was ok for "),
        "{text}"
    );
    assert!(text.contains("\n• error: "), "{text}");
    assert!(
        text.ends_with(&format!(
            "<https://health.example/proxies/{id}|Open in proxyhealth>"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn a_failing_receiver_is_retried_until_it_accepts() {
    let receiver = Receiver::start().await;
    receiver.fail_next(2);
    let proxy = Switch::start().await;
    let notify = settings(vec![webhook(&receiver.url)]);
    let (store, _) = store_with_proxy(&proxy.proxy.url, &notify).await;
    let app = app_with(store, notify).await;
    sweep(&app).await;
    proxy.set(false);
    sweep(&app).await;
    // backoff 1 s, then 2 s
    receiver.wait_for_accepted(1, WAIT).await;
    let all = receiver.received();
    assert_eq!(
        all.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [503, 503, 200]
    );
    let ids: Vec<String> = all
        .iter()
        .map(|r| r.header("x-proxyhealth-delivery"))
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one delivery id: {ids:?}"
    );
    let rows = wait_for_state(&app, "delivered").await;
    assert_eq!(rows[0]["attempts"], 3);
    let text = metrics(&app).await;
    assert_eq!(
        metric(
            &text,
            "proxyhealth_notifications_retried_total{target=\"ops\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(
            &text,
            "proxyhealth_notifications_sent_total{target=\"ops\"}"
        ),
        1.0
    );
}

#[tokio::test]
async fn a_notification_is_given_up_after_the_retry_bound() {
    let nowhere = proxyhealth_testkit::fake_proxy::refused_url().await;
    let proxy = Switch::start().await;
    let notify = NotifySettings {
        retry_for: Duration::from_secs(2),
        ..settings(vec![webhook(&format!("{nowhere}/hook"))])
    };
    let (store, _) = store_with_proxy(&proxy.proxy.url, &notify).await;
    let app = app_with(store, notify).await;
    sweep(&app).await;
    proxy.set(false);
    sweep(&app).await;
    let rows = wait_for_state(&app, "failed").await;
    let row = &rows[0];
    assert!(row["attempts"].as_u64().is_some_and(|n| n >= 2), "{row}");
    let error = row["last_error"].as_str().unwrap_or("");
    assert!(error.contains("cannot connect"), "{error}");
    assert!(
        !error.contains("/hook"),
        "the error never shows the URL: {error}"
    );
    let text = metrics(&app).await;
    assert_eq!(
        metric(
            &text,
            "proxyhealth_notifications_failed_total{target=\"ops\"}"
        ),
        1.0
    );
}

#[tokio::test]
async fn a_change_undone_within_the_damping_time_sends_nothing() {
    let receiver = Receiver::start().await;
    let proxy = Switch::start().await;
    let damping = Duration::from_secs(60);
    let notify = NotifySettings {
        damping,
        ..settings(vec![webhook(&receiver.url)])
    };
    let (store, _) = store_with_proxy(&proxy.proxy.url, &notify).await;
    // The damping is measured on the store's clock, which the test moves
    // instead of waiting a minute for it.
    let clock = store.clock().clone();
    let app = app_with(store, notify).await;
    sweep(&app).await;
    proxy.set(false);
    sweep(&app).await;
    proxy.set(true);
    sweep(&app).await;
    let rows = deliveries(&app).await;
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(rows[0]["state"], "cancelled", "a flap is cancelled: {rows}");

    // a change that lasts waits for the damping time, then is sent
    proxy.set(false);
    sweep(&app).await;
    let rows = deliveries(&app).await;
    assert_eq!(
        rows[0]["state"], "pending",
        "not before the damping time: {rows}"
    );
    clock.advance(damping);
    let got = receiver.wait_for_accepted(1, WAIT).await;
    assert_eq!(got[0].json()["to"], "unhealthy");
    let rows = wait_for_state(&app, "delivered").await;
    assert_eq!(
        rows[1]["state"], "cancelled",
        "the flap stays unsent: {rows}"
    );
    assert_eq!(
        receiver.received().len(),
        1,
        "only the lasting change is sent"
    );
}

#[tokio::test]
async fn the_notifications_route_is_for_the_admin_only() {
    let notify = NotifySettings::default();
    let (store, _) = store_with_proxy("http://127.0.0.1:9", &notify).await;
    let app = app_with(store, notify).await;
    let answer = app.get("/api/v2/proxyhealth/notifications").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let listed = proxyhealth_testkit::api::client(&app.base, ADMIN)
        .notifications()
        .await
        .expect("listed");
    assert!(listed.value.notifications.is_empty());
}

#[tokio::test]
async fn a_bad_notifications_limit_is_refused_naming_the_parameter_like_the_incidents() {
    let notify = NotifySettings::default();
    let (store, _) = store_with_proxy("http://127.0.0.1:9", &notify).await;
    let app = app_with(store, notify).await;
    for value in ["0", "1001", "ten"] {
        let answer = app
            .admin_get(&format!("/api/v2/proxyhealth/notifications?limit={value}"))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{value}");
        assert_eq!(answer.message(), "Invalid query parameter.");
        assert_eq!(
            answer.detail(),
            format!("invalid limit \"{value}\": expected a whole number from 1 to 1000")
        );
        assert_eq!(answer.first_field(), "limit");
        assert_eq!(answer.body["validations"][0]["detail"], answer.detail());
    }
    let incidents = app.admin_get("/api/v2/proxyhealth/incidents?limit=0").await;
    assert_eq!(incidents.message(), "Invalid query parameter.");
    assert_eq!(incidents.first_field(), "limit");
}

#[tokio::test]
async fn a_registration_right_after_creation_is_notified_as_one_not_as_a_recovery() {
    let receiver = Receiver::start().await;
    let proxy = Switch::start().await;
    let notify = settings(vec![webhook(&receiver.url)]);
    let store = Arc::new(MemoryStore::with_outbox_policy(notify.outbox_policy()));
    let app = app_with(store, notify).await;
    let (id, token) = app.create_proxy("eu-west").await;
    let registered = app
        .register(&token, &crate::helpers::registration(&proxy.proxy.url))
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    app.wait_for_status(id, "ok").await;
    let got = receiver.wait_for_accepted(1, WAIT).await;
    let body = got[0].json();
    assert_eq!(body["from"], "unregistered");
    assert_eq!(body["to"], "ok");
    assert_eq!(body["recovered"], false, "a registration is no recovery");
    let unregistered_for = body["previous_status_seconds"].as_f64().expect("seconds");
    let summary = body["summary"].as_str().expect("summary");
    assert!(
        summary.starts_with("eu-west registered and is ok (was unregistered for "),
        "{summary}"
    );
    if unregistered_for < 1.0 {
        assert!(
            summary.ends_with("ms)"),
            "{unregistered_for} s reads in milliseconds, not as a second: {summary}"
        );
    }
}

#[tokio::test]
async fn a_store_opened_for_other_targets_is_refused_at_build_not_silent() {
    let notify = settings(vec![webhook("http://127.0.0.1:9/hook")]);
    // opened without the notification settings: its journal would write no rows
    let (store, _) = store_with_proxy("http://127.0.0.1:9", &NotifySettings::default()).await;
    let err = proxyhealth_server::Application::build(AppSettings {
        notify,
        ..app_settings(store, config())
    })
    .await
    .expect_err("a notifier over a store opened for no target");
    let text = format!("{err}");
    assert!(
        text.starts_with("notifications: the store writes notification rows for"),
        "{text}"
    );
    assert!(err.is_settings(), "a settings mistake: {text}");
}

/// Creates a vantage through the API and sends one result of it for proxy
/// `id`; returns the vantage's agent token.
async fn vantage_result(app: &TestApp, token: Option<&str>, id: Uuid, status: &str) -> String {
    let token = match token {
        Some(token) => token.to_owned(),
        None => {
            let created = app
                .admin_send(
                    reqwest::Method::POST,
                    "/api/v2/proxyhealth/vantages",
                    &serde_json::json!({ "name": "ap-south" }),
                )
                .await;
            assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
            created.body["agent_token"]
                .as_str()
                .expect("a token")
                .to_owned()
        }
    };
    let at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a time formats");
    let errors: Vec<&str> = if status == "ok" {
        vec![]
    } else {
        vec!["connection refused"]
    };
    let sent = app
        .client
        .post(app.url("/api/v2/proxyhealth/agent/results"))
        .bearer_auth(&token)
        .header("Proxyhealth-Agent-Id", "agent-1")
        .json(&serde_json::json!({ "results": [{
            "proxy_id": id, "status": status, "latency_ms": 40, "checked_at": at,
            "report": { "errors": errors, "warnings": [] },
        }]}))
        .send()
        .await
        .expect("send");
    assert_eq!(sent.status(), StatusCode::OK);
    token
}

#[tokio::test]
async fn with_notify_partial_a_partial_outage_s_start_and_end_are_notified_naming_the_vantage() {
    let receiver = Receiver::start().await;
    let proxy = Switch::start().await;
    let notify = NotifySettings {
        partial: true,
        ..settings(vec![webhook(&receiver.url)])
    };
    let (store, id) = store_with_proxy(&proxy.proxy.url, &notify).await;
    let app = app_with(store, notify).await;
    sweep(&app).await;
    let token = vantage_result(&app, None, id, "unreachable").await;
    let got = receiver.wait_for_accepted(1, WAIT).await;
    assert_eq!(got[0].header("x-proxyhealth-event"), "partial_outage");
    assert!(signature_is_valid(SECRET.as_bytes(), &got[0], now(), 300));
    let start = got[0].json();
    assert_eq!(start["type"], "partial_outage");
    assert_eq!(start["proxy"]["name"], "eu-west");
    assert_eq!((&start["from"], &start["to"]), (&"ok".into(), &"ok".into()));
    assert_eq!(start["recovered"], false);
    assert_eq!(
        start["warnings"][0],
        "partial outage: failing from 1 of 2 vantages: ap-south (unreachable: connection refused)"
    );
    assert_eq!(
        start["summary"],
        "eu-west: partial outage: failing from 1 of 2 vantages: ap-south (unreachable: connection refused)"
    );

    vantage_result(&app, Some(&token), id, "ok").await;
    let got = receiver.wait_for_accepted(2, WAIT).await;
    let end = got[1].json();
    assert_eq!(end["type"], "partial_outage");
    assert_eq!(
        end["warnings"][0],
        "partial outage over: was failing from ap-south"
    );
    assert!(end["previous_status_seconds"].as_f64().is_some(), "{end}");
    assert_eq!(receiver.received().len(), 2, "nothing else was sent");
}

#[tokio::test]
async fn without_notify_partial_only_changes_of_the_overall_status_are_notified() {
    let receiver = Receiver::start().await;
    let proxy = Switch::start().await;
    let notify = settings(vec![webhook(&receiver.url)]);
    assert!(!notify.partial, "off unless asked for");
    let (store, id) = store_with_proxy(&proxy.proxy.url, &notify).await;
    let app = app_with(store, notify).await;
    sweep(&app).await;
    // a partial outage starts and ends: nothing is sent
    let token = vantage_result(&app, None, id, "unreachable").await;
    vantage_result(&app, Some(&token), id, "ok").await;
    // then the proxy fails from both vantages: down overall, notified
    vantage_result(&app, Some(&token), id, "unreachable").await;
    proxy.set(false);
    sweep(&app).await;
    let got = receiver.wait_for_accepted(1, WAIT).await;
    assert_eq!(got[0].header("x-proxyhealth-event"), "status_change");
    let body = got[0].json();
    // one unhealthy and one unreachable vantage: the tie is unreachable
    assert_eq!(
        (&body["from"], &body["to"]),
        (&"ok".into(), &"unreachable".into())
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "the partial outage sent nothing: {:?}",
        receiver
            .received()
            .iter()
            .map(|r| r.json())
            .collect::<Vec<_>>()
    );
    let rows = deliveries(&app).await;
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
}

/// A clock the test moves, for the maintenance windows.
fn moved_clock() -> (
    Arc<parking_lot::Mutex<time::OffsetDateTime>>,
    proxyhealth_server::maintenance::Clock,
) {
    let at = Arc::new(parking_lot::Mutex::new(time::OffsetDateTime::now_utc()));
    let read = Arc::clone(&at);
    (at, Arc::new(move || *read.lock()))
}

/// The service with notifications and a maintenance clock the test moves.
async fn app_with_clock(
    store: Arc<MemoryStore>,
    notify: NotifySettings,
    clock: proxyhealth_server::maintenance::Clock,
) -> TestApp {
    let maintenance =
        proxyhealth_server::maintenance::Maintenance::with_clock(store.maintenance(), clock);
    start(AppSettings {
        notify,
        ..app_settings(
            store,
            proxyhealth_server::ServiceConfig {
                maintenance: Some(maintenance),
                ..config()
            },
        )
    })
    .await
}

/// Puts proxy `id` in a window from a minute before `now` for an hour.
async fn window_for(app: &TestApp, id: Uuid, now: time::OffsetDateTime) -> serde_json::Value {
    let rfc = |at: time::OffsetDateTime| {
        at.format(&time::format_description::well_known::Rfc3339)
            .expect("format")
    };
    let answer = app
        .admin_send(
            reqwest::Method::POST,
            "/api/v2/proxyhealth/maintenance",
            &serde_json::json!({
                "proxy": id.to_string(),
                "start": rfc(now - time::Duration::minutes(1)),
                "end": rfc(now + time::Duration::hours(1)),
                "reason": "kernel upgrade",
            }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.body
}

#[tokio::test]
async fn a_proxy_down_and_back_inside_its_window_sends_nothing_and_loses_no_uptime() {
    let receiver = Receiver::start().await;
    let proxy = Switch::start().await;
    let notify = settings(vec![webhook(&receiver.url)]);
    let (store, id) = store_with_proxy(&proxy.proxy.url, &notify).await;
    let (at, clock) = moved_clock();
    let app = app_with_clock(store, notify, clock).await;
    sweep(&app).await;
    let start = *at.lock();
    window_for(&app, id, start).await;
    proxy.set(false);
    sweep(&app).await;
    let shown = app
        .admin_get(&format!("/api/v2/workspaceproxies/{id}"))
        .await;
    assert_eq!(shown.body["status"]["status"], "unhealthy", "probes go on");
    assert_eq!(shown.body["maintenance"]["reason"], "kernel upgrade");
    sweep(&app).await;
    proxy.set(true);
    sweep(&app).await;
    *at.lock() = start + time::Duration::hours(2);
    sweep(&app).await;
    let shown = app
        .admin_get(&format!("/api/v2/workspaceproxies/{id}"))
        .await;
    assert!(shown.body.get("maintenance").is_none(), "{}", shown.body);
    let rows = deliveries(&app).await;
    assert_eq!(rows, serde_json::json!([]), "nothing notified");
    assert!(receiver.received().is_empty());
    let history = app
        .admin_get(&format!("/api/v2/workspaceproxies/{id}/history"))
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    assert_eq!(
        history.body["checks"], 2,
        "the window's three checks left out"
    );
    assert_eq!(history.body["ok_checks"], 2);
    assert_eq!(history.body["uptime"], 1.0);
    assert_eq!(history.body["maintenance"][0]["reason"], "kernel upgrade");
}

#[tokio::test]
async fn a_proxy_still_down_when_its_window_ends_is_notified_once_then() {
    let receiver = Receiver::start().await;
    let proxy = Switch::start().await;
    let notify = settings(vec![webhook(&receiver.url)]);
    let (store, id) = store_with_proxy(&proxy.proxy.url, &notify).await;
    let (at, clock) = moved_clock();
    let app = app_with_clock(store, notify, clock).await;
    sweep(&app).await;
    let start = *at.lock();
    window_for(&app, id, start).await;
    proxy.set(false);
    sweep(&app).await;
    sweep(&app).await;
    assert_eq!(
        deliveries(&app).await,
        serde_json::json!([]),
        "held in the window"
    );
    *at.lock() = start + time::Duration::hours(2);
    sweep(&app).await;
    let got = receiver.wait_for_accepted(1, WAIT).await;
    let body = got[0].json();
    assert_eq!(body["from"], "ok", "the status notified before the window");
    assert_eq!(body["to"], "unhealthy");
    sweep(&app).await;
    sweep(&app).await;
    let rows = deliveries(&app).await;
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "once: {rows}");
}

/// The service with `--notify-partial` and a maintenance clock the test
/// moves, over one proxy `ok` from the service's own vantage.
async fn partial_app_with_clock(
    receiver: &Receiver,
    proxy: &Switch,
) -> (TestApp, Uuid, Arc<parking_lot::Mutex<time::OffsetDateTime>>) {
    let notify = NotifySettings {
        partial: true,
        ..settings(vec![webhook(&receiver.url)])
    };
    let (store, id) = store_with_proxy(&proxy.proxy.url, &notify).await;
    let (at, clock) = moved_clock();
    let maintenance =
        proxyhealth_server::maintenance::Maintenance::with_clock(store.maintenance(), clock);
    let app = start(AppSettings {
        notify,
        ..app_settings(
            store,
            proxyhealth_server::ServiceConfig {
                maintenance: Some(maintenance),
                ..config()
            },
        )
    })
    .await;
    sweep(&app).await;
    (app, id, at)
}

#[tokio::test]
async fn a_partial_outage_starting_in_its_window_is_held_and_notified_once_when_the_window_ends() {
    let receiver = Receiver::start().await;
    let proxy = Switch::start().await;
    let (app, id, at) = partial_app_with_clock(&receiver, &proxy).await;
    let start = *at.lock();
    window_for(&app, id, start).await;
    vantage_result(&app, None, id, "unreachable").await;
    let shown = app
        .admin_get(&format!("/api/v2/workspaceproxies/{id}"))
        .await;
    assert_eq!(
        shown.body["status"]["report"]["warnings"][0],
        "partial outage: failing from 1 of 2 vantages: ap-south (unreachable: connection refused)",
        "shown as ever: {}",
        shown.body
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        deliveries(&app).await,
        serde_json::json!([]),
        "held in the window"
    );
    *at.lock() = start + time::Duration::hours(2);
    let got = receiver.wait_for_accepted(1, WAIT).await;
    assert_eq!(got[0].header("x-proxyhealth-event"), "partial_outage");
    assert_eq!(
        got[0].json()["warnings"][0],
        "partial outage: failing from 1 of 2 vantages: ap-south (unreachable: connection refused)"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows = deliveries(&app).await;
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "once: {rows}");
}

#[tokio::test]
async fn a_partial_outage_over_inside_its_window_sends_nothing() {
    let receiver = Receiver::start().await;
    let proxy = Switch::start().await;
    let (app, id, at) = partial_app_with_clock(&receiver, &proxy).await;
    let start = *at.lock();
    window_for(&app, id, start).await;
    let token = vantage_result(&app, None, id, "unreachable").await;
    vantage_result(&app, Some(&token), id, "ok").await;
    *at.lock() = start + time::Duration::hours(2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        deliveries(&app).await,
        serde_json::json!([]),
        "nothing notified"
    );
    assert!(receiver.received().is_empty());
}

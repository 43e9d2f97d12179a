//! Maintenance windows through the API: creating, listing and ending them,
//! the rules they are checked against, and a proxy shown in maintenance (in
//! its JSON and the `proxyhealth_maintenance` gauge) only while in one, on a
//! clock the tests move.

use crate::helpers::{TestApp, config, spawn_with};
use parking_lot::Mutex;
use proxyhealth_server::ServiceConfig;
use proxyhealth_server::maintenance::Maintenance;
use proxyhealth_store::{MemoryStore, ProxyStore};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const ROUTE: &str = "/api/v2/proxyhealth/maintenance";

/// The service over a memory store, its windows judged on a clock set to
/// `now` that the test moves.
async fn app_at(now: OffsetDateTime) -> (TestApp, Arc<Mutex<OffsetDateTime>>) {
    let store = Arc::new(MemoryStore::new());
    let at = Arc::new(Mutex::new(now));
    let read = Arc::clone(&at);
    let maintenance = Maintenance::with_clock(store.maintenance(), Arc::new(move || *read.lock()));
    let app = spawn_with(
        store,
        ServiceConfig {
            maintenance: Some(maintenance),
            ..config()
        },
    )
    .await;
    (app, at)
}

fn rfc(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).expect("format")
}

async fn create(app: &TestApp, body: Value) -> crate::helpers::Answer {
    app.admin_send(Method::POST, ROUTE, &body).await
}

async fn proxy(app: &TestApp, id: Uuid) -> Value {
    let answer = app
        .admin_get(&format!("/api/v2/workspaceproxies/{id}"))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body
}

async fn gauge(app: &TestApp, id: Uuid) -> Option<String> {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let series = format!("proxyhealth_maintenance{{proxy_id=\"{id}\"}}");
    text.lines()
        .find_map(|line| line.strip_prefix(&series).map(|v| v.trim().to_owned()))
}

#[tokio::test]
async fn a_proxy_in_a_window_carries_it_and_one_outside_has_no_maintenance_key() {
    let now = datetime!(2026-12-01 02:30 UTC);
    let (app, _) = app_at(now).await;
    let (id, _) = app.create_proxy("eu-west").await;
    let (other, _) = app.create_proxy("us-east").await;
    let created = create(
        &app,
        json!({"proxy": "eu-west", "start": "2026-12-01T02:00:00Z",
               "end": "2026-12-01T04:00:00Z", "reason": "kernel upgrade"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["state"], "active");
    assert_eq!(created.body["proxy_name"], "eu-west");
    let window = created.body["id"].clone();
    let shown = proxy(&app, id).await;
    assert_eq!(
        shown["maintenance"],
        json!({"id": window, "reason": "kernel upgrade",
               "starts_at": "2026-12-01T02:00:00Z", "ends_at": "2026-12-01T04:00:00Z"})
    );
    let plain = proxy(&app, other).await;
    assert!(plain.get("maintenance").is_none(), "Coder's shape: {plain}");
    let list = app.admin_get("/api/v2/workspaceproxies").await;
    let regions = list.body["regions"].as_array().expect("regions");
    assert_eq!(regions[0]["maintenance"]["reason"], "kernel upgrade");
    assert!(regions[1].get("maintenance").is_none());
    assert_eq!(gauge(&app, id).await.as_deref(), Some("1"));
}

#[tokio::test]
async fn a_weekly_window_is_active_in_its_second_week_and_not_between() {
    let (app, at) = app_at(datetime!(2026-11-30 00:00 UTC)).await;
    let (id, _) = app.create_proxy("eu-west").await;
    let created = create(
        &app,
        json!({"all": true, "start": "2026-12-01T02:00:00Z", "end": "2026-12-01T04:00:00Z",
               "weekly": true, "reason": "weekly patching"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["state"], "scheduled");
    assert_eq!(created.body["all"], true);
    assert!(proxy(&app, id).await.get("maintenance").is_none());
    *at.lock() = datetime!(2026-12-04 03:00 UTC);
    assert!(
        proxy(&app, id).await.get("maintenance").is_none(),
        "between weeks"
    );
    *at.lock() = datetime!(2026-12-08 03:00 UTC);
    let shown = proxy(&app, id).await;
    assert_eq!(shown["maintenance"]["starts_at"], "2026-12-08T02:00:00Z");
    assert_eq!(shown["maintenance"]["ends_at"], "2026-12-08T04:00:00Z");
    assert_eq!(gauge(&app, id).await.as_deref(), Some("1"));
    *at.lock() = datetime!(2026-12-08 04:00 UTC);
    assert!(proxy(&app, id).await.get("maintenance").is_none());
    assert_eq!(gauge(&app, id).await, None, "no series outside a window");
}

#[tokio::test]
async fn ending_a_window_early_makes_its_end_now_and_a_second_end_is_refused() {
    let now = datetime!(2026-12-01 02:30 UTC);
    let (app, at) = app_at(now).await;
    let (id, _) = app.create_proxy("eu-west").await;
    let created = create(
        &app,
        json!({"proxy": id.to_string(), "start": rfc(now - Duration::minutes(30)),
               "end": rfc(now + Duration::hours(2)), "reason": "upgrade"}),
    )
    .await;
    let window = created.body["id"].as_str().expect("id").to_owned();
    *at.lock() = now + Duration::minutes(10);
    let ended = app.admin_post_empty(&format!("{ROUTE}/{window}/end")).await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    assert_eq!(ended.body["state"], "over");
    assert_eq!(ended.body["ended_at"], "2026-12-01T02:40:00Z");
    assert!(proxy(&app, id).await.get("maintenance").is_none());
    let again = app.admin_delete(&format!("{ROUTE}/{window}")).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(
        again.message(),
        format!("the maintenance window {window} is already over")
    );
    let unknown = app
        .admin_post_empty(&format!("{ROUTE}/{}/end", Uuid::nil()))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    let listed = app.admin_get(ROUTE).await;
    assert_eq!(listed.body["windows"][0]["state"], "over");
}

#[tokio::test]
async fn ending_a_future_window_cancels_it() {
    let now = datetime!(2026-12-01 00:00 UTC);
    let (app, _) = app_at(now).await;
    let created = create(
        &app,
        json!({"all": true, "start": "2026-12-02T00:00:00Z", "end": "2026-12-02T01:00:00Z",
               "reason": "later"}),
    )
    .await;
    let window = created.body["id"].as_str().expect("id").to_owned();
    let ended = app.admin_delete(&format!("{ROUTE}/{window}")).await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    assert_eq!(ended.body["state"], "cancelled");
    assert_eq!(ended.body["current"], Value::Null);
}

#[tokio::test]
async fn a_bad_window_is_refused_naming_the_field_and_nothing_is_kept() {
    let (app, _) = app_at(datetime!(2026-12-01 00:00 UTC)).await;
    app.create_proxy("eu-west").await;
    let base = json!({"proxy": "eu-west", "start": "2026-12-01T02:00:00Z",
                      "end": "2026-12-01T04:00:00Z", "reason": "upgrade"});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let cases = [
        (
            with("end", json!("2026-12-01T01:00:00Z")),
            "end",
            "must be after start",
        ),
        (
            with("start", json!("tomorrow")),
            "start",
            "is not an RFC 3339 time",
        ),
        (with("reason", json!("  ")), "reason", "is required"),
        (
            with("reason", json!("x".repeat(501))),
            "reason",
            "longer than 500",
        ),
        (
            with("proxy", json!("nowhere")),
            "proxy",
            "no workspace proxy has the id or name",
        ),
        (with("all", json!(true)), "proxy", "not both"),
        (
            with("weekly", json!(true))
                .as_object()
                .cloned()
                .map(|mut body| {
                    body.insert("end".into(), json!("2026-12-09T02:00:00Z"));
                    Value::Object(body)
                })
                .expect("object"),
            "end",
            "at most 7 days",
        ),
    ];
    for (body, field, says) in cases {
        let refused = create(&app, body.clone()).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            refused.body
        );
        assert_eq!(refused.message(), "Validation failed.", "{}", refused.body);
        assert_eq!(refused.first_field(), field, "{}", refused.body);
        let detail = refused.body["validations"][0]["detail"]
            .as_str()
            .unwrap_or("");
        assert!(detail.contains(says), "{field}: {detail}");
    }
    let listed = app.admin_get(ROUTE).await;
    assert_eq!(listed.body["windows"], json!([]));
}

#[tokio::test]
async fn a_window_made_through_one_replica_is_seen_by_another_within_a_sweep_interval() {
    let store = Arc::new(MemoryStore::new());
    let settings = |store: Arc<MemoryStore>| proxyhealth_server::AppSettings {
        engine: proxyhealth_engine::EngineOptions {
            interval: std::time::Duration::from_millis(300),
            ..crate::helpers::engine_options()
        },
        ..crate::helpers::app_settings(store, config())
    };
    let one = crate::helpers::start(settings(Arc::clone(&store))).await;
    let other = crate::helpers::start(settings(Arc::clone(&store))).await;
    let (id, _) = one.create_proxy("eu-west").await;
    let now = OffsetDateTime::now_utc();
    let created = create(
        &one,
        json!({"proxy": "eu-west", "start": rfc(now - Duration::minutes(1)),
               "end": rfc(now + Duration::hours(1)), "reason": "upgrade"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        proxy(&one, id).await["maintenance"]["reason"],
        "upgrade",
        "at once on its own"
    );
    let seen = proxyhealth_testkit::eventually(
        std::time::Duration::from_secs(5),
        "the other replica showing the window",
        async || {
            let shown = proxy(&other, id).await;
            if shown["maintenance"]["reason"] == "upgrade" {
                Ok(shown)
            } else {
                Err(shown)
            }
        },
    )
    .await;
    assert_eq!(seen["maintenance"]["id"], created.body["id"]);
}

#[tokio::test]
async fn a_viewer_lists_the_windows_and_only_an_operator_makes_or_ends_one() {
    let store = Arc::new(MemoryStore::new());
    let app = spawn_with(store.clone(), config()).await;
    let tokens = store.personal_tokens().expect("personal tokens");
    let mint = async |name: &str, role| {
        tokens
            .create(proxyhealth_store::NewPersonalToken {
                name: name.to_owned(),
                role,
                expires_at: None,
            })
            .await
            .expect("create a token")
            .value
    };
    let viewer = mint("viewer", proxyhealth_core::access::Role::Viewer).await;
    let operator = mint("operator", proxyhealth_core::access::Role::Operator).await;
    let body = json!({"all": true, "start": "2026-12-01T02:00:00Z",
                      "end": "2026-12-01T04:00:00Z", "reason": "upgrade"});
    let send = async |method: Method, path: &str, bearer: &str, body: Option<&Value>| {
        let mut request = app
            .client
            .request(method, app.url(path))
            .bearer_auth(bearer);
        if let Some(body) = body {
            request = request.json(body);
        }
        crate::helpers::answer(request.send().await.expect("send")).await
    };
    let listed = send(Method::GET, ROUTE, &viewer, None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let refused = send(Method::POST, ROUTE, &viewer, Some(&body)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let made = send(Method::POST, ROUTE, &operator, Some(&body)).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let id = made.body["id"].as_str().expect("id").to_owned();
    let refused = send(Method::POST, &format!("{ROUTE}/{id}/end"), &viewer, None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
}

//! Persisted history through the API: a proxy's window, the incidents, the
//! uptime in the list, and the errors of their parameters; a deleted proxy's
//! incident ends at its deletion on every store.

use crate::helpers::{
    TestApp, config, eventually, registration, spawn_app, spawn_running, spawn_with,
};
use proxyhealth_core::{HealthReport, HistoryBatch, Status, Transition};
use proxyhealth_store::{OpenOptions, ProxyStore, SqliteStore, open_store};
use proxyhealth_testkit::TestDatabase;
use proxyhealth_testkit::fake_proxy::{FakeProxy, json};
use reqwest::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// A fake proxy that answers a healthy report, or a report with an error
/// while `failing` is set.
async fn switchable_proxy(failing: Arc<AtomicBool>) -> FakeProxy {
    FakeProxy::start(move |_| {
        let failing = failing.clone();
        async move {
            if failing.load(Ordering::SeqCst) {
                json(200, r#"{"errors":["disk full"],"warnings":[]}"#)
            } else {
                json(200, r#"{"errors":[],"warnings":[]}"#)
            }
        }
    })
    .await
}

#[tokio::test]
async fn the_own_vantages_history_shows_its_checks_and_its_change_after_a_proxy_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("proxyhealth.db"))
        .await
        .expect("open");
    let app = spawn_with(Arc::new(store), config()).await;
    let failing = Arc::new(AtomicBool::new(false));
    let fake = switchable_proxy(failing.clone()).await;
    let (id, token) = app.create_proxy("eu-west").await;
    app.wait_for_status(id, "unregistered").await;
    app.register(&token, &registration(&fake.url)).await;
    app.wait_for_status(id, "ok").await;
    failing.store(true, Ordering::SeqCst);
    app.engine.force_update().await.expect("sweep");

    // the service's own vantage is `local` unless `serve --vantage` names one
    let answer = app
        .admin_get("/api/v2/workspaceproxies/eu-west/vantages/LOCAL/history?window=24h")
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let body = &answer.body;
    assert_eq!(body["proxy_id"], id.to_string());
    assert_eq!(body["vantage"], "local");
    // the creation's check, the registration's and the sweep's
    assert_eq!(body["checks"], 3, "{body}");
    assert_eq!(body["ok_checks"], 1, "{body}");
    let moves: Vec<(String, String)> = body["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .map(|t| (t["from"].to_string(), t["to"].to_string()))
        .collect();
    assert_eq!(
        moves,
        [
            ("null".into(), "\"unregistered\"".into()),
            ("\"unregistered\"".into(), "\"ok\"".into()),
            ("\"ok\"".into(), "\"unhealthy\"".into()),
        ]
    );
    assert_eq!(body["transitions"][2]["report"]["errors"][0], "disk full");
    let buckets = body["buckets"].as_array().expect("buckets");
    let unhealthy: u64 = buckets.iter().filter_map(|b| b["unhealthy"].as_u64()).sum();
    assert_eq!(unhealthy, 1, "{body}");
    assert!(
        buckets.iter().any(|b| b["latency_max_ms"].is_number()),
        "the own checks' latency is in its hours: {buckets:?}"
    );
}

#[tokio::test]
async fn a_proxys_history_shows_its_transitions_uptime_and_incidents() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("proxyhealth.db"))
        .await
        .expect("open");
    let app = spawn_with(Arc::new(store), config()).await;
    let failing = Arc::new(AtomicBool::new(false));
    let fake = switchable_proxy(failing.clone()).await;
    let (id, token) = app.create_proxy("eu-west").await;
    app.wait_for_status(id, "unregistered").await;
    assert_eq!(
        app.register(&token, &registration(&fake.url)).await.status,
        StatusCode::CREATED
    );
    app.wait_for_status(id, "ok").await;
    failing.store(true, Ordering::SeqCst);
    app.engine.force_update().await.expect("sweep");
    failing.store(false, Ordering::SeqCst);
    app.engine.force_update().await.expect("sweep");

    let answer = app
        .admin_get("/api/v2/workspaceproxies/eu-west/history?window=7d")
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let body = &answer.body;
    assert_eq!(body["proxy_id"], id.to_string());
    assert_eq!(body["window"], "7d");
    let moves: Vec<(String, String)> = body["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .map(|t| (t["from"].to_string(), t["to"].to_string()))
        .collect();
    assert_eq!(
        moves,
        [
            ("null".into(), "\"unregistered\"".into()),
            ("\"unregistered\"".into(), "\"ok\"".into()),
            ("\"ok\"".into(), "\"unhealthy\"".into()),
            ("\"unhealthy\"".into(), "\"ok\"".into()),
        ]
    );
    assert_eq!(body["transitions"][2]["report"]["errors"][0], "disk full");
    assert!(body["transitions"][3]["previous_duration_ms"].is_u64());
    // every check counted once: the creation's, the registration's, two sweeps
    let checks = body["checks"].as_u64().expect("checks");
    assert_eq!(checks, 4, "{body}");
    assert_eq!(body["ok_checks"], 2);
    assert_eq!(body["uptime"], 0.5);
    let buckets = body["buckets"].as_array().expect("buckets");
    let in_buckets: u64 = buckets.iter().filter_map(|b| b["checks"].as_u64()).sum();
    assert_eq!(
        in_buckets, 4,
        "a sweep may straddle an hour, never lose a check"
    );
    assert!(
        buckets
            .iter()
            .any(|b| b["latency_max_ms"].as_f64().is_some_and(|max| max > 0.0))
    );
    let incidents = body["incidents"].as_array().expect("incidents");
    assert_eq!(incidents.len(), 2, "{body}");
    assert_eq!(incidents[0]["worst_status"], "unhealthy");
    assert_eq!(incidents[0]["first_error"], "disk full");
    assert_eq!(incidents[0]["open"], false);
    assert_eq!(incidents[1]["worst_status"], "unregistered");

    let list = app.admin_get("/api/v2/workspaceproxies").await;
    let uptime = &list.body["regions"][0]["uptime"];
    assert_eq!(uptime["last_24h"], 0.5, "{}", list.body);
    assert_eq!(uptime["last_30d"], 0.5);
}

#[tokio::test]
async fn a_bad_window_is_refused_naming_the_value() {
    let (app, _store) = spawn_app().await;
    app.create_proxy("eu-west").await;
    let answer = app
        .admin_get("/api/v2/workspaceproxies/eu-west/history?window=5d")
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.message(), "Invalid query parameter.");
    assert_eq!(
        answer.detail(),
        "invalid window \"5d\": expected one of 24h, 7d, 30d, 90d"
    );
    assert_eq!(answer.first_field(), "window");
}

#[tokio::test]
async fn the_history_of_an_unknown_proxy_is_not_found() {
    let (app, _store) = spawn_app().await;
    let answer = app
        .admin_get("/api/v2/workspaceproxies/nowhere/history")
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.message(), "Workspace proxy not found.");
}

#[tokio::test]
async fn history_needs_the_admin_token() {
    let (app, _store) = spawn_app().await;
    app.create_proxy("eu-west").await;
    let answer = app.get("/api/v2/workspaceproxies/eu-west/history").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let answer = app.get("/api/v2/proxyhealth/incidents").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

fn transition(id: Uuid, name: &str, at: OffsetDateTime, to: Status, error: &str) -> Transition {
    Transition {
        proxy_id: id,
        proxy_name: name.to_owned(),
        proxy_url: String::new(),
        at,
        from: None,
        to,
        report: if error.is_empty() {
            HealthReport::default()
        } else {
            HealthReport::error(error)
        },
        replica: None,
        previous_lasted: None,
    }
}

#[tokio::test]
async fn incidents_are_listed_newest_first_and_paged() {
    let (app, store) = spawn_app().await;
    let history = store.history().expect("history");
    let now = OffsetDateTime::now_utc();
    let minutes = |m: u64| now - Duration::from_secs(m * 60);
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    history
        .record_batch(HistoryBatch {
            checks: vec![],
            transitions: vec![
                transition(a, "a", minutes(60), Status::Ok, ""),
                transition(a, "a", minutes(50), Status::Unreachable, "refused"),
                transition(a, "a", minutes(40), Status::Ok, ""),
                transition(b, "b", minutes(30), Status::Unhealthy, "disk full"),
            ],
        })
        .await
        .expect("record");

    let first = app
        .admin_get("/api/v2/proxyhealth/incidents?since=2h&limit=1")
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["total"], 2);
    assert_eq!(first.body["next_offset"], 1);
    let newest = &first.body["incidents"][0];
    assert_eq!(newest["proxy_name"], "b");
    assert_eq!(newest["open"], true);
    assert_eq!(newest["ended_at"], serde_json::Value::Null);
    assert_eq!(newest["first_error"], "disk full");

    let second = app
        .admin_get("/api/v2/proxyhealth/incidents?since=2h&limit=1&offset=1")
        .await;
    let older = &second.body["incidents"][0];
    assert_eq!(older["proxy_name"], "a");
    assert_eq!(older["open"], false);
    assert_eq!(older["worst_status"], "unreachable");
    assert_eq!(older["duration_ms"], 600_000);
    assert_eq!(second.body["next_offset"], serde_json::Value::Null);

    // an incident that ended before `since` is not listed
    let recent = app
        .admin_get("/api/v2/proxyhealth/incidents?since=35m")
        .await;
    assert_eq!(recent.body["total"], 1, "{}", recent.body);
}

#[tokio::test]
async fn bad_incident_parameters_are_refused_naming_the_value() {
    let (app, _store) = spawn_app().await;
    let cases = [
        (
            "since=yesterday",
            "since",
            "invalid since \"yesterday\": expected an RFC 3339 time (2026-12-01T00:00:00Z) \
             or a duration back from now (90m, 24h, 7d)",
        ),
        (
            "limit=0",
            "limit",
            "invalid limit \"0\": expected a whole number from 1 to 500",
        ),
        (
            "offset=-1",
            "offset",
            "invalid offset \"-1\": expected a whole number from 0",
        ),
    ];
    for (query, field, detail) in cases {
        let answer = app
            .admin_get(&format!("/api/v2/proxyhealth/incidents?{query}"))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(answer.message(), "Invalid query parameter.");
        assert_eq!(answer.detail(), detail);
        assert_eq!(answer.first_field(), field);
    }
}

#[tokio::test]
async fn history_older_than_the_retention_is_pruned_in_the_background() {
    let store = Arc::new(proxyhealth_store::MemoryStore::new());
    let history = store.history().expect("history");
    let id = Uuid::new_v4();
    let now = OffsetDateTime::now_utc();
    let old = now - Duration::from_secs(40 * 24 * 3600);
    history
        .record_batch(HistoryBatch {
            checks: vec![
                proxyhealth_core::CheckRecord {
                    proxy_id: id,
                    at: old,
                    result: Status::Ok,
                    latency: None,
                },
                proxyhealth_core::CheckRecord {
                    proxy_id: id,
                    at: now,
                    result: Status::Ok,
                    latency: None,
                },
            ],
            transitions: vec![],
        })
        .await
        .expect("record");
    let mut settings = crate::helpers::app_settings(store.clone(), config());
    settings.sweep_loop = true;
    settings.history_retention = Duration::from_secs(30 * 24 * 3600);
    let _app = crate::helpers::start(settings).await;
    let buckets = eventually(Duration::from_secs(10), "the old hour pruned", async || {
        let buckets = history
            .buckets(id, OffsetDateTime::UNIX_EPOCH)
            .await
            .expect("read");
        (buckets.len() == 1).then_some(buckets)
    })
    .await;
    assert!(buckets[0].hour > old, "the recent hour is kept");
}

/// The incidents `app` lists over the last day.
async fn listed_incidents(app: &TestApp) -> Vec<serde_json::Value> {
    let answer = app
        .admin_get("/api/v2/proxyhealth/incidents?since=24h")
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["incidents"]
        .as_array()
        .expect("incidents")
        .clone()
}

/// The incident of proxy `id` that `app` lists, once there is one.
async fn incident_of(app: &TestApp, id: Uuid) -> serde_json::Value {
    eventually(Duration::from_secs(10), "the proxy's incident", || async {
        listed_incidents(app)
            .await
            .into_iter()
            .find(|incident| incident["proxy_id"] == id.to_string())
    })
    .await
}

/// A proxy created through `creator` (unregistered: an open incident) and
/// deleted through it: `reader` lists the incident as ended by the deletion,
/// not open for ever; a proxy created again under the same name has an
/// incident of its own, told apart by its id.
async fn a_deleted_proxys_incident_ends_at_its_deletion(creator: &TestApp, reader: &TestApp) {
    let (old, _) = creator.create_proxy("eu-west").await;
    let open = incident_of(reader, old).await;
    assert_eq!(open["open"], true, "{open}");
    assert_eq!(open["ended_by"], serde_json::Value::Null);

    let deleted = creator
        .admin_delete("/api/v2/workspaceproxies/eu-west")
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    let ended = incident_of(reader, old).await;
    assert_eq!(ended["open"], false, "{ended}");
    assert_eq!(ended["ended_by"], "proxy_deleted");
    assert_eq!(ended["worst_status"], "unregistered");
    let ended_at = ended["ended_at"].as_str().expect("an end").to_owned();
    let lasted = ended["duration_ms"].as_u64().expect("a duration");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let later = incident_of(reader, old).await;
    assert_eq!(later["ended_at"], ended_at.as_str(), "the end stays put");
    assert_eq!(later["duration_ms"], lasted, "the duration stops growing");

    let (new, _) = reader.create_proxy("eu-west").await;
    assert_ne!(new, old);
    let fresh = incident_of(creator, new).await;
    assert_eq!(fresh["proxy_name"], "eu-west");
    assert_eq!(fresh["open"], true, "{fresh}");
    let listed = listed_incidents(creator).await;
    assert_eq!(listed.len(), 2, "one incident each: {listed:?}");
    let old_one = listed
        .iter()
        .find(|incident| incident["proxy_id"] == old.to_string())
        .expect("the deleted proxy's incident");
    assert_eq!(old_one["ended_by"], "proxy_deleted", "{old_one}");
    let history = creator
        .admin_get("/api/v2/workspaceproxies/eu-west/history")
        .await;
    assert_eq!(history.body["proxy_id"], new.to_string());
    let own = history.body["incidents"].as_array().expect("incidents");
    assert_eq!(own.len(), 1, "only the new proxy's: {own:?}");
    assert_eq!(own[0]["proxy_id"], new.to_string());
}

#[tokio::test]
async fn a_deleted_proxys_incident_ends_at_its_deletion_in_memory() {
    let (app, _store) = spawn_app().await;
    a_deleted_proxys_incident_ends_at_its_deletion(&app, &app).await;
}

#[tokio::test]
async fn a_deleted_proxys_incident_ends_at_its_deletion_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("proxyhealth.db"))
        .await
        .expect("open");
    let app = spawn_with(Arc::new(store), config()).await;
    a_deleted_proxys_incident_ends_at_its_deletion(&app, &app).await;
}

#[tokio::test]
async fn a_deleted_proxys_incident_ends_at_its_deletion_on_postgres_with_two_replicas() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let open = || async {
        open_store(&db.url, OpenOptions::default())
            .await
            .expect("open postgres")
    };
    let a = spawn_running(open().await, Duration::from_millis(200)).await;
    let b = spawn_running(open().await, Duration::from_millis(200)).await;
    a_deleted_proxys_incident_ends_at_its_deletion(&a, &b).await;
    drop((a, b));
    db.drop_db().await;
}

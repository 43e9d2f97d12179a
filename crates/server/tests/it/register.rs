//! Proxy self-registration and deregistration.

use crate::helpers::{answer, config, eventually, registration, spawn_app, spawn_with};
use proxyhealth_sim::Kind;
use proxyhealth_store::{OpenOptions, open_store};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

#[tokio::test]
async fn a_registered_proxy_becomes_ok_without_a_full_sweep() {
    let (app, _) = spawn_app().await;
    let sim = proxyhealth_sim::spawn(Kind::Ok).await.expect("sim");
    let (id, token) = app.create_proxy("eu").await;
    let answer = app.register(&token, &registration(sim.url())).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let region_id = answer.body["derp_region_id"].as_i64().expect("region id");
    assert!(region_id > 10_000, "{region_id}");
    assert_eq!(
        answer.body,
        json!({"derp_mesh_key": "", "derp_region_id": region_id, "derp_map": null,
               "derp_force_websockets": false, "sibling_replicas": []})
    );
    let proxy = app.wait_for_status(id, "ok").await;
    assert_eq!(proxy.body["healthy"], true);
    assert_eq!(proxy.body["path_app_url"], sim.url());
    assert_eq!(proxy.body["version"], "v2.20.0");
    assert!(proxy.body["status"]["latency_ms"].is_number());
    assert_eq!(sim.requests(), 1);
    let summary = app.get("/api/v2/proxyhealth/summary").await;
    assert_eq!(summary.body["last_sweep"], json!(null), "a full sweep ran");
    assert_eq!(summary.body["counts"]["ok"], 1);
}

#[tokio::test]
async fn registering_again_unchanged_while_ok_checks_nothing_again() {
    let (app, _) = spawn_app().await;
    let sim = proxyhealth_sim::spawn(Kind::Ok).await.expect("sim");
    let (id, token) = app.create_proxy("eu").await;
    let body = registration(sim.url());
    app.register(&token, &body).await;
    app.wait_for_status(id, "ok").await;
    let engine = app.engine.clone();
    eventually(
        Duration::from_secs(10),
        "the first re-check finishing",
        async || !engine.recheck_pending(&id),
    )
    .await;
    let generation = app.engine.snapshot().generation();
    // A workspace proxy registers again every few seconds with the same body.
    for _ in 0..20 {
        let answer = app.register(&token, &body).await;
        assert_eq!(answer.status, StatusCode::CREATED);
        assert!(
            !app.engine.recheck_pending(&id),
            "an unchanged registration of an ok proxy asked for a re-check"
        );
    }
    assert_eq!(sim.requests(), 1, "the proxy was checked again");
    assert_eq!(
        app.engine.snapshot().generation(),
        generation,
        "a snapshot was published"
    );
}

#[tokio::test]
async fn registering_without_a_token_is_a_401() {
    let (app, _) = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/v2/workspaceproxies/me/register"))
        .json(&registration("http://127.0.0.1:1"))
        .send()
        .await
        .expect("send");
    let answer = answer(response).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.message(), "Missing required external proxy token");
}

#[tokio::test]
async fn a_malformed_or_unknown_proxy_token_is_a_401_with_coders_detail() {
    let (app, _) = spawn_app().await;
    let malformed = app
        .register("nonsense", &registration("http://127.0.0.1:1"))
        .await;
    assert_eq!(malformed.status, StatusCode::UNAUTHORIZED);
    assert_eq!(malformed.message(), "Invalid external proxy token");
    let unknown = format!("{}:{}", Uuid::new_v4(), "a".repeat(64));
    let unknown = app
        .register(&unknown, &registration("http://127.0.0.1:1"))
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.message(), "Invalid external proxy token");
    assert_eq!(unknown.detail(), "Proxy not found.");
}

#[tokio::test]
async fn a_wrong_secret_is_a_401_with_coders_detail() {
    let (app, _) = spawn_app().await;
    let (id, _) = app.create_proxy("eu").await;
    let forged = format!("{id}:{}", "b".repeat(64));
    let answer = app
        .register(&forged, &registration("http://127.0.0.1:1"))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.detail(), "Invalid proxy token secret.");
}

#[tokio::test]
async fn the_token_decides_which_proxy_registers() {
    let (app, _) = spawn_app().await;
    let (a, token_a) = app.create_proxy("a").await;
    let (b, _) = app.create_proxy("b").await;
    // A body that tries to name B is refused outright, naming the field.
    let mut forged = registration("http://127.0.0.1:8");
    forged["id"] = json!(b);
    let refused = app.register(&token_a, &forged).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.first_field(), "id");
    // With token A, a registration changes A and only A.
    let answer = app
        .register(&token_a, &registration("http://127.0.0.1:9"))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let a = app
        .admin_get(&format!("/api/v2/workspaceproxies/{a}"))
        .await;
    let b = app
        .admin_get(&format!("/api/v2/workspaceproxies/{b}"))
        .await;
    assert_eq!(a.body["path_app_url"], "http://127.0.0.1:9");
    assert_eq!(b.body["path_app_url"], "");
}

#[tokio::test]
async fn an_invalid_url_is_refused_with_coders_message() {
    let (app, _) = spawn_app().await;
    let (_, token) = app.create_proxy("eu").await;
    let answer = app.register(&token, &registration("ssh://127.0.0.1")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.message(), "URL is invalid.");
    assert!(
        answer.detail().contains("scheme must be http or https"),
        "{}",
        answer.detail()
    );
    assert_eq!(answer.first_field(), "access_url");
    let answer = app
        .register(&token, &registration("http://127.0.0.1/sub"))
        .await;
    assert_eq!(answer.message(), "URL is invalid.");
    assert!(
        answer.detail().contains("path must be empty or /"),
        "{}",
        answer.detail()
    );
}

#[tokio::test]
async fn an_invalid_wildcard_is_refused_with_coders_message() {
    let (app, _) = spawn_app().await;
    let (_, token) = app.create_proxy("eu").await;
    let mut body = registration("http://127.0.0.1:9");
    body["wildcard_hostname"] = json!("apps.*.example.com");
    let answer = app.register(&token, &body).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.message(), "Wildcard URL is invalid.");
    assert_eq!(answer.first_field(), "wildcard_hostname");
}

#[tokio::test]
async fn a_nil_replica_id_is_refused_with_coders_message() {
    let (app, _) = spawn_app().await;
    let (_, token) = app.create_proxy("eu").await;
    let mut body = registration("http://127.0.0.1:9");
    body["replica_id"] = json!(Uuid::nil());
    let answer = app.register(&token, &body).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.message(), "Replica ID is invalid.");
    assert_eq!(answer.first_field(), "replica_id");
}

#[tokio::test]
async fn derp_only_without_derp_is_refused_with_coders_message() {
    let (app, _) = spawn_app().await;
    let (_, token) = app.create_proxy("eu").await;
    let mut body = registration("http://127.0.0.1:9");
    body["derp_enabled"] = json!(false);
    body["derp_only"] = json!(true);
    let answer = app.register(&token, &body).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.message(),
        "DerpOnly cannot be true when DerpEnabled is false."
    );
    assert_eq!(answer.first_field(), "derp_only");
}

#[tokio::test]
async fn deregistering_is_a_204() {
    let (app, _) = spawn_app().await;
    let (_, token) = app.create_proxy("eu").await;
    let response = app
        .client
        .post(app.url("/api/v2/workspaceproxies/me/deregister"))
        .header("Coder-External-Proxy-Token", &token)
        .json(&json!({"replica_id": Uuid::new_v4()}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_proxy_that_went_away_becomes_unreachable_after_it_registers_again() {
    let (app, _) = spawn_app().await;
    let sim = proxyhealth_sim::spawn(Kind::Ok).await.expect("sim");
    let (id, token) = app.create_proxy("eu").await;
    let body = registration(sim.url());
    app.register(&token, &body).await;
    app.wait_for_status(id, "ok").await;
    sim.set_kind(Kind::Refused).await.expect("refuse");
    // Same registration, but the proxy is ok: no re-check needed, none made.
    assert_eq!(
        app.register(&token, &body).await.status,
        StatusCode::CREATED
    );
    let still = app
        .admin_get(&format!("/api/v2/workspaceproxies/{id}"))
        .await;
    assert_eq!(still.body["status"]["status"], "ok");
    // A changed registration is re-checked at once.
    let mut moved = body.clone();
    moved["version"] = json!("v2.21.0");
    assert_eq!(
        app.register(&token, &moved).await.status,
        StatusCode::CREATED
    );
    let proxy = app.wait_for_status(id, "unreachable").await;
    assert_eq!(proxy.body["healthy"], false);
}

/// A service over a fresh SQLite file; the file's path beside it.
async fn spawn_over_sqlite(dir: &tempfile::TempDir) -> (crate::helpers::TestApp, PathBuf) {
    let file = dir.path().join("proxyhealth.db");
    let store = open_store(
        &format!("sqlite://{}", file.display()),
        OpenOptions::default(),
    )
    .await
    .expect("open sqlite");
    (spawn_with(store, config()).await, file)
}

/// A connection of the test's own to the service's SQLite file.
async fn own_connection(file: &Path) -> SqliteConnection {
    let options = SqliteConnectOptions::new().filename(file);
    SqliteConnection::connect_with(&options)
        .await
        .expect("connect to the service's file")
}

/// SQLite's `data_version`: it moves when another connection commits to the file.
async fn data_version(conn: &mut SqliteConnection) -> i64 {
    sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(conn)
        .await
        .expect("data_version")
}

#[tokio::test]
async fn registering_again_unchanged_writes_nothing_to_the_sqlite_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (app, file) = spawn_over_sqlite(&dir).await;
    let sim = proxyhealth_sim::spawn(Kind::Ok).await.expect("sim");
    let (id, token) = app.create_proxy("eu").await;
    let body = registration(sim.url());
    app.register(&token, &body).await;
    app.wait_for_status(id, "ok").await;
    let engine = app.engine.clone();
    eventually(
        Duration::from_secs(10),
        "the first re-check's history written",
        async || !engine.recheck_pending(&id),
    )
    .await;
    let path = format!("/api/v2/workspaceproxies/{id}");
    let updated_at = app.admin_get(&path).await.body["updated_at"].clone();
    let mut conn = own_connection(&file).await;
    let version = data_version(&mut conn).await;
    for _ in 0..20 {
        let answer = app.register(&token, &body).await;
        assert_eq!(answer.status, StatusCode::CREATED);
    }
    assert_eq!(
        data_version(&mut conn).await,
        version,
        "an unchanged registration committed to the file"
    );
    assert_eq!(app.admin_get(&path).await.body["updated_at"], updated_at);
}

#[tokio::test]
async fn a_changed_registration_is_written_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (app, file) = spawn_over_sqlite(&dir).await;
    let sim = proxyhealth_sim::spawn(Kind::Ok).await.expect("sim");
    let (id, token) = app.create_proxy("eu").await;
    let mut body = registration(sim.url());
    app.register(&token, &body).await;
    app.wait_for_status(id, "ok").await;
    body["version"] = json!("v2.21.0");
    assert_eq!(
        app.register(&token, &body).await.status,
        StatusCode::CREATED
    );
    let mut conn = own_connection(&file).await;
    let stored: String = sqlx::query_scalar("SELECT version FROM workspace_proxies WHERE id = ?1")
        .bind(id.hyphenated().to_string())
        .fetch_one(&mut conn)
        .await
        .expect("row");
    assert_eq!(stored, "v2.21.0");
    let proxy = app
        .admin_get(&format!("/api/v2/workspaceproxies/{id}"))
        .await;
    assert_eq!(proxy.body["version"], "v2.21.0");
}

#[tokio::test]
async fn an_unchanged_registration_moves_updated_at_once_it_is_five_minutes_old() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (app, file) = spawn_over_sqlite(&dir).await;
    let sim = proxyhealth_sim::spawn(Kind::Ok).await.expect("sim");
    let (id, token) = app.create_proxy("eu").await;
    let body = registration(sim.url());
    app.register(&token, &body).await;
    app.wait_for_status(id, "ok").await;
    // The last write of the row, six minutes ago (timestamps are unix nanoseconds).
    let long_ago = OffsetDateTime::now_utc() - time::Duration::minutes(6);
    let mut conn = own_connection(&file).await;
    sqlx::query("UPDATE workspace_proxies SET updated_at = ?1 WHERE id = ?2")
        .bind(i64::try_from(long_ago.unix_timestamp_nanos()).expect("fits"))
        .bind(id.hyphenated().to_string())
        .execute(&mut conn)
        .await
        .expect("age the row");
    let path = format!("/api/v2/workspaceproxies/{id}");
    let aged = app.admin_get(&path).await.body["updated_at"].clone();
    assert_eq!(
        app.register(&token, &body).await.status,
        StatusCode::CREATED
    );
    let refreshed = app.admin_get(&path).await.body["updated_at"].clone();
    assert_ne!(refreshed, aged, "updated_at stayed six minutes old");
    let refreshed_at = OffsetDateTime::parse(
        refreshed.as_str().expect("a timestamp"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    assert!(OffsetDateTime::now_utc() - refreshed_at < time::Duration::minutes(1));
    // Written once: the next unchanged registration leaves it as it is.
    assert_eq!(
        app.register(&token, &body).await.status,
        StatusCode::CREATED
    );
    assert_eq!(app.admin_get(&path).await.body["updated_at"], refreshed);
}

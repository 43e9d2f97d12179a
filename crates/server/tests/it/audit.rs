//! The audit log: what people did through the API, and never a secret.

use crate::helpers::{ADMIN, answer, config, registration, spawn_with};
use proxyhealth_core::access::Role;
use proxyhealth_store::{NewPersonalToken, ProxyStore, SqliteStore};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::Row;
use std::sync::Arc;

#[tokio::test]
async fn the_audit_log_holds_exactly_what_people_did_and_were_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("proxyhealth.db");
    let store = Arc::new(SqliteStore::open(&file).await.expect("open"));
    let app = spawn_with(store.clone(), config()).await;
    let tokens = store.personal_tokens().expect("personal tokens");
    let new = |name: &str, role| NewPersonalToken {
        name: name.to_owned(),
        role,
        expires_at: None,
    };
    let operator = tokens
        .create(new("ops", Role::Operator))
        .await
        .expect("create")
        .value;
    let leaving = tokens
        .create(new("leaving", Role::Viewer))
        .await
        .expect("create")
        .value;

    // what a person does: recorded
    let (id, proxy_token) = app.create_proxy("eu-west").await;
    let revoked = app.admin_delete("/api/v2/proxyhealth/tokens/leaving").await;
    assert_eq!(revoked.status, StatusCode::OK);
    let refused = answer(
        app.client
            .delete(app.url("/api/v2/workspaceproxies/eu-west"))
            .bearer_auth(&operator)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // not recorded: reads, machines, and requests of nobody
    app.admin_get("/api/v2/workspaceproxies").await;
    let registered = app
        .register(&proxy_token, &registration("https://eu.example.com"))
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{:?}",
        registered.body
    );
    let nobody = answer(
        app.client
            .post(app.url("/api/v2/workspaceproxies"))
            .json(&json!({"name": "x"}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(nobody.status, StatusCode::UNAUTHORIZED);
    let stale = answer(
        app.client
            .delete(app.url("/api/v2/workspaceproxies/eu-west"))
            .bearer_auth(&leaving)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(stale.message(), "The token was revoked.");

    let log = app.admin_get("/api/v2/proxyhealth/audit").await;
    assert_eq!(log.status, StatusCode::OK, "{:?}", log.body);
    let entries = log.body["entries"].as_array().expect("entries");
    let seen: Vec<(&str, &str, &str, u64)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or(""),
                e["actor"].as_str().unwrap_or(""),
                e["object"].as_str().unwrap_or(""),
                e["status"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("proxy.delete", "token ops", "eu-west", 403),
            ("token.revoke", "admin token", "leaving", 200),
            ("proxy.create", "admin token", "eu-west", 201),
        ],
        "newest first"
    );
    assert_eq!(entries[0]["credential"], "personal_token");
    assert_eq!(entries[0]["role"], "operator");
    assert_eq!(entries[0]["route"], "/api/v2/workspaceproxies/{proxy}");
    assert_eq!(entries[0]["client"], "127.0.0.1");
    let filtered = app
        .admin_get("/api/v2/proxyhealth/audit?actor=admin%20token&action=token.revoke")
        .await;
    assert_eq!(filtered.body["entries"].as_array().map(Vec::len), Some(1));

    // no secret in any stored row
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display()))
        .await
        .expect("read the file");
    let rows = sqlx::query("SELECT * FROM proxyhealth_audit")
        .fetch_all(&pool)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 3);
    let mut stored = String::new();
    for row in &rows {
        for column in 0..row.len() {
            if let Ok(Some(text)) = row.try_get::<Option<String>, _>(column) {
                stored.push_str(&text);
                stored.push('\n');
            }
        }
    }
    let secret_of = |token: &str| token.rsplit(['_', ':']).next().unwrap_or(token).to_owned();
    for secret in [
        ADMIN.to_owned(),
        secret_of(&operator),
        secret_of(&leaving),
        secret_of(&proxy_token),
    ] {
        assert!(
            !stored.contains(&secret),
            "a secret in the audit log: {stored}"
        );
    }
    assert!(stored.contains(&id.to_string()) || stored.contains("eu-west"));
}

#[tokio::test]
async fn the_audit_log_is_for_admins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("p.db"))
            .await
            .expect("open"),
    );
    let app = spawn_with(store.clone(), config()).await;
    let operator = store
        .personal_tokens()
        .expect("personal tokens")
        .create(NewPersonalToken {
            name: "ops".to_owned(),
            role: Role::Operator,
            expires_at: None,
        })
        .await
        .expect("create")
        .value;
    let got = answer(
        app.client
            .request(Method::GET, app.url("/api/v2/proxyhealth/audit"))
            .bearer_auth(&operator)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(got.status, StatusCode::FORBIDDEN);
    assert_eq!(got.message(), "This route needs the admin role.");
    let bad = app.admin_get("/api/v2/proxyhealth/audit?limit=0").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.first_field(), "limit");
}

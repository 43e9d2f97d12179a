//! Roles and personal tokens: every route of the OpenAPI description tried
//! with every role and with none, and the refusals of revoked, expired and
//! misplaced tokens.

use crate::helpers::{ADMIN, TestApp, answer, config, spawn_with};
use proxyhealth_core::access::Role;
use proxyhealth_server::ServiceConfig;
use proxyhealth_store::{MemoryStore, NewPersonalToken, ProxyStore};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// A service with reads closed (so every person's route needs a token).
async fn closed_app() -> (TestApp, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let app = spawn_with(
        store.clone(),
        ServiceConfig {
            public_reads: false,
            ..config()
        },
    )
    .await;
    (app, store)
}

/// Creates a personal token through the store and returns its value.
async fn token(
    store: &MemoryStore,
    name: &str,
    role: Role,
    expires_at: Option<OffsetDateTime>,
) -> String {
    store
        .personal_tokens()
        .expect("personal tokens")
        .create(NewPersonalToken {
            name: name.to_owned(),
            role,
            expires_at,
        })
        .await
        .expect("create a token")
        .value
}

/// A request with `bearer` (none when `None`) and, for writes, `{}`.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    bearer: Option<&str>,
) -> crate::helpers::Answer {
    let mut request = app.client.request(method.clone(), app.url(path));
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    if method != Method::GET && method != Method::DELETE {
        request = request.json(&json!({}));
    }
    let response = request.send().await.expect("send");
    if response.status().is_success() && path.ends_with("/events") {
        // an event stream never ends: its status is all this needs
        return crate::helpers::Answer {
            status: response.status(),
            body: Value::Null,
            headers: response.headers().clone(),
        };
    }
    answer(response).await
}

#[tokio::test]
async fn every_route_answers_each_role_as_its_description_says() {
    let (app, store) = closed_app().await;
    app.create_proxy("p1").await;
    app.admin_send(
        Method::POST,
        "/api/v2/proxyhealth/vantages",
        &json!({"name": "v1"}),
    )
    .await;
    let viewer = token(&store, "viewer", Role::Viewer, None).await;
    let operator = token(&store, "operator", Role::Operator, None).await;
    let admin = token(&store, "admin", Role::Admin, None).await;
    let callers: [(&str, Option<&str>, Option<Role>); 5] = [
        ("no token", None, None),
        ("viewer", Some(&viewer), Some(Role::Viewer)),
        ("operator", Some(&operator), Some(Role::Operator)),
        ("admin", Some(&admin), Some(Role::Admin)),
        ("admin token", Some(ADMIN), Some(Role::Admin)),
    ];
    let description = app.admin_get("/api/v2/openapi.json").await.body;
    let paths = description["paths"].as_object().expect("paths");
    let mut tried = 0;
    for (template, item) in paths {
        let path = template
            .replace("{proxy}", "p1")
            .replace("{vantage}", "v1")
            .replace("{token}", "someone-else");
        for (method, operation) in item.as_object().expect("a path item") {
            let method: Method = method.to_uppercase().parse().expect("a method");
            let needs = operation["x-proxyhealth-role"]
                .as_str()
                .expect("every operation names its role");
            for (who, bearer, role) in &callers {
                let got = call(&app, method.clone(), &path, *bearer).await;
                let case = format!("{method} {template} as {who} ({needs})");
                tried += 1;
                match (needs, role) {
                    // who is signed in: anyone may ask
                    ("open", _) => {
                        assert!(got.status.is_success(), "{case}: {}", got.status);
                    }
                    // machines' routes: a person's token is not theirs
                    ("proxy" | "agent", _) => {
                        assert_eq!(
                            got.status,
                            StatusCode::UNAUTHORIZED,
                            "{case}: {:?}",
                            got.body
                        );
                    }
                    (_, None) => {
                        assert_eq!(got.status, StatusCode::UNAUTHORIZED, "{case}");
                        assert_eq!(got.message(), "Missing admin token.", "{case}");
                    }
                    (needs, Some(role)) => {
                        let needs: Role = needs.parse().expect("a role");
                        if role.allows(needs) {
                            assert!(
                                got.status != StatusCode::UNAUTHORIZED
                                    && got.status != StatusCode::FORBIDDEN,
                                "{case}: {} {:?}",
                                got.status,
                                got.body
                            );
                            assert!(
                                got.status.is_success() || got.status.is_client_error(),
                                "{case}: {} {:?}",
                                got.status,
                                got.body
                            );
                        } else {
                            assert_eq!(got.status, StatusCode::FORBIDDEN, "{case}");
                            assert_eq!(
                                got.message(),
                                format!("This route needs the {needs} role."),
                                "{case}"
                            );
                            assert!(
                                got.detail().contains(&format!("acts as {role}")),
                                "{case}: {}",
                                got.detail()
                            );
                        }
                    }
                }
            }
        }
    }
    assert!(tried >= 5 * 25, "every route was tried ({tried} calls)");
}

#[tokio::test]
async fn a_revoked_token_is_refused_on_the_next_request() {
    let (app, _) = closed_app().await;
    let created = app
        .admin_send(
            Method::POST,
            "/api/v2/proxyhealth/tokens",
            &json!({"name": "ci", "role": "viewer"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let value = created.body["value"]
        .as_str()
        .expect("the value, once")
        .to_owned();
    assert_eq!(created.body["token"]["role"], "viewer");
    let before = call(&app, Method::GET, "/api/v2/workspaceproxies", Some(&value)).await;
    assert_eq!(before.status, StatusCode::OK);
    let revoked = app.admin_delete("/api/v2/proxyhealth/tokens/ci").await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert!(revoked.body["revoked_at"].is_string());
    let after = call(&app, Method::GET, "/api/v2/workspaceproxies", Some(&value)).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.message(), "The token was revoked.");
    let listed = app.admin_get("/api/v2/proxyhealth/tokens").await;
    assert_eq!(listed.body["tokens"][0]["name"], "ci");
    assert!(
        listed.body["tokens"][0].get("value").is_none(),
        "never the value"
    );
}

#[tokio::test]
async fn an_expired_token_is_refused_naming_when_it_expired() {
    let (app, store) = closed_app().await;
    let expired_at = time::macros::datetime!(2026-01-02 03:04:05 UTC);
    let value = token(&store, "old", Role::Admin, Some(expired_at)).await;
    let got = call(&app, Method::GET, "/api/v2/workspaceproxies", Some(&value)).await;
    assert_eq!(got.status, StatusCode::UNAUTHORIZED);
    assert_eq!(got.message(), "The token expired at 2026-01-02T03:04:05Z.");
    let later = OffsetDateTime::now_utc() + Duration::from_secs(3600);
    let fresh = token(&store, "fresh", Role::Viewer, Some(later)).await;
    let got = call(&app, Method::GET, "/api/v2/workspaceproxies", Some(&fresh)).await;
    assert_eq!(got.status, StatusCode::OK);
}

#[tokio::test]
async fn a_token_in_the_query_string_is_refused() {
    let (app, _) = closed_app().await;
    for param in ["token", "access_token"] {
        let got = app
            .get(&format!("/api/v2/workspaceproxies?{param}={ADMIN}"))
            .await;
        assert_eq!(got.status, StatusCode::UNAUTHORIZED, "{param}");
        assert_eq!(got.message(), "Tokens are not accepted in the URL.");
        assert!(
            got.detail().contains("Authorization: Bearer"),
            "{}",
            got.detail()
        );
    }
}

#[tokio::test]
async fn public_reads_open_the_read_routes_but_not_the_proxy_list() {
    let store = Arc::new(MemoryStore::new());
    let app = spawn_with(
        store,
        ServiceConfig {
            public_reads: true,
            ..config()
        },
    )
    .await;
    assert_eq!(
        app.get("/api/v2/proxyhealth/summary").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v2/workspaceproxies").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_token_is_created_with_an_expiry_and_a_bad_role_is_refused_naming_the_field() {
    let (app, _) = closed_app().await;
    let created = app
        .admin_send(
            Method::POST,
            "/api/v2/proxyhealth/tokens",
            &json!({"name": "ci", "role": "operator", "expires_in_seconds": 7_776_000}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert!(created.body["token"]["expires_at"].is_string());
    let bad = app
        .admin_send(
            Method::POST,
            "/api/v2/proxyhealth/tokens",
            &json!({"name": "ci2", "role": "root"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.first_field(), "role");
    let taken = app
        .admin_send(
            Method::POST,
            "/api/v2/proxyhealth/tokens",
            &json!({"name": "CI", "role": "viewer"}),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.message(), "a token named \"CI\" already exists");
}

#[tokio::test]
async fn a_tokens_use_is_written_once_not_on_every_request() {
    let (app, store) = closed_app().await;
    let value = token(&store, "busy", Role::Viewer, None).await;
    for _ in 0..5 {
        let got = call(&app, Method::GET, "/api/v2/workspaceproxies", Some(&value)).await;
        assert_eq!(got.status, StatusCode::OK);
    }
    let tokens = store.personal_tokens().expect("personal tokens");
    let mut first = None;
    for _ in 0..100 {
        first = tokens.list().await.expect("list")[0].last_used_at;
        if first.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = first.expect("the use was written");
    call(&app, Method::GET, "/api/v2/workspaceproxies", Some(&value)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let listed = tokens.list().await.expect("list");
    assert_eq!(
        listed[0].last_used_at,
        Some(first),
        "within a minute, not written again"
    );
}

//! Building and serving the service: the admin token, read-only stores, SQLite,
//! and shutdown.

use crate::helpers::{config, engine_for, read_only_store, registration, spawn_with};
use proxyhealth_server::{ADMIN_TOKEN_PREFIX, Service, ServiceConfig, ServiceError, Stopped};
use proxyhealth_sim::Kind;
use proxyhealth_store::{MemoryStore, OpenOptions, ProxyStore, open_store};
use reqwest::StatusCode;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn an_admin_token_is_generated_once_and_only_its_hash_is_kept() {
    let store: Arc<dyn ProxyStore> = Arc::new(MemoryStore::new());
    let (service, token) = Service::new(
        engine_for(store.clone()),
        store.clone(),
        ServiceConfig::default(),
    )
    .await
    .expect("service");
    let token = token.expect("a token is generated at the first start");
    assert!(token.starts_with(ADMIN_TOKEN_PREFIX));
    assert_eq!(token.len(), ADMIN_TOKEN_PREFIX.len() + 48);
    let stored = store
        .admin_token_hash()
        .await
        .expect("read")
        .expect("stored");
    assert_ne!(stored, token.as_bytes());
    assert_eq!(stored.len(), 32);

    // A second start (another replica, or a restart) reuses the stored hash.
    let app = spawn_with(store.clone(), ServiceConfig::default()).await;
    assert!(app.generated_admin_token.is_none());
    let response = app
        .client
        .get(app.url("/api/v2/workspaceproxies"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    drop(service);
}

#[tokio::test]
async fn a_read_only_store_needs_a_configured_admin_token() {
    let store: Arc<dyn ProxyStore> = Arc::new(read_only_store());
    let err = Service::new(
        engine_for(store.clone()),
        store.clone(),
        ServiceConfig::default(),
    )
    .await
    .expect_err("no token");
    assert!(matches!(err, ServiceError::AdminTokenRequired), "{err}");
    assert!(
        err.to_string().contains("admin token must be configured"),
        "{err}"
    );
    Service::new(engine_for(store.clone()), store, config())
        .await
        .expect("a configured token is enough");
}

#[tokio::test]
async fn an_empty_admin_token_is_refused() {
    let store: Arc<dyn ProxyStore> = Arc::new(MemoryStore::new());
    let config = ServiceConfig {
        admin_token: Some("  ".to_owned()),
        ..ServiceConfig::default()
    };
    let err = Service::new(engine_for(store.clone()), store, config)
        .await
        .expect_err("empty");
    assert!(matches!(err, ServiceError::EmptyAdminToken), "{err}");
}

#[tokio::test]
async fn the_config_debug_output_hides_the_admin_token() {
    let text = format!("{:?}", config());
    assert!(!text.contains(crate::helpers::ADMIN), "{text}");
    assert!(text.contains("redacted"), "{text}");
}

#[tokio::test]
async fn create_register_and_read_back_over_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = format!("sqlite://{}", dir.path().join("proxyhealth.db").display());
    let store = open_store(&spec, OpenOptions::default())
        .await
        .expect("open sqlite");
    let app = spawn_with(store, config()).await;
    let sim = proxyhealth_sim::spawn(Kind::Ok).await.expect("sim");
    let (id, token) = app.create_proxy("eu-west").await;
    let answer = app.register(&token, &registration(sim.url())).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let proxy = app.wait_for_status(id, "ok").await;
    assert_eq!(proxy.body["path_app_url"], sim.url());
    let conflict = app
        .admin_send(
            reqwest::Method::POST,
            "/api/v2/workspaceproxies",
            &serde_json::json!({"name": "EU-WEST"}),
        )
        .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(
        conflict.message(),
        "Workspace proxy with name \"EU-WEST\" already exists."
    );
    let deleted = app.admin_delete("/api/v2/workspaceproxies/eu-west").await;
    assert_eq!(deleted.status, StatusCode::OK);
    let gone = app
        .admin_get(&format!("/api/v2/workspaceproxies/{id}"))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn serve_returns_after_shutdown_and_ends_event_streams() {
    let store: Arc<dyn ProxyStore> = Arc::new(MemoryStore::new());
    let mut app = spawn_with(store, config()).await;
    let mut stream = app
        .client
        .get(app.url("/api/v2/proxyhealth/events"))
        .send()
        .await
        .expect("connect");
    assert_eq!(stream.status(), StatusCode::OK);
    stream.chunk().await.expect("first event");
    app.shutdown.cancel();
    let server = app.server.take().expect("server task");
    let result = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve returns well within the grace period")
        .expect("task");
    assert!(matches!(result, Ok(Stopped::Cleanly)), "{result:?}");
}

//! Proxy self-registration and deregistration.

use crate::helpers::{answer, eventually, registration, spawn_app};
use proxyhealth_sim::Kind;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
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

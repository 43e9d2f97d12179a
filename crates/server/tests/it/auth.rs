//! Admin authentication: missing, wrong and misplaced tokens, and the slow-down.

use crate::helpers::{ADMIN, LogCapture, answer, spawn_app};
use reqwest::StatusCode;
use std::time::{Duration, Instant};

#[tokio::test]
async fn an_admin_route_without_a_token_is_a_401() {
    let (app, _) = spawn_app().await;
    let answer = app.get("/api/v2/workspaceproxies").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.message(), "Missing admin token.");
    assert!(answer.headers.contains_key("www-authenticate"));
}

#[tokio::test]
async fn a_wrong_admin_token_is_a_401() {
    let (app, _) = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/v2/workspaceproxies"))
        .bearer_auth("not-the-token")
        .send()
        .await
        .expect("send");
    let answer = answer(response).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.message(), "Invalid admin token.");
}

#[tokio::test]
async fn an_authorization_header_without_bearer_is_a_401() {
    let (app, _) = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/v2/workspaceproxies"))
        .header("authorization", format!("Basic {ADMIN}"))
        .send()
        .await
        .expect("send");
    let answer = answer(response).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.message(), "Invalid admin token.");
}

#[tokio::test]
async fn coders_session_token_header_is_accepted_for_the_admin_token() {
    let (app, _) = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/v2/workspaceproxies"))
        .header("Coder-Session-Token", ADMIN)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_proxy_token_on_an_admin_route_is_a_403() {
    let (app, _) = spawn_app().await;
    let (_, token) = app.create_proxy("eu").await;
    let as_bearer = app
        .client
        .delete(app.url("/api/v2/workspaceproxies/eu"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    let as_bearer = answer(as_bearer).await;
    assert_eq!(as_bearer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        as_bearer.message(),
        "Proxy tokens are not allowed on this route."
    );

    let as_header = app
        .client
        .get(app.url("/api/v2/workspaceproxies"))
        .header("Coder-External-Proxy-Token", &token)
        .send()
        .await
        .expect("send");
    let as_header = answer(as_header).await;
    assert_eq!(as_header.status, StatusCode::FORBIDDEN);
    assert_eq!(
        as_header.message(),
        "Proxy tokens are not allowed on this route."
    );

    let still_there = app.admin_get("/api/v2/workspaceproxies/eu").await;
    assert_eq!(still_there.status, StatusCode::OK);
}

#[tokio::test]
async fn auth_is_checked_before_the_body() {
    let (app, _) = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/v2/workspaceproxies"))
        .header("content-type", "text/plain")
        .body("not json")
        .send()
        .await
        .expect("send");
    let answer = answer(response).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.message(), "Missing admin token.");
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_answered_late() {
    let (app, _) = spawn_app().await;
    let attempt = || async {
        let started = Instant::now();
        let response = app
            .client
            .get(app.url("/api/v2/workspaceproxies"))
            .bearer_auth("wrong")
            .send()
            .await
            .expect("send");
        (response.status(), started.elapsed())
    };
    for _ in 0..5 {
        let (status, elapsed) = attempt().await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(elapsed < Duration::from_millis(500), "{elapsed:?}");
    }
    let (status, elapsed) = attempt().await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(elapsed >= Duration::from_millis(950), "{elapsed:?}");
    let ok = app.admin_get("/api/v2/workspaceproxies").await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn failures_and_the_slow_down_are_logged_with_the_clients_address() {
    let (logs, _guard) = LogCapture::install();
    let (app, _) = spawn_app().await;
    for _ in 0..6 {
        let response = app
            .client
            .get(app.url("/api/v2/workspaceproxies"))
            .bearer_auth("wrong")
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let text = logs.text();
    let late = text
        .lines()
        .find(|line| line.contains("repeated authentication failures; answering late"))
        .unwrap_or_else(|| panic!("the slow-down is logged: {text}"));
    assert!(late.contains("client=127.0.0.1"), "{late}");
    assert!(
        !late.contains("Some("),
        "the address, not a Rust option: {late}"
    );
    let failed = text
        .lines()
        .find(|line| line.contains("authentication failed"))
        .unwrap_or_else(|| panic!("a failure is logged: {text}"));
    assert!(failed.contains("client=127.0.0.1"), "{failed}");
    assert!(!failed.contains("Some("), "{failed}");
}

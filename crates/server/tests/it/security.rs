//! Security promises of SECURITY.md that the other modules do not pin yet: body
//! rules on every body-taking route, token comparison, the slow-down of repeated
//! failures, route names refused as proxy names, and no token in any log line.

use crate::helpers::{
    ADMIN, LogCapture, TestApp, answer, config, registration, spawn_app, spawn_with,
};
use proxyhealth_store::MemoryStore;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn get_with_token(app: &TestApp, token: &str) -> (StatusCode, String, Duration) {
    let started = Instant::now();
    let response = app
        .client
        .get(app.url("/api/v2/workspaceproxies"))
        .bearer_auth(token)
        .send()
        .await
        .expect("send");
    let answer = answer(response).await;
    (
        answer.status,
        answer.message().to_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_wrong_admin_token_of_the_right_length_or_another_length_is_a_401() {
    // The presented token is hashed (SHA-256) and the hashes are compared with
    // `subtle::ConstantTimeEq` (crates/server/src/auth.rs, check_admin), so
    // neither the length nor a common prefix changes the path taken.
    let (app, _) = spawn_app().await;
    let same_length: String = ADMIN
        .chars()
        .rev()
        .map(|c| if c == '0' { '1' } else { c })
        .collect();
    assert_eq!(same_length.len(), ADMIN.len());
    assert_ne!(same_length, ADMIN);
    let one_off = format!("{}x", &ADMIN[..ADMIN.len() - 1]);
    for token in [
        same_length.as_str(),
        one_off.as_str(),
        "x",
        &"y".repeat(4096),
    ] {
        let (status, message, _) = get_with_token(&app, token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(message, "Invalid admin token.");
    }
}

#[tokio::test]
async fn a_proxy_secret_of_the_right_length_but_wrong_is_a_401() {
    // The secret half is hashed and compared in constant time
    // (crates/store/src/token.rs, secret_matches).
    let (app, _) = spawn_app().await;
    let (id, token) = app.create_proxy("eu").await;
    let wrong = format!("{id}:{}", "0".repeat(64));
    assert_eq!(wrong.len(), token.len());
    let answer = app
        .register(&wrong, &registration("http://127.0.0.1:9"))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.message(), "Invalid external proxy token");
    assert_eq!(answer.detail(), "Invalid proxy token secret.");
}

#[tokio::test]
async fn the_seventh_failure_in_a_row_is_slowed_but_a_correct_token_is_not() {
    let (app, _) = spawn_app().await;
    for attempt in 1..=6 {
        let (status, message, _) = get_with_token(&app, "wrong-token").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
        assert_eq!(message, "Invalid admin token.");
    }
    let (status, message, elapsed) = get_with_token(&app, "wrong-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(message, "Invalid admin token.");
    assert!(
        elapsed >= Duration::from_secs(1),
        "7th failure took {elapsed:?}"
    );

    let (status, _, elapsed) = get_with_token(&app, ADMIN).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        elapsed < Duration::from_millis(500),
        "correct token took {elapsed:?}"
    );
}

#[tokio::test]
async fn unknown_fields_in_patch_and_register_bodies_are_refused_by_name() {
    let (app, _) = spawn_app().await;
    let (_, token) = app.create_proxy("eu").await;
    let patch = app
        .admin_send(
            Method::PATCH,
            "/api/v2/workspaceproxies/eu",
            &json!({"display_name": "EU", "is_admin": true}),
        )
        .await;
    assert_eq!(patch.status, StatusCode::BAD_REQUEST);
    assert_eq!(patch.message(), "Invalid request body.");
    assert_eq!(patch.first_field(), "is_admin");

    let mut body = registration("http://127.0.0.1:9");
    body["proxy_id"] = json!("00000000-0000-0000-0000-000000000001");
    let register = app.register(&token, &body).await;
    assert_eq!(register.status, StatusCode::BAD_REQUEST);
    assert_eq!(register.message(), "Invalid request body.");
    assert_eq!(register.first_field(), "proxy_id");
}

#[tokio::test]
async fn register_and_patch_bodies_over_the_limit_are_413_and_not_json_415() {
    let mut config = config();
    config.max_body_bytes = 1024;
    let app = spawn_with(Arc::new(MemoryStore::new()), config).await;
    let (_, token) = app.create_proxy("eu").await;

    let mut big = registration("http://127.0.0.1:9");
    big["hostname"] = json!("h".repeat(4096));
    let register = app.register(&token, &big).await;
    assert_eq!(register.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(register.message(), "Request body is too large.");

    let patch = app
        .admin_send(
            Method::PATCH,
            "/api/v2/workspaceproxies/eu",
            &json!({"icon": "i".repeat(4096)}),
        )
        .await;
    assert_eq!(patch.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(patch.message(), "Request body is too large.");

    for (method, path, token_header, token) in [
        (
            Method::PATCH,
            "/api/v2/workspaceproxies/eu",
            "authorization",
            format!("Bearer {ADMIN}"),
        ),
        (
            Method::POST,
            "/api/v2/workspaceproxies/me/register",
            "Coder-External-Proxy-Token",
            token.clone(),
        ),
    ] {
        let response = app
            .client
            .request(method, app.url(path))
            .header(token_header, token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("display_name=EU")
            .send()
            .await
            .expect("send");
        let answer = answer(response).await;
        assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{path}");
        assert_eq!(answer.message(), "Request body must be JSON.");
    }
}

#[tokio::test]
async fn names_the_router_takes_cannot_be_proxy_names() {
    let (app, _) = spawn_app().await;
    for name in ["me", "refresh", "Refresh", "ME"] {
        let answer = app
            .admin_send(
                Method::POST,
                "/api/v2/workspaceproxies",
                &json!({"name": name}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(answer.message(), "Validation failed.");
        assert_eq!(answer.first_field(), "name");
        assert!(answer.detail().contains("reserved"), "{}", answer.detail());
    }
    app.create_proxy("eu").await;
    let rename = app
        .admin_send(
            Method::PATCH,
            "/api/v2/workspaceproxies/eu",
            &json!({"name": "refresh"}),
        )
        .await;
    assert_eq!(rename.status, StatusCode::BAD_REQUEST);
    assert_eq!(rename.first_field(), "name");
}

#[tokio::test]
async fn no_token_appears_in_any_log_line() {
    let (logs, _guard) = LogCapture::install();
    let (app, _) = spawn_app().await;
    let sim = proxyhealth_sim::spawn(proxyhealth_sim::Kind::Ok)
        .await
        .expect("sim proxy");
    let mut tokens = Vec::new();
    for name in ["eu-west", "us-east"] {
        let (id, token) = app.create_proxy(name).await;
        let registered = app.register(&token, &registration(sim.url())).await;
        assert_eq!(registered.status, StatusCode::CREATED);
        app.wait_for_status(id, "ok").await;
        tokens.push(token);
    }
    let regenerated = app
        .admin_send(
            Method::PATCH,
            "/api/v2/workspaceproxies/eu-west",
            &json!({"regenerate_token": true}),
        )
        .await;
    assert_eq!(regenerated.status, StatusCode::OK);
    tokens.push(
        regenerated.body["proxy_token"]
            .as_str()
            .expect("new token")
            .to_owned(),
    );
    // Failures: a wrong admin token, a proxy token on an admin route, a wrong
    // proxy secret, and the old (replaced) token.
    let wrong_admin = format!("{ADMIN}-but-wrong");
    let (status, _, _) = get_with_token(&app, &wrong_admin).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = get_with_token(&app, &tokens[1]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let wrong_secret = format!("{}:{}", &tokens[1][..36], "a".repeat(64));
    let refused = app.register(&wrong_secret, &registration(sim.url())).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let old = app.register(&tokens[0], &registration(sim.url())).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let refresh = app
        .admin_post_empty("/api/v2/workspaceproxies/refresh")
        .await;
    assert_eq!(refresh.status, StatusCode::OK);

    let text = logs.text();
    assert!(text.contains("proxy created"), "the capture works: {text}");
    assert!(
        text.contains("authentication failed"),
        "failures are logged: {text}"
    );
    let mut secrets = vec![ADMIN.to_owned(), wrong_admin, wrong_secret.clone()];
    for token in &tokens {
        secrets.push(token.clone());
        let (_, secret) = token.split_once(':').expect("token has two halves");
        secrets.push(secret.to_owned());
    }
    secrets.push(wrong_secret[37..].to_owned());
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a token is in the log: {secret}\n{text}"
        );
    }
}

//! Every error status, with its envelope.

use crate::helpers::{ADMIN, answer, config, read_only_store, spawn_app, spawn_with};
use proxyhealth_store::MemoryStore;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn a_body_that_is_not_json_is_a_400_naming_the_position() {
    let (app, _) = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/v2/workspaceproxies"))
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .expect("send");
    let answer = answer(response).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.message(), "Request body is not valid JSON.");
    assert!(
        answer.detail().contains("line 1 column 9"),
        "{}",
        answer.detail()
    );
}

/// Sends `body` as JSON to `path` with the admin token, or with `proxy_token`
/// as the proxy's header when given.
async fn send_raw(
    app: &crate::helpers::TestApp,
    method: Method,
    path: &str,
    proxy_token: Option<&str>,
    body: &str,
) -> crate::helpers::Answer {
    let mut request = app
        .client
        .request(method, app.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned());
    request = match proxy_token {
        Some(token) => request.header("Coder-External-Proxy-Token", token),
        None => request.bearer_auth(ADMIN),
    };
    answer(request.send().await.expect("send")).await
}

#[tokio::test]
async fn a_body_that_is_json_but_not_an_object_is_refused_on_every_route() {
    let (app, _) = spawn_app().await;
    let (_, token) = app.create_proxy("eu-west").await;
    let routes = [
        (Method::POST, "/api/v2/workspaceproxies", None),
        (Method::PATCH, "/api/v2/workspaceproxies/eu-west", None),
        (
            Method::POST,
            "/api/v2/workspaceproxies/me/register",
            Some(token.as_str()),
        ),
        (
            Method::POST,
            "/api/v2/workspaceproxies/me/deregister",
            Some(token.as_str()),
        ),
    ];
    let bodies = [
        (r#"["seqname","Seq Name",""]"#, "an array"),
        ("[1]", "an array"),
        (r#""eu""#, "a string"),
        ("7", "a number"),
        ("true", "a boolean"),
        ("null", "null"),
    ];
    for (method, path, proxy_token) in &routes {
        for (body, kind) in bodies {
            let answer = send_raw(&app, method.clone(), path, *proxy_token, body).await;
            assert_eq!(
                answer.status,
                StatusCode::BAD_REQUEST,
                "{method} {path} {body}"
            );
            assert_eq!(answer.message(), "Invalid request body.", "{path} {body}");
            assert_eq!(
                answer.detail(),
                format!("expected a JSON object, got {kind}"),
                "{path} {body}"
            );
        }
    }
    let list = app.admin_get("/api/v2/workspaceproxies").await;
    let names: Vec<&str> = list.body["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .filter_map(|proxy| proxy["name"].as_str())
        .collect();
    assert_eq!(names, ["eu-west"], "nothing created or renamed");
}

#[tokio::test]
async fn a_duplicated_key_is_a_400_naming_the_key() {
    let (app, _) = spawn_app().await;
    let answer = send_raw(
        &app,
        Method::POST,
        "/api/v2/workspaceproxies",
        None,
        r#"{"name":"eu-west","display_name":"EU","name":"us-east"}"#,
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert_eq!(answer.message(), "Invalid request body.");
    assert_eq!(answer.first_field(), "name");
    assert!(
        answer.detail().starts_with("name: duplicate field `name`"),
        "{}",
        answer.detail()
    );
    let list = app.admin_get("/api/v2/workspaceproxies").await;
    assert_eq!(list.body["regions"], json!([]));
}

#[tokio::test]
async fn an_unknown_field_is_a_400_naming_the_field() {
    let (app, _) = spawn_app().await;
    let answer = app
        .admin_send(
            Method::POST,
            "/api/v2/workspaceproxies",
            &json!({"name": "eu", "colour": "blue"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.message(), "Invalid request body.");
    assert_eq!(answer.first_field(), "colour");
    assert!(
        answer.detail().contains("unknown field `colour`"),
        "{}",
        answer.detail()
    );
}

#[tokio::test]
async fn a_field_of_the_wrong_type_is_a_400_naming_the_field() {
    let (app, _) = spawn_app().await;
    let answer = app
        .admin_send(
            Method::POST,
            "/api/v2/workspaceproxies",
            &json!({"name": 7}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.message(), "Invalid request body.");
    assert_eq!(answer.first_field(), "name");
}

#[tokio::test]
async fn a_missing_name_is_a_400_naming_the_field() {
    let (app, _) = spawn_app().await;
    let answer = app
        .admin_send(
            Method::POST,
            "/api/v2/workspaceproxies",
            &json!({"icon": "x"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.message(), "Invalid request body.");
    assert_eq!(answer.first_field(), "name");
}

#[tokio::test]
async fn the_reserved_name_is_refused_with_coders_message() {
    let (app, _) = spawn_app().await;
    let answer = app
        .admin_send(
            Method::POST,
            "/api/v2/workspaceproxies",
            &json!({"name": "Primary"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.message(),
        "The name \"primary\" is reserved for the primary region."
    );
    assert_eq!(answer.detail(), "Cannot name a workspace proxy 'primary'.");
    assert_eq!(answer.first_field(), "name");
}

#[tokio::test]
async fn a_blank_name_is_a_validation_failure() {
    let (app, _) = spawn_app().await;
    let answer = app
        .admin_send(
            Method::POST,
            "/api/v2/workspaceproxies",
            &json!({"name": "  "}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.message(), "Validation failed.");
    assert_eq!(answer.first_field(), "name");
}

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_a_415() {
    let (app, _) = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/v2/workspaceproxies"))
        .bearer_auth(ADMIN)
        .header("content-type", "text/plain")
        .body("{\"name\":\"eu\"}")
        .send()
        .await
        .expect("send");
    let answer = answer(response).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(answer.message(), "Request body must be JSON.");
    assert!(
        answer.detail().contains("text/plain"),
        "{}",
        answer.detail()
    );

    let response = app
        .client
        .post(app.url("/api/v2/workspaceproxies"))
        .bearer_auth(ADMIN)
        .body("{\"name\":\"eu\"}")
        .send()
        .await
        .expect("send");
    let answer = crate::helpers::answer(response).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        answer.detail().contains("no Content-Type"),
        "{}",
        answer.detail()
    );
}

#[tokio::test]
async fn a_body_above_the_limit_is_a_413_envelope() {
    let store = Arc::new(MemoryStore::new());
    let mut config = config();
    config.max_body_bytes = 1024;
    let app = spawn_with(store, config).await;
    let big = json!({"name": "eu", "display_name": "x".repeat(4096)});
    let answer = app
        .admin_send(Method::POST, "/api/v2/workspaceproxies", &big)
        .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.message(), "Request body is too large.");
}

#[tokio::test]
async fn an_unknown_proxy_is_a_404_by_id_and_by_name() {
    let (app, _) = spawn_app().await;
    let by_id = app
        .admin_get(&format!(
            "/api/v2/workspaceproxies/{}",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(by_id.status, StatusCode::NOT_FOUND);
    assert_eq!(by_id.message(), "Workspace proxy not found.");
    let by_name = app.admin_get("/api/v2/workspaceproxies/nowhere").await;
    assert_eq!(by_name.status, StatusCode::NOT_FOUND);
    assert_eq!(by_name.message(), "Workspace proxy not found.");
}

#[tokio::test]
async fn an_unknown_route_is_a_404_envelope() {
    let (app, _) = spawn_app().await;
    let answer = app.get("/api/v2/nothing-here").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.message(), "Route not found.");
}

#[tokio::test]
async fn a_taken_name_is_a_409_in_any_case() {
    let (app, _) = spawn_app().await;
    app.create_proxy("eu-west").await;
    let answer = app
        .admin_send(
            Method::POST,
            "/api/v2/workspaceproxies",
            &json!({"name": "EU-West"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert_eq!(
        answer.message(),
        "Workspace proxy with name \"EU-West\" already exists."
    );
}

#[tokio::test]
async fn a_failing_store_is_a_503_with_the_cause() {
    let (app, store) = spawn_app().await;
    store.set_failing(Some("database is down".to_owned()));
    let one = app.admin_get("/api/v2/workspaceproxies/eu").await;
    assert_eq!(one.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(one.message(), "The store is unavailable.");
    assert!(
        one.detail().contains("database is down"),
        "{}",
        one.detail()
    );

    let create = app
        .admin_send(
            Method::POST,
            "/api/v2/workspaceproxies",
            &json!({"name": "eu"}),
        )
        .await;
    assert_eq!(create.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(create.message(), "The store is unavailable.");

    let refresh = app
        .admin_post_empty("/api/v2/workspaceproxies/refresh")
        .await;
    assert_eq!(refresh.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refresh.message(), "The store is unavailable.");
    assert!(
        refresh.detail().contains("database is down"),
        "{}",
        refresh.detail()
    );
}

#[tokio::test]
async fn a_write_to_a_read_only_store_is_a_503_saying_why() {
    let app = spawn_with(Arc::new(read_only_store()), config()).await;
    let answer = app
        .admin_send(
            Method::POST,
            "/api/v2/workspaceproxies",
            &json!({"name": "eu"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.message(), "The store is read-only.");
    assert!(answer.detail().contains("read-only"), "{}", answer.detail());
    let list = app.admin_get("/api/v2/workspaceproxies").await;
    assert_eq!(list.status, StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_method_is_a_405_envelope() {
    let (app, _) = spawn_app().await;
    let answer = app
        .admin_send(Method::PUT, "/api/v2/regions", &json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.message(), "Method not allowed.");
}

//! Every branch of the classification, against real servers.

use crate::helpers::*;
use axum::body::Body;
use proxyhealth_core::Status;

async fn single(server: &FakeProxy) -> (proxyhealth_engine::Engine, uuid::Uuid) {
    let p = proxy("p", &server.url);
    let engine = engine(ListSource::with(vec![p.clone()]));
    engine.force_update().await.expect("sweep");
    (engine, p.id)
}

#[tokio::test]
async fn html_without_a_build_version_is_not_a_coder_proxy_with_the_content_type() {
    let server = FakeProxy::fixed(200, Some("text/html; charset=utf-8"), "<html>hi</html>").await;
    let (engine, id) = single(&server).await;
    let url = format!("{}/healthz-report", server.url);
    assert_eq!(engine.status_of(&id).expect("s").status, Status::Unhealthy);
    assert_eq!(
        only_error(&engine, id),
        format!(
            "proxy url \"{url}\" is not a coder proxy instance, verify the url is correct\nattempted to query health at \"{url}\" but got back the incorrect content type: unexpected non-JSON response \"text/html; charset=utf-8\""
        )
    );
}

#[tokio::test]
async fn html_from_a_coder_server_hints_at_a_primary_coderd() {
    let server = FakeProxy::start(|_| async {
        axum::http::Response::builder()
            .status(200)
            .header("content-type", "text/html; charset=utf-8")
            .header("X-Coder-Build-Version", "v2.20.0")
            .body(Body::from("<!doctype html><html></html>"))
            .expect("response")
    })
    .await;
    let (engine, id) = single(&server).await;
    let url = format!("{}/healthz-report", server.url);
    assert_eq!(
        only_error(&engine, id),
        format!(
            "proxy url \"{url}\" is a coder instance, but unable to decode the response payload. Could this be a primary coderd and not a proxy?\nattempted to query health at \"{url}\" but got back the incorrect content type: unexpected non-JSON response \"text/html; charset=utf-8\""
        )
    );
}

#[tokio::test]
async fn broken_json_with_a_json_content_type_names_the_decode_error() {
    let server = FakeProxy::fixed(200, Some("application/json"), "{\"errors\": [").await;
    let (engine, id) = single(&server).await;
    let error = only_error(&engine, id);
    assert!(error.contains("is not a coder proxy instance"), "{error}");
    assert!(
        error.contains("\nreceived a status code 200, but failed to decode health report body: EOF while parsing"),
        "{error}"
    );
}

#[tokio::test]
async fn a_text_plain_body_that_is_a_report_is_accepted_as_in_the_seed() {
    let server = FakeProxy::fixed(200, Some("text/plain"), r#"{"errors":[],"warnings":[]}"#).await;
    let (engine, id) = single(&server).await;
    assert_eq!(engine.status_of(&id).expect("s").status, Status::Ok);
}

#[tokio::test]
async fn a_500_with_an_error_envelope_gives_message_detail_and_validations() {
    let server = FakeProxy::fixed(
        500,
        Some("application/json"),
        r#"{"message":"Internal error.","detail":"database is locked","validations":[{"field":"region","detail":"not ready"}]}"#,
    )
    .await;
    let (engine, id) = single(&server).await;
    let url = format!("{}/healthz-report", server.url);
    assert_eq!(
        only_error(&engine, id),
        format!(
            "unexpected status code 500. \nEncountered error, send a request to \"{url}\" from the proxyhealth environment to debug this issue.\nError Message: Internal error.\nError Detail: database is locked\n\tValidation: region=not ready\nError: GET {url}: unexpected status code 500: Internal error.\n\tError: database is locked\n\tregion: not ready"
        )
    );
}

#[tokio::test]
async fn a_proxy_shutting_down_gives_the_plain_decode_error() {
    let server = FakeProxy::fixed(
        500,
        Some("application/json"),
        r#""workspace proxy in middle of shutting down""#,
    )
    .await;
    let (engine, id) = single(&server).await;
    let error = only_error(&engine, id);
    assert!(
        error.contains("\nError: decode body: invalid type: string"),
        "{error}"
    );
    assert!(!error.contains("Error Message"), "{error}");
}

#[tokio::test]
async fn a_json_body_without_a_message_shows_the_body_as_detail() {
    let server = FakeProxy::fixed(503, Some("application/json"), r#"{"status":"down"}"#).await;
    let (engine, id) = single(&server).await;
    let error = only_error(&engine, id);
    assert!(error.contains("Error Message: unexpected status code 503, response has no message\nError Detail: {\"status\":\"down\"}"), "{error}");
}

#[tokio::test]
async fn a_hanging_proxy_is_unreachable_after_the_timeout() {
    let server = FakeProxy::start(|_| async {
        std::future::pending::<()>().await;
        json(200, "{}")
    })
    .await;
    let p = proxy("p", &server.url);
    let engine = engine_with(
        ListSource::with(vec![p.clone()]),
        proxyhealth_engine::EngineOptions {
            timeout: std::time::Duration::from_millis(300),
            ..Default::default()
        },
    );
    engine.force_update().await.expect("sweep");
    assert_eq!(
        engine.status_of(&p.id).expect("s").status,
        Status::Unreachable
    );
    assert_eq!(
        only_error(&engine, p.id),
        format!(
            "request to proxy failed: Get \"{}/healthz-report\": timed out after 300ms awaiting response headers",
            server.url
        )
    );
}

#[tokio::test]
async fn the_timeout_covers_reading_the_body() {
    let server = FakeProxy::start(|_| async {
        let trickle = futures::stream::unfold(0u32, |n| async move {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            Some((
                Ok::<_, std::io::Error>(bytes::Bytes::from_static(b" ")),
                n + 1,
            ))
        });
        axum::http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Body::from_stream(trickle))
            .expect("response")
    })
    .await;
    let p = proxy("p", &server.url);
    let engine = engine_with(
        ListSource::with(vec![p.clone()]),
        proxyhealth_engine::EngineOptions {
            timeout: std::time::Duration::from_millis(500),
            ..Default::default()
        },
    );
    let started = std::time::Instant::now();
    engine.force_update().await.expect("sweep");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "the sweep was not bounded by the timeout"
    );
    assert_eq!(
        engine.status_of(&p.id).expect("s").status,
        Status::Unhealthy
    );
    let error = only_error(&engine, p.id);
    assert!(
        error.ends_with("received a status code 200, but failed to decode health report body: timed out after 500ms reading the body (the timeout covers the whole request)"),
        "{error}"
    );
}

//! The seed's own tests (Coder's `proxyhealth_test.go`), in Rust.

use crate::helpers::*;
use proxyhealth_core::Status;

#[tokio::test]
async fn reads_before_any_sweep_are_empty_not_a_panic() {
    let engine = engine(ListSource::with(vec![]));
    let snapshot = engine.snapshot();
    assert!(snapshot.statuses().is_empty());
    assert!(snapshot.hosts().is_empty());
    assert_eq!(snapshot.generation(), 0);
}

#[tokio::test]
async fn proxies_without_a_url_are_unregistered_and_not_requested() {
    let (a, b) = (proxy("a", ""), proxy("b", ""));
    let engine = engine(ListSource::with(vec![a.clone(), b.clone()]));
    engine.force_update().await.expect("sweep");
    for id in [a.id, b.id] {
        let status = engine.status_of(&id).expect("status");
        assert_eq!(status.status, Status::Unregistered);
        assert!(status.host.is_none());
        assert!(status.latency.is_none());
        assert!(status.report.errors.is_empty());
    }
}

#[tokio::test]
async fn a_report_with_errors_and_a_bare_400_are_unhealthy() {
    let with_errors =
        FakeProxy::start(|_| async { json(200, r#"{"errors":["We have a problem!"]}"#) }).await;
    let bare_400 = FakeProxy::fixed(400, None, "").await;
    let (a, b) = (proxy("a", &with_errors.url), proxy("b", &bare_400.url));
    let engine = engine(ListSource::with(vec![a.clone(), b.clone()]));
    engine.force_update().await.expect("sweep");

    let a_status = engine.status_of(&a.id).expect("a");
    assert_eq!(a_status.status, Status::Unhealthy);
    assert_eq!(a_status.report.errors, ["We have a problem!"]);
    assert_eq!(
        engine.status_of(&b.id).expect("b").status,
        Status::Unhealthy
    );
    let url = format!("{}/healthz-report", bare_400.url);
    assert_eq!(
        only_error(&engine, b.id),
        format!(
            "unexpected status code 400. \nEncountered error, send a request to \"{url}\" from the proxyhealth environment to debug this issue.\nError Message: unexpected non-JSON response \"\"\nError Detail: no response body\nError: GET {url}: unexpected status code 400: unexpected non-JSON response \"\"\n\tError: no response body"
        )
    );
    assert_eq!(*with_errors.last_path.lock(), "/healthz-report");
}

#[tokio::test]
async fn warnings_never_make_a_proxy_unhealthy() {
    let server = FakeProxy::start(|_| async {
        json(200, r#"{"warnings":["No problems, just a warning"]}"#)
    })
    .await;
    let (a, b) = (proxy("a", &server.url), proxy("b", &server.url));
    let engine = engine(ListSource::with(vec![a.clone(), b.clone()]));
    engine.force_update().await.expect("sweep");
    for id in [a.id, b.id] {
        let status = engine.status_of(&id).expect("status");
        assert_eq!(status.status, Status::Ok);
        assert_eq!(status.report.warnings, ["No problems, just a warning"]);
        assert!(status.report.errors.is_empty());
    }
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_proxy_nobody_answers_for_is_unreachable() {
    let url = refused_url().await;
    let a = proxy("a", &url);
    let engine = engine(ListSource::with(vec![a.clone()]));
    engine.force_update().await.expect("sweep");
    assert_eq!(
        engine.status_of(&a.id).expect("a").status,
        Status::Unreachable
    );
    let error = only_error(&engine, a.id);
    assert!(
        error.starts_with(&format!(
            "request to proxy failed: Get \"{url}/healthz-report\": "
        )),
        "{error}"
    );
    assert!(error.to_lowercase().contains("refused"), "{error}");
}

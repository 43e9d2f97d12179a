//! Each kind answers `/healthz-report` exactly as specified.

use crate::client::{get, read_response, send};
use proxyhealth_core::Status;
use proxyhealth_sim::bodies::{
    BAD_REQUEST_HTML, ERRORS_BODY, NOT_FOUND_BODY, OK_BODY, PRIMARY_HTML, SERVER_ERROR_BODY,
    WARNINGS_BODY,
};
use proxyhealth_sim::{Kind, spawn};
use std::io::ErrorKind;
use std::time::Duration;
use tokio::net::TcpStream;

const JSON: &str = "application/json; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// Spawns `kind` and fetches its report once.
async fn report_of(kind: Kind) -> crate::client::RawResponse {
    let proxy = spawn(kind).await.expect("spawn");
    let answer = get(proxy.addr(), "/healthz-report").await.expect("answer");
    assert_eq!(proxy.requests(), 1, "{kind}: the request is counted");
    answer
}

#[tokio::test]
async fn ok_sends_go_style_null_lists_with_the_build_version() {
    let r = report_of(Kind::Ok).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(JSON));
    assert_eq!(r.header("x-coder-build-version"), Some("v2.20.0"));
    assert_eq!(r.text(), r#"{"errors":null,"warnings":null}"#);
    assert_eq!(r.text(), OK_BODY);
}

#[tokio::test]
async fn ok_with_warnings_sends_an_empty_error_list_and_the_version_mismatch() {
    let r = report_of(Kind::OkWithWarnings).await;
    assert_eq!((r.status, r.header("content-type")), (200, Some(JSON)));
    assert_eq!(r.text(), WARNINGS_BODY);
    let json: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(json["errors"], serde_json::json!([]));
    assert_eq!(
        json["warnings"][0],
        "version mismatch: primary coderd (v2.21.0) != workspace proxy (v2.20.0)"
    );
}

#[tokio::test]
async fn errors_sends_the_build_info_failure_with_status_200() {
    let r = report_of(Kind::Errors).await;
    assert_eq!((r.status, r.header("content-type")), (200, Some(JSON)));
    assert_eq!(r.text(), ERRORS_BODY);
    let json: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(
        json["errors"][0],
        "failed to get build info: Get \"https://primary.example.com/api/v2/buildinfo\": dial tcp: connection refused"
    );
}

#[tokio::test]
async fn server_error_sends_a_500_error_envelope() {
    let r = report_of(Kind::ServerError).await;
    assert_eq!((r.status, r.header("content-type")), (500, Some(JSON)));
    assert_eq!(r.text(), SERVER_ERROR_BODY);
    let json: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(json["message"], "Internal error fetching health report.");
    assert_eq!(json["detail"], "database is locked");
    assert_eq!(json["validations"][0]["field"], "region");
}

#[tokio::test]
async fn bad_request_html_sends_the_head_to_the_dashboard_page_with_400() {
    let r = report_of(Kind::BadRequestHtml).await;
    assert_eq!((r.status, r.header("content-type")), (400, Some(HTML)));
    assert_eq!(r.text(), BAD_REQUEST_HTML);
    assert!(r.text().contains("Head to the Dashboard"), "{}", r.text());
}

#[tokio::test]
async fn primary_html_sends_the_spa_page_with_200_and_the_build_version() {
    let r = report_of(Kind::PrimaryHtml).await;
    assert_eq!((r.status, r.header("content-type")), (200, Some(HTML)));
    assert_eq!(r.header("x-coder-build-version"), Some("v2.20.0"));
    assert_eq!(r.text(), PRIMARY_HTML);
}

#[tokio::test]
async fn non_json_200_sends_plain_ok_without_the_build_version() {
    let r = report_of(Kind::NonJson200).await;
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("text/plain"))
    );
    assert_eq!(r.header("x-coder-build-version"), None);
    assert_eq!(r.text(), "OK");
}

#[tokio::test]
async fn another_path_is_a_404_and_is_not_counted() {
    let proxy = spawn(Kind::Ok).await.expect("spawn");
    let r = get(proxy.addr(), "/healthz").await.expect("answer");
    assert_eq!((r.status, r.text().as_str()), (404, NOT_FOUND_BODY));
    assert_eq!(proxy.requests(), 0);
}

#[tokio::test]
async fn slow_answers_ok_only_after_its_delay() {
    let r = report_of(Kind::Slow(Duration::from_millis(300))).await;
    assert_eq!((r.status, r.text().as_str()), (200, OK_BODY));
    assert!(
        r.headers_after >= Duration::from_millis(300),
        "{:?}",
        r.headers_after
    );
}

#[tokio::test]
async fn slow_body_sends_headers_at_once_and_trickles_the_body() {
    let step = Duration::from_millis(15);
    let r = report_of(Kind::SlowBody(step)).await;
    assert_eq!((r.status, r.header("content-type")), (200, Some(JSON)));
    assert_eq!(r.text(), OK_BODY);
    assert!(
        r.headers_after < Duration::from_millis(200),
        "{:?}",
        r.headers_after
    );
    let whole = step * u32::try_from(OK_BODY.len()).expect("short body");
    assert!(r.total_after >= whole, "{:?} < {whole:?}", r.total_after);
}

#[tokio::test]
async fn refused_really_refuses_connections() {
    let proxy = spawn(Kind::Refused).await.expect("spawn");
    let err = TcpStream::connect(proxy.addr())
        .await
        .expect_err("nothing may listen");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert_eq!(Kind::Refused.expected_status(), Status::Unreachable);
}

#[tokio::test]
async fn hang_reads_the_request_and_never_answers_until_the_client_leaves() {
    let proxy = spawn(Kind::Hang).await.expect("spawn");
    let mut stream = TcpStream::connect(proxy.addr()).await.expect("connect");
    send(&mut stream, "/healthz-report", false)
        .await
        .expect("send");
    let waited = tokio::time::timeout(Duration::from_millis(300), read_response(&mut stream)).await;
    assert!(waited.is_err(), "a hanging proxy answered: {waited:?}");
    assert_eq!((proxy.requests(), proxy.in_flight()), (1, 1));
    drop(stream);
    let released = tokio::time::timeout(Duration::from_secs(2), async {
        while proxy.in_flight() > 0 || proxy.connections() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(released.is_ok(), "the hang outlived its client");
}

#[tokio::test]
async fn flapping_alternates_ok_and_errors_every_n_requests() {
    let proxy = spawn(Kind::Flapping(2)).await.expect("spawn");
    let mut seen = Vec::new();
    for _ in 0..6 {
        let r = get(proxy.addr(), "/healthz-report").await.expect("answer");
        seen.push(if r.text() == OK_BODY { "ok" } else { "errors" });
        if r.text() != OK_BODY {
            assert_eq!(r.text(), ERRORS_BODY);
        }
    }
    assert_eq!(seen, ["ok", "ok", "errors", "errors", "ok", "ok"]);
    assert_eq!(Kind::Flapping(2).expected_status(), Status::Ok);
}

#[tokio::test]
async fn expected_statuses_follow_coder_classification() {
    let expected: Vec<(&str, Status)> = Kind::ALL
        .iter()
        .map(|k| (k.name(), k.expected_status()))
        .collect();
    assert_eq!(
        expected,
        [
            ("ok", Status::Ok),
            ("ok-warnings", Status::Ok),
            ("errors", Status::Unhealthy),
            ("500-envelope", Status::Unhealthy),
            ("400-html", Status::Unhealthy),
            ("primary-html", Status::Unhealthy),
            ("non-json-200", Status::Unhealthy),
            ("hang", Status::Unreachable),
            ("slow", Status::Ok),
            ("refused", Status::Unreachable),
            ("slow-body", Status::Unhealthy),
            ("flapping", Status::Ok),
        ]
    );
}

//! The HTTP/1.1 framings a real proxy may answer with: each is read whole on the
//! lean plain-HTTP path, and each way of breaking one ends in a clear message.

use crate::helpers::*;
use proxyhealth_core::Status;
use proxyhealth_engine::{Engine, EngineOptions};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;
use uuid::Uuid;

const REPORT: &str = r#"{"errors":[],"warnings":["disk 81% full"]}"#;

async fn check(url: &str) -> (Engine, Uuid) {
    let p = proxy("framing", url);
    let options = EngineOptions {
        timeout: Duration::from_secs(3),
        ..EngineOptions::default()
    };
    let engine = engine_with(ListSource::with(vec![p.clone()]), options);
    engine.force_update().await.expect("the sweep succeeds");
    (engine, p.id)
}

/// A proxy that reads the request head and then writes `answer` and closes.
async fn answering(answer: &'static [u8]) -> RawProxy {
    RawProxy::start(move |mut s| async move {
        read_head(&mut s).await;
        let _ = s.write_all(answer).await;
    })
    .await
}

fn assert_ok_with_the_warning(engine: &Engine, id: Uuid) {
    let status = engine.status_of(&id).expect("a status");
    assert_eq!(status.status, Status::Ok, "{:?}", status.report);
    assert_eq!(status.report.warnings, vec!["disk 81% full".to_owned()]);
}

#[tokio::test]
async fn a_chunked_report_is_read_whole() {
    let server = answering(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n10\r\n{\"errors\":[],\"wa\r\n1a;ext=1\r\nrnings\":[\"disk 81% full\"]}\r\n0\r\n\r\n").await;
    let (engine, id) = check(&server.url).await;
    assert_ok_with_the_warning(&engine, id);
}

#[tokio::test]
async fn a_report_without_a_length_ends_when_the_proxy_closes() {
    let server = RawProxy::start(|mut s| async move {
        read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n")
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = s.write_all(REPORT.as_bytes()).await;
    })
    .await;
    let (engine, id) = check(&server.url).await;
    assert_ok_with_the_warning(&engine, id);
}

#[tokio::test]
async fn an_interim_continue_before_the_answer_is_skipped() {
    let server = answering(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 42\r\n\r\n{\"errors\":[],\"warnings\":[\"disk 81% full\"]}").await;
    let (engine, id) = check(&server.url).await;
    assert_ok_with_the_warning(&engine, id);
}

#[tokio::test]
async fn a_head_and_body_trickled_byte_by_byte_are_read() {
    let server = RawProxy::start(|mut s| async move {
        read_head(&mut s).await;
        let answer = json_answer(REPORT);
        for byte in answer.as_bytes() {
            if s.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    let (engine, id) = check(&server.url).await;
    assert_ok_with_the_warning(&engine, id);
}

#[tokio::test]
async fn bare_line_feeds_in_the_head_are_accepted() {
    let server = answering(b"HTTP/1.1 200 OK\ncontent-type: application/json\ncontent-length: 42\n\n{\"errors\":[],\"warnings\":[\"disk 81% full\"]}").await;
    let (engine, id) = check(&server.url).await;
    assert_ok_with_the_warning(&engine, id);
}

#[tokio::test]
async fn bytes_after_the_declared_length_are_ignored() {
    let server = answering(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 42\r\n\r\n{\"errors\":[],\"warnings\":[\"disk 81% full\"]}trailing junk").await;
    let (engine, id) = check(&server.url).await;
    assert_ok_with_the_warning(&engine, id);
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_is_unhealthy_with_both_lengths() {
    let server = answering(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"errors\":[]}").await;
    let (engine, id) = check(&server.url).await;
    assert_eq!(
        engine.status_of(&id).expect("a status").status,
        Status::Unhealthy
    );
    assert!(only_error(&engine, id).ends_with(
        "failed to decode health report body: the connection failed while reading the body: the proxy closed the connection after 13 of the 100 bytes it declared"
    ), "{}", only_error(&engine, id));
}

#[tokio::test]
async fn a_chunked_body_cut_before_its_last_chunk_is_unhealthy() {
    let server = answering(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{\"er\r\n").await;
    let (engine, id) = check(&server.url).await;
    assert_eq!(
        engine.status_of(&id).expect("a status").status,
        Status::Unhealthy
    );
    assert!(
        only_error(&engine, id).ends_with("the proxy closed the connection before the last chunk"),
        "{}",
        only_error(&engine, id)
    );
}

#[tokio::test]
async fn a_chunk_size_that_is_not_hexadecimal_is_unhealthy() {
    let server = answering(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n").await;
    let (engine, id) = check(&server.url).await;
    assert_eq!(
        engine.status_of(&id).expect("a status").status,
        Status::Unhealthy
    );
    assert!(
        only_error(&engine, id)
            .ends_with("the connection failed while reading the body: invalid chunk size line"),
        "{}",
        only_error(&engine, id)
    );
}

#[tokio::test]
async fn two_different_content_lengths_are_unreachable_and_named() {
    let server =
        answering(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}").await;
    let (engine, id) = check(&server.url).await;
    assert_eq!(
        engine.status_of(&id).expect("a status").status,
        Status::Unreachable
    );
    let error = only_error(&engine, id);
    assert!(
        error.starts_with("request to proxy failed: Get "),
        "{error}"
    );
    assert!(
        error.ends_with("invalid content-length parsed: \"3\""),
        "{error}"
    );
}

#[tokio::test]
async fn a_connection_closed_before_any_answer_is_unreachable() {
    let server = RawProxy::start(|mut s| async move {
        read_head(&mut s).await;
    })
    .await;
    let (engine, id) = check(&server.url).await;
    assert_eq!(
        engine.status_of(&id).expect("a status").status,
        Status::Unreachable
    );
    assert!(only_error(&engine, id).ends_with("connection closed before message completed"));
}

#[tokio::test]
async fn no_content_is_an_unexpected_status() {
    let server = answering(b"HTTP/1.1 204 No Content\r\n\r\n").await;
    let (engine, id) = check(&server.url).await;
    assert_eq!(
        engine.status_of(&id).expect("a status").status,
        Status::Unhealthy
    );
    assert!(only_error(&engine, id).starts_with("unexpected status code 204."));
}

#[tokio::test]
async fn the_request_is_one_get_that_names_the_host_and_closes() {
    let seen = Arc::new(Mutex::new(String::new()));
    let record = Arc::clone(&seen);
    let server = RawProxy::start(move |mut s| {
        let record = Arc::clone(&record);
        async move {
            *record.lock().await = read_head(&mut s).await;
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\n{\"errors\":[]}")
                .await;
        }
    })
    .await;
    let (engine, id) = check(&format!("{}/base/", server.url)).await;
    assert_eq!(engine.status_of(&id).expect("a status").status, Status::Ok);
    let head = seen.lock().await.clone();
    let lines: Vec<&str> = head.split("\r\n").collect();
    assert_eq!(lines[0], "GET /base/healthz-report HTTP/1.1");
    assert!(
        lines.contains(&format!("Host: {}", server.addr).as_str()),
        "{head}"
    );
    assert!(lines.contains(&"Connection: close"), "{head}");
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("User-Agent: proxyhealth/")),
        "{head}"
    );
}

#[tokio::test]
async fn a_worker_reading_a_short_answer_after_a_long_one_sees_only_its_own_bytes() {
    let report = format!(r#"{{"errors":[],"warnings":["{}"]}}"#, "x".repeat(3000));
    let long = json_answer(&report);
    let long: &'static [u8] = Box::leak(long.into_bytes().into_boxed_slice());
    let first = answering(long).await;
    let second = answering(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 13\r\n\r\n{\"errors\":[]}").await;
    let proxies = vec![proxy("long", &first.url), proxy("short", &second.url)];
    let short_id = proxies[1].id;
    let options = EngineOptions {
        // One worker checks both proxies, one after the other, with one buffer.
        parallelism: 1,
        timeout: Duration::from_secs(3),
        ..EngineOptions::default()
    };
    let engine = engine_with(ListSource::with(proxies), options);
    engine.force_update().await.expect("the sweep succeeds");
    let status = engine.status_of(&short_id).expect("a status");
    assert_eq!(status.status, Status::Ok, "{:?}", status.report);
    assert!(status.report.warnings.is_empty(), "{:?}", status.report);
}

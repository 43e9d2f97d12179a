//! Hostile and broken proxies: each ends in a clear status and message within the
//! timeout, and the checker keeps at most the body cap of what they send.

use crate::helpers::*;
use proxyhealth_core::Status;
use proxyhealth_engine::{Engine, EngineOptions, RedirectPolicy};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_millis(1500);

async fn check_one(url: &str, options: EngineOptions) -> (Engine, Uuid) {
    let p = proxy("hostile", url);
    let engine = engine_with(ListSource::with(vec![p.clone()]), options);
    let started = Instant::now();
    engine.force_update().await.expect("the sweep succeeds");
    assert!(
        started.elapsed() < options_bound(),
        "a hostile proxy held the sweep for {:?}",
        started.elapsed()
    );
    (engine, p.id)
}

fn options_bound() -> Duration {
    TIMEOUT + Duration::from_secs(3)
}

fn opts() -> EngineOptions {
    EngineOptions {
        timeout: TIMEOUT,
        ..EngineOptions::default()
    }
}

fn status(engine: &Engine, id: Uuid) -> Status {
    engine.status_of(&id).expect("status").status
}

async fn answer(stream: &mut tokio::net::TcpStream, bytes: &[u8]) {
    read_head(stream).await;
    let _ = stream.write_all(bytes).await;
}

#[tokio::test]
async fn headers_that_never_come_end_unreachable_at_the_timeout() {
    let server = RawProxy::start(|mut s| async move {
        read_head(&mut s).await;
        std::future::pending::<()>().await;
    })
    .await;
    let (engine, id) = check_one(&server.url, opts()).await;
    assert_eq!(status(&engine, id), Status::Unreachable);
    assert!(only_error(&engine, id).ends_with("timed out after 1.5s awaiting response headers"));
}

#[tokio::test]
async fn a_body_trickling_one_byte_a_second_is_cut_at_the_timeout() {
    let server = RawProxy::start(|mut s| async move {
        answer(
            &mut s,
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n",
        )
        .await;
        for _ in 0..100 {
            if s.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
    .await;
    let (engine, id) = check_one(&server.url, opts()).await;
    assert_eq!(status(&engine, id), Status::Unhealthy);
    assert!(
        only_error(&engine, id).ends_with(
            "timed out after 1.5s reading the body (the timeout covers the whole request)"
        )
    );
}

#[tokio::test]
async fn an_endless_body_stops_at_the_cap() {
    let server = RawProxy::start(|mut s| async move {
        answer(&mut s, b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n").await;
        let chunk = format!("{:x}\r\n{}\r\n", 8192, "[".repeat(8192));
        while s.write_all(chunk.as_bytes()).await.is_ok() {}
    })
    .await;
    let (engine, id) = check_one(
        &server.url,
        EngineOptions {
            body_cap: 64 * 1024,
            ..opts()
        },
    )
    .await;
    assert_eq!(status(&engine, id), Status::Unhealthy);
    assert!(
        only_error(&engine, id).ends_with("the body is larger than the limit of 65536 bytes"),
        "{}",
        only_error(&engine, id)
    );
}

#[tokio::test]
async fn a_declared_body_over_the_cap_is_refused_with_its_length() {
    let server = RawProxy::start(|mut s| async move {
        answer(&mut s, b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 10485760\r\n\r\n").await;
        let block = vec![b' '; 65536];
        while s.write_all(&block).await.is_ok() {}
    })
    .await;
    let (engine, id) = check_one(&server.url, opts()).await;
    assert_eq!(status(&engine, id), Status::Unhealthy);
    assert!(only_error(&engine, id).ends_with(
        "the body is larger than the limit of 1048576 bytes (Content-Length: 10485760)"
    ));
}

#[tokio::test]
async fn a_gzip_body_nobody_asked_for_is_not_a_report() {
    // The gzip of `{"errors":[]}`, which the checker never asked for.
    const GZIP: &[u8] = &[
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xab, 0x56, 0x4a, 0x2d, 0x2a,
        0xca, 0x2f, 0x2a, 0x56, 0xb2, 0x8a, 0x8e, 0xad, 0x05, 0x00, 0x6a, 0x4f, 0x96, 0x9c, 0x0d,
        0x00, 0x00, 0x00,
    ];
    let server = RawProxy::start(|mut s| async move {
        let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\n\r\n", GZIP.len());
        answer(&mut s, head.as_bytes()).await;
        let _ = s.write_all(GZIP).await;
    })
    .await;
    let (engine, id) = check_one(&server.url, opts()).await;
    assert_eq!(status(&engine, id), Status::Unhealthy);
    assert!(only_error(&engine, id).contains(
        "received a status code 200, but failed to decode health report body: expected value"
    ));
}

#[tokio::test]
async fn a_hundred_thousand_headers_are_a_protocol_error() {
    let server = RawProxy::start(|mut s| async move {
        answer(&mut s, b"HTTP/1.1 200 OK\r\n").await;
        for i in 0..100_000 {
            if s.write_all(format!("x-h{i}: v\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = s.write_all(b"content-length: 2\r\n\r\n{}").await;
    })
    .await;
    let (engine, id) = check_one(&server.url, opts()).await;
    assert_eq!(status(&engine, id), Status::Unreachable);
    let error = only_error(&engine, id);
    assert!(error.contains("request to proxy failed"), "{error}");
}

#[tokio::test]
async fn a_one_mebibyte_header_is_a_protocol_error() {
    let server = RawProxy::start(|mut s| async move {
        answer(&mut s, b"HTTP/1.1 200 OK\r\nx-big: ").await;
        let _ = s.write_all(&vec![b'a'; 1024 * 1024]).await;
        let _ = s.write_all(b"\r\ncontent-length: 2\r\n\r\n{}").await;
    })
    .await;
    let (engine, id) = check_one(&server.url, opts()).await;
    assert_eq!(status(&engine, id), Status::Unreachable);
    assert!(only_error(&engine, id).contains("request to proxy failed"));
}

#[tokio::test]
async fn garbage_instead_of_http_is_unreachable_with_the_parse_error() {
    let server = RawProxy::start(|mut s| async move {
        answer(&mut s, b"\x00\x01\x02 this is not http\r\n\r\n").await;
    })
    .await;
    let (engine, id) = check_one(&server.url, opts()).await;
    assert_eq!(status(&engine, id), Status::Unreachable);
    let error = only_error(&engine, id);
    assert!(error.to_lowercase().contains("invalid"), "{error}");
}

#[tokio::test]
async fn a_connection_reset_mid_body_is_unhealthy_and_says_the_read_failed() {
    let server = RawProxy::start(|mut s| async move {
        answer(&mut s, b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"errors\":").await;
        let _ = s.set_zero_linger();
        drop(s);
    })
    .await;
    let (engine, id) = check_one(&server.url, opts()).await;
    assert_eq!(status(&engine, id), Status::Unhealthy);
    let error = only_error(&engine, id);
    assert!(
        error.contains(
            "failed to decode health report body: the connection failed while reading the body"
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_report_that_is_not_utf8_is_unhealthy() {
    let server = RawProxy::start(|mut s| async move {
        answer(&mut s, b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n{\"errors\":[\"\xff\xfe\"]}").await;
    })
    .await;
    let (engine, id) = check_one(&server.url, opts()).await;
    assert_eq!(status(&engine, id), Status::Unhealthy);
    assert!(
        only_error(&engine, id).contains("invalid unicode code point"),
        "{}",
        only_error(&engine, id)
    );
}

#[tokio::test]
async fn json_nested_a_hundred_thousand_levels_is_refused_without_overflow() {
    let server = RawProxy::start(|mut s| async move {
        let body = "[".repeat(100_000);
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        answer(&mut s, head.as_bytes()).await;
        let _ = s.write_all(body.as_bytes()).await;
    })
    .await;
    let (engine, id) = check_one(&server.url, opts()).await;
    assert_eq!(status(&engine, id), Status::Unhealthy);
    assert!(only_error(&engine, id).contains("recursion limit exceeded"));
}

#[tokio::test]
async fn a_report_with_a_hundred_thousand_errors_is_kept_bounded_and_says_it_was_cut() {
    let server = RawProxy::start(|mut s| async move {
        let errors: Vec<String> = (0..100_000).map(|i| format!("\"e{i}\"")).collect();
        let body = format!("{{\"errors\":[{}]}}", errors.join(","));
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        answer(&mut s, head.as_bytes()).await;
        let _ = s.write_all(body.as_bytes()).await;
    })
    .await;
    let (engine, id) = check_one(
        &server.url,
        EngineOptions {
            body_cap: 4 * 1024 * 1024,
            ..opts()
        },
    )
    .await;
    let status = engine.status_of(&id).expect("status");
    assert_eq!(status.status, Status::Unhealthy);
    assert_eq!(status.report.errors.len(), 101);
    assert_eq!(
        status.report.errors[100],
        "[report cut: 99900 more errors were not kept (limit 100)]"
    );
}

#[tokio::test]
async fn a_ten_mebibyte_error_string_is_refused_by_the_cap_or_cut_when_the_cap_allows() {
    let server = RawProxy::start(|mut s| async move {
        let body = format!("{{\"errors\":[\"{}\"]}}", "x".repeat(10 * 1024 * 1024));
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        answer(&mut s, head.as_bytes()).await;
        let _ = s.write_all(body.as_bytes()).await;
    })
    .await;
    let (engine, id) = check_one(&server.url, opts()).await;
    assert!(only_error(&engine, id).contains("the body is larger than the limit of 1048576 bytes"));
    let (engine, id) = check_one(
        &server.url,
        EngineOptions {
            body_cap: 16 * 1024 * 1024,
            ..opts()
        },
    )
    .await;
    let error = only_error(&engine, id);
    assert!(error.len() < 9 * 1024, "kept {} bytes", error.len());
    assert!(
        error.ends_with("… [cut: 10477568 more bytes were not kept]"),
        "{}",
        &error[error.len() - 60..]
    );
}

async fn ok_server(bind: &str) -> RawProxy {
    RawProxy::start_on(bind, |mut s| async move {
        let head = read_head(&mut s).await;
        let path = head.split_whitespace().nth(1).unwrap_or_default().to_owned();
        let (status, body) = if path == "/healthz-report" {
            ("200 OK", r#"{"errors":[]}"#.to_owned())
        } else {
            ("404 Not Found", format!(r#"{{"message":"no route {path}"}}"#))
        };
        let response = format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
        let _ = s.write_all(response.as_bytes()).await;
    })
    .await
}

#[tokio::test]
async fn a_url_with_userinfo_is_checked_and_its_host_has_no_credentials() {
    let server = ok_server("127.0.0.1:0").await;
    let url = format!("http://user:secret@{}", server.addr);
    let (engine, id) = check_one(&url, opts()).await;
    let status = engine.status_of(&id).expect("status");
    assert_eq!(status.status, Status::Ok);
    assert_eq!(
        status.host.as_ref().expect("host").host,
        server.addr.to_string()
    );
}

#[tokio::test]
async fn an_ipv6_literal_is_checked_with_its_brackets_in_the_host() {
    let server = ok_server("[::1]:0").await;
    let (engine, id) = check_one(&server.url, opts()).await;
    let status = engine.status_of(&id).expect("status");
    assert_eq!(status.status, Status::Ok, "{:?}", status.report);
    assert_eq!(
        status.host.as_ref().expect("host").host,
        format!("[::1]:{}", server.addr.port())
    );
}

#[tokio::test]
async fn one_trailing_slash_is_trimmed_and_a_second_one_is_kept_and_reported() {
    let server = ok_server("127.0.0.1:0").await;
    let (engine, id) = check_one(&format!("{}/", server.url), opts()).await;
    assert_eq!(status(&engine, id), Status::Ok);
    let (engine, id) = check_one(&format!("{}//", server.url), opts()).await;
    assert_eq!(status(&engine, id), Status::Unhealthy);
    let error = only_error(&engine, id);
    assert!(error.starts_with(&format!("unexpected status code 404. \nEncountered error, send a request to \"{}//healthz-report\"", server.url)), "{error}");
    assert!(
        error.contains("Error Message: no route //healthz-report"),
        "{error}"
    );
}

#[tokio::test]
async fn an_odd_port_is_kept_in_the_host() {
    let url = "http://127.0.0.1:1";
    let (engine, id) = check_one(url, opts()).await;
    let status = engine.status_of(&id).expect("status");
    assert_eq!(status.status, Status::Unreachable);
    assert_eq!(status.host.as_ref().expect("host").host, "127.0.0.1:1");
}

#[tokio::test]
async fn tls_spoken_to_a_plain_port_is_unreachable_with_a_tls_error() {
    let server = ok_server("127.0.0.1:0").await;
    let url = format!("https://{}", server.addr);
    let (engine, id) = check_one(&url, opts()).await;
    assert_eq!(status(&engine, id), Status::Unreachable);
    let error = only_error(&engine, id);
    assert!(
        error.starts_with(&format!(
            "request to proxy failed: Get \"{url}/healthz-report\": "
        )),
        "{error}"
    );
}

/// A TLS proxy with a self-signed certificate for `localhost` that answers a report.
pub(crate) async fn tls_server() -> RawProxy {
    tls_server_with(|_request| {
        let body = r#"{"errors":[]}"#;
        format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())
    })
    .await
}

/// A TLS proxy with a self-signed certificate for `localhost` that gives each
/// request (its first bytes) the answer `respond` writes for it.
pub(crate) async fn tls_server_with(respond: fn(&str) -> String) -> RawProxy {
    tls_server_ending(respond, true).await
}

/// [`tls_server_with`], ending each connection with TLS's `close_notify`
/// when `close_notify`, or by closing the TCP connection alone.
pub(crate) async fn tls_server_ending(respond: fn(&str) -> String, close_notify: bool) -> RawProxy {
    use std::sync::Arc;
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let chain = vec![cert.cert.der().clone()];
    let key = tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(
        cert.signing_key.serialize_der().into(),
    );
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("a server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    RawProxy::start(move |stream| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(mut tls) = acceptor.accept(stream).await else {
                return;
            };
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 4096];
            let read = tls.read(&mut buf).await.unwrap_or(0);
            let response = respond(&String::from_utf8_lossy(&buf[..read]));
            let _ = tls.write_all(response.as_bytes()).await;
            if close_notify {
                let _ = tls.shutdown().await;
            } else {
                let _ = tls.flush().await;
            }
        }
    })
    .await
}

#[tokio::test]
async fn a_certificate_that_does_not_verify_is_unreachable_with_the_reason() {
    let server = tls_server().await;
    let url = format!("https://localhost:{}", server.addr.port());
    let (engine, id) = check_one(&url, opts()).await;
    assert_eq!(status(&engine, id), Status::Unreachable);
    let error = only_error(&engine, id);
    assert!(error.to_lowercase().contains("certificate"), "{error}");
}

#[tokio::test]
async fn a_certificate_that_does_not_verify_is_accepted_only_when_told_to() {
    let server = tls_server().await;
    let url = format!("https://localhost:{}", server.addr.port());
    let (engine, id) = check_one(
        &url,
        EngineOptions {
            tls_insecure: true,
            ..opts()
        },
    )
    .await;
    assert_eq!(
        status(&engine, id),
        Status::Ok,
        "{:?}",
        engine.status_of(&id).map(|s| s.report.clone())
    );
}

#[tokio::test]
async fn plain_http_to_a_tls_port_is_unreachable() {
    let server = tls_server().await;
    let (engine, id) = check_one(&server.url, opts()).await;
    assert_eq!(status(&engine, id), Status::Unreachable);
    assert!(
        only_error(&engine, id).starts_with("request to proxy failed: "),
        "{}",
        only_error(&engine, id)
    );
}

/// Answers `/moved` with a report and every other path with a redirect to it.
fn redirect_to_moved(request: &str) -> String {
    if request.starts_with("GET /moved ") {
        let body = r#"{"errors":[]}"#;
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    } else {
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: /moved\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
    }
}

fn following_insecure() -> EngineOptions {
    EngineOptions {
        tls_insecure: true,
        redirects: RedirectPolicy::SameHost,
        ..opts()
    }
}

#[tokio::test]
async fn a_same_host_https_redirect_is_followed_when_enabled() {
    let server = tls_server_with(redirect_to_moved).await;
    let url = format!("https://localhost:{}", server.addr.port());
    let (engine, id) = check_one(&url, following_insecure()).await;
    assert_eq!(
        status(&engine, id),
        Status::Ok,
        "{:?}",
        engine.status_of(&id).map(|s| s.report.clone())
    );
    let (engine, id) = check_one(
        &url,
        EngineOptions {
            tls_insecure: true,
            ..opts()
        },
    )
    .await;
    assert_eq!(status(&engine, id), Status::Unhealthy);
    assert!(
        only_error(&engine, id)
            .contains("\nThe proxy redirected to \"/moved\", which was not followed"),
        "{}",
        only_error(&engine, id)
    );
}

#[tokio::test]
async fn an_https_redirect_loop_is_unreachable_when_following() {
    let server = tls_server_with(|_request| {
        "HTTP/1.1 308 Permanent Redirect\r\nlocation: /healthz-report\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
    })
    .await;
    let url = format!("https://localhost:{}", server.addr.port());
    let (engine, id) = check_one(&url, following_insecure()).await;
    assert_eq!(status(&engine, id), Status::Unreachable);
    assert_eq!(
        only_error(&engine, id),
        format!(
            "request to proxy failed: Get \"{url}/healthz-report\": redirect loop at {url}/healthz-report"
        )
    );
}

//! A proxy URL with userinfo (`http://ops:PASSWORD@host`): the checker sends
//! it as Basic authentication on both transports, and what it keeps of a
//! check (the messages, which quote the URL and the libraries' errors) never
//! holds the password: the URL appears as `http://ops:xxxxx@host`.

use crate::helpers::*;
use crate::hostile::{tls_server, tls_server_with};
use proxyhealth_core::Status;
use proxyhealth_engine::{Engine, EngineOptions};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

const PASSWORD: &str = "s3cret-Pa55";
/// `base64("ops:s3cret-Pa55")`.
const BASIC: &str = "b3BzOnMzY3JldC1QYTU1";

async fn check(url: &str, tls_insecure: bool) -> (Engine, Uuid) {
    let p = proxy("with-userinfo", url);
    let options = EngineOptions {
        timeout: Duration::from_secs(2),
        tls_insecure,
        ..EngineOptions::default()
    };
    let engine = engine_with(ListSource::with(vec![p.clone()]), options);
    engine.force_update().await.expect("the sweep succeeds");
    (engine, p.id)
}

/// A report when the request carries the Basic credentials, a 401 otherwise.
fn answer_if_authorized(request: &str) -> String {
    let expected = format!("authorization: basic {}", BASIC.to_ascii_lowercase());
    let (status, body) = if request.to_ascii_lowercase().contains(&expected) {
        ("200 OK", r#"{"errors":[]}"#)
    } else {
        ("401 Unauthorized", r#"{"message":"who are you?"}"#)
    };
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn with_userinfo(url: &str) -> String {
    url.replacen("://", &format!("://ops:{PASSWORD}@"), 1)
}

#[tokio::test]
async fn userinfo_is_sent_as_basic_authentication_over_plain_http() {
    let server = RawProxy::start(|mut stream| async move {
        let head = read_head(&mut stream).await;
        let _ = stream
            .write_all(answer_if_authorized(&head).as_bytes())
            .await;
    })
    .await;
    let (engine, id) = check(&with_userinfo(&server.url), false).await;
    let status = engine.status_of(&id).expect("a status");
    assert_eq!(status.status, Status::Ok, "{:?}", status.report);
}

#[tokio::test]
async fn userinfo_is_sent_as_basic_authentication_over_tls() {
    let server = tls_server_with(answer_if_authorized).await;
    let url = with_userinfo(&format!("https://localhost:{}", server.addr.port()));
    let (engine, id) = check(&url, true).await;
    let status = engine.status_of(&id).expect("a status");
    assert_eq!(status.status, Status::Ok, "{:?}", status.report);
}

#[tokio::test]
async fn a_failing_check_names_the_url_with_the_password_redacted_on_both_transports() {
    let refused = refused_url().await;
    let tls = tls_server().await;
    let untrusted = format!("https://localhost:{}", tls.addr.port());
    for url in [refused, untrusted] {
        let (engine, id) = check(&with_userinfo(&url), false).await;
        assert_eq!(
            engine.status_of(&id).expect("a status").status,
            Status::Unreachable
        );
        let error = only_error(&engine, id);
        assert!(!error.contains(PASSWORD), "{error}");
        let shown = url.replacen("://", "://ops:xxxxx@", 1);
        assert!(
            error.starts_with(&format!(
                "request to proxy failed: Get \"{shown}/healthz-report\": "
            )),
            "{error}"
        );
    }
}

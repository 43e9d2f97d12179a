//! The exact words of the ways an `https://` check fails before or while
//! reading the answer: certificate refusals and alerts (the words `reqwest`'s
//! client gave, kept when the engine got its own TLS transport), a handshake
//! with something that does not speak TLS, a connection refused or reset, an
//! answer cut short or broken over TLS (the plain transport's words). The
//! texts are what an operator reads and what alerts match on, so each is
//! pinned in full (ports and the verification time aside).

use crate::helpers::*;
use crate::hostile::{tls_server_ending, tls_server_with};
use proxyhealth_core::Status;
use proxyhealth_core::advice::certificate_date;
use proxyhealth_engine::EngineOptions;
use proxyhealth_testkit::tls_server::{TestCa, TlsProxy};
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

fn opts() -> EngineOptions {
    EngineOptions {
        timeout: Duration::from_secs(3),
        ..EngineOptions::default()
    }
}

fn trusting(dir: &Path, ca: &TestCa) -> EngineOptions {
    let path = dir.join("ca.pem");
    std::fs::write(&path, ca.pem()).expect("write the CA file");
    EngineOptions {
        tls_ca_file: Some(path),
        ..opts()
    }
}

/// Checks `url` once with `options`; its status and its one error after the
/// `request to proxy failed: Get "<url>/healthz-report": ` prefix.
async fn failure(url: &str, options: EngineOptions) -> (Status, String) {
    let p = proxy("tls", url);
    let engine = engine_with(ListSource::with(vec![p.clone()]), options);
    engine.force_update().await.expect("the sweep succeeds");
    let status = engine.status_of(&p.id).expect("a status");
    let error = only_error(&engine, p.id);
    let prefix = format!("request to proxy failed: Get \"{url}/healthz-report\": ");
    let rest = error.strip_prefix(&prefix).unwrap_or(&error).to_owned();
    (status.status, rest)
}

/// The words before the library's text of a certificate refusal.
const UNKNOWN_CA: &str = "the proxy's TLS certificate is not signed by a certificate authority \
                          this checker trusts (a private CA is trusted with --tls-ca-file)";

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_refused_in_words_then_the_librarys() {
    let ca = TestCa::new("company CA");
    let server = TlsProxy::start(&ca.leaf(ca.spec())).await;
    let (status, error) = failure(&server.url, opts()).await;
    assert_eq!(status, Status::Unreachable);
    assert_eq!(
        error,
        format!("{UNKNOWN_CA} (client error (Connect): invalid peer certificate: UnknownIssuer)")
    );
}

#[tokio::test]
async fn an_expired_certificate_is_refused_naming_its_expiry_then_the_librarys_words() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = TestCa::new("company CA");
    let leaf = ca.leaf(ca.spec().expired_days_ago(3));
    let server = TlsProxy::start(&leaf).await;
    let (status, error) = failure(&server.url, trusting(dir.path(), &ca)).await;
    assert_eq!(status, Status::Unreachable);
    let words = format!(
        "the proxy's TLS certificate expired on {} (3 days ago) (client error (Connect): \
         invalid peer certificate: certificate expired: verification time ",
        certificate_date(leaf.not_after)
    );
    assert!(error.starts_with(&words), "{error}");
    let after = format!(
        "(UNIX), but certificate is not valid after {} (",
        leaf.not_after.unix_timestamp()
    );
    assert!(error.contains(&after), "{error}");
    assert!(error.ends_with(" seconds ago))"), "{error}");
}

#[tokio::test]
async fn a_certificate_not_valid_yet_is_refused_naming_when_it_will_be_then_the_librarys_words() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = TestCa::new("company CA");
    let spec = ca.spec().valid_from_days_ahead(5);
    let not_before = spec.not_before;
    let server = TlsProxy::start(&ca.leaf(spec)).await;
    let (status, error) = failure(&server.url, trusting(dir.path(), &ca)).await;
    assert_eq!(status, Status::Unreachable);
    let words = format!(
        "the proxy's TLS certificate is not valid yet: it becomes valid on {} (in 5 days); \
         check the certificate's dates and this machine's clock (client error (Connect): \
         invalid peer certificate: certificate not valid yet: verification time ",
        certificate_date(not_before)
    );
    assert!(error.starts_with(&words), "{error}");
    let before = format!(
        "(UNIX), but certificate is not valid before {} (",
        not_before.unix_timestamp()
    );
    assert!(error.contains(&before), "{error}");
    assert!(error.ends_with(" seconds in future))"), "{error}");
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused_naming_both_then_the_librarys_words() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca = TestCa::new("company CA");
    let server = TlsProxy::start(&ca.leaf(ca.spec().names(&["proxy.example.internal"]))).await;
    let (status, error) = failure(&server.url, trusting(dir.path(), &ca)).await;
    assert_eq!(status, Status::Unreachable);
    assert_eq!(
        error,
        "the proxy's TLS certificate is not valid for the name \"127.0.0.1\" the proxy URL uses: \
         it is for proxy.example.internal (client error (Connect): invalid peer certificate: \
         certificate not valid for name \"127.0.0.1\"; certificate is only valid for \
         DnsName(\"proxy.example.internal\"))"
    );
}

#[tokio::test]
async fn a_proxy_asking_for_a_client_certificate_none_was_given_for_says_which_flags_give_one() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (ca, clients) = (TestCa::new("company CA"), TestCa::new("client CA"));
    let server = TlsProxy::requiring_client_certificate(&ca.leaf(ca.spec()), &clients).await;
    let (status, error) = failure(&server.url, trusting(dir.path(), &ca)).await;
    assert_eq!(status, Status::Unreachable);
    assert_eq!(
        error,
        "the proxy requires a TLS client certificate (mutual TLS) and this checker sent none \
         (set --tls-client-cert and --tls-client-key) (client error (SendRequest): connection \
         error: received fatal alert: CertificateRequired)"
    );
}

#[tokio::test]
async fn a_proxy_refusing_the_client_certificate_names_its_alert() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (ca, clients, strangers) = (
        TestCa::new("company CA"),
        TestCa::new("client CA"),
        TestCa::new("stranger CA"),
    );
    let server = TlsProxy::requiring_client_certificate(&ca.leaf(ca.spec()), &clients).await;
    let (cert, key) = strangers
        .leaf(strangers.spec().names(&["checker"]).client())
        .write(dir.path(), "stranger");
    let options = EngineOptions {
        tls_client_cert: Some(cert),
        tls_client_key: Some(key),
        ..trusting(dir.path(), &ca)
    };
    let (status, error) = failure(&server.url, options).await;
    assert_eq!(status, Status::Unreachable);
    assert_eq!(
        error,
        "the proxy refused this checker's TLS client certificate (it answered UnknownCA) \
         (client error (SendRequest): connection error: received fatal alert: UnknownCA)"
    );
}

#[tokio::test]
async fn a_port_answering_plain_http_to_the_handshake_is_a_corrupt_message() {
    let server = RawProxy::start(|mut stream| async move {
        let _ = stream
            .write_all(json_answer(r#"{"errors":[]}"#).as_bytes())
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    })
    .await;
    let (status, error) = failure(&format!("https://{}", server.addr), opts()).await;
    assert_eq!(status, Status::Unreachable);
    assert_eq!(
        error,
        "client error (Connect): received corrupt message of type InvalidContentType"
    );
}

#[tokio::test]
async fn a_connection_reset_during_the_handshake_says_so() {
    let server = RawProxy::start(|stream| async move {
        // Closing with the client's hello unread resets the connection.
        let _ = stream.readable().await;
        drop(stream);
    })
    .await;
    let (status, error) = failure(&format!("https://{}", server.addr), opts()).await;
    assert_eq!(status, Status::Unreachable);
    assert_eq!(
        error,
        "client error (Connect): Connection reset by peer (os error 104)"
    );
}

#[tokio::test]
async fn a_refused_connection_is_told_as_on_plain_http() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let (status, error) = failure(&format!("https://{addr}"), opts()).await;
    assert_eq!(status, Status::Unreachable);
    assert_eq!(
        error,
        format!("tcp connect error: {addr}: Connection refused (os error 111)")
    );
}

#[tokio::test]
async fn a_handshake_never_answered_times_out_awaiting_the_headers() {
    let server = RawProxy::start(|stream| async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(stream);
    })
    .await;
    let options = EngineOptions {
        timeout: Duration::from_millis(300),
        ..opts()
    };
    let (status, error) = failure(&format!("https://{}", server.addr), options).await;
    assert_eq!(status, Status::Unreachable);
    assert_eq!(error, "timed out after 300ms awaiting response headers");
}

fn insecure() -> EngineOptions {
    EngineOptions {
        tls_insecure: true,
        ..opts()
    }
}

/// A `localhost` URL for a test TLS server.
fn localhost(server: &RawProxy) -> String {
    format!("https://localhost:{}", server.addr.port())
}

#[tokio::test]
async fn a_tls_proxy_closing_without_an_answer_is_unreachable_as_on_plain_http() {
    let server = tls_server_with(|_| String::new()).await;
    let (status, error) = failure(&localhost(&server), insecure()).await;
    assert_eq!(status, Status::Unreachable);
    assert_eq!(error, "connection closed before message completed");
}

#[tokio::test]
async fn a_tls_proxy_closing_without_close_notify_is_unreachable_as_on_plain_http() {
    let server = tls_server_ending(
        |_| "HTTP/1.1 200 OK\r\ncontent-type: appl".to_owned(),
        false,
    )
    .await;
    let (status, error) = failure(&localhost(&server), insecure()).await;
    assert_eq!(status, Status::Unreachable);
    assert_eq!(error, "connection closed before message completed");
}

#[tokio::test]
async fn garbage_over_tls_is_an_invalid_response_as_on_plain_http() {
    let server = tls_server_with(|_| "HELLO THERE\r\n\r\n".to_owned()).await;
    let (status, error) = failure(&localhost(&server), insecure()).await;
    assert_eq!(status, Status::Unreachable);
    assert_eq!(error, "invalid HTTP response: invalid HTTP version");
}

#[tokio::test]
async fn a_body_cut_short_over_tls_says_how_much_came() {
    let server = tls_server_with(|_| {
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"errors\":[]}".to_owned()
    })
    .await;
    let url = localhost(&server);
    let (status, error) = failure(&url, insecure()).await;
    assert_eq!(status, Status::Unhealthy);
    assert_eq!(
        error,
        format!(
            "proxy url \"{url}/healthz-report\" is not a coder proxy instance, verify the url is \
             correct\nreceived a status code 200, but failed to decode health report body: the \
             connection failed while reading the body: the proxy closed the connection after 13 \
             of the 100 bytes it declared"
        )
    );
}

#[tokio::test]
async fn a_chunked_answer_over_tls_is_decoded() {
    let server = tls_server_with(|_| {
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nd\r\n{\"errors\":[]}\r\n0\r\n\r\n".to_owned()
    })
    .await;
    let p = proxy("tls", &localhost(&server));
    let engine = engine_with(ListSource::with(vec![p.clone()]), insecure());
    engine.force_update().await.expect("the sweep succeeds");
    let status = engine.status_of(&p.id).expect("a status");
    assert_eq!(status.status, Status::Ok, "{:?}", status.report);
    assert!(status.tls_not_after.is_some());
}

//! The costly server stack and TLS: the same answers as the lean stack, served
//! another way.

use crate::client::get;
use proxyhealth_sim::bodies::OK_BODY;
use proxyhealth_sim::{Fleet, FleetSpec, Kind, Serving, SimTls, Stack};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

const KINDS: [Kind; 5] = [
    Kind::Ok,
    Kind::OkWithWarnings,
    Kind::Errors,
    Kind::ServerError,
    Kind::NonJson200,
];

fn one_of_each(serving: Serving) -> FleetSpec {
    FleetSpec::new(&KINDS.map(|kind| (kind, 1))).serving(serving)
}

/// The body as JSON when it is JSON, else as text (the costly stack re-encodes
/// its JSON, so only the value must match).
fn meaning(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into()))
}

#[tokio::test]
async fn a_costly_proxy_answers_every_kind_as_the_lean_one_does() {
    let lean = Fleet::start(one_of_each(Serving::default()))
        .await
        .expect("lean fleet");
    let costly = Fleet::start(one_of_each(Serving {
        stack: Stack::Costly { work: 4 },
        tls: None,
    }))
    .await
    .expect("costly fleet");
    for (l, c) in lean.proxies().iter().zip(costly.proxies()) {
        assert_eq!(l.kind, c.kind);
        let want = get(l.addr, "/healthz-report").await.expect("lean answer");
        let got = get(c.addr, "/healthz-report").await.expect("costly answer");
        assert_eq!(got.status, want.status, "{}", c.kind);
        assert_eq!(meaning(&got.body), meaning(&want.body), "{}", c.kind);
        assert_eq!(
            got.header("content-type"),
            want.header("content-type"),
            "{}",
            c.kind
        );
        assert!(got.header("x-request-id").is_some(), "{}", c.kind);
        assert!(got.header("etag").is_some(), "{}", c.kind);
    }
    let missing = get(costly.proxies()[0].addr, "/nope").await.expect("404");
    assert_eq!(missing.status, 404);
    assert_eq!(costly.requests(), 5);
}

#[tokio::test]
async fn a_tls_fleet_serves_its_report_over_https_with_its_own_certificate() {
    let tls = SimTls::self_signed().expect("identity");
    let fleet = Fleet::start(FleetSpec::uniform(Kind::Ok, 2).serving(Serving {
        stack: Stack::Lean,
        tls: Some(tls.clone()),
    }))
    .await
    .expect("fleet");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(tls.cert_pem().as_bytes()).expect("PEM"))
        .expect("trust");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    for proxy in fleet.proxies() {
        assert!(proxy.url.starts_with("https://127.1.0."), "{}", proxy.url);
        let tcp = TcpStream::connect(proxy.addr).await.expect("connect");
        // The certificate names localhost: the fleet's addresses are all loopback.
        let name = ServerName::try_from("localhost").expect("name");
        let mut stream = connector.connect(name, tcp).await.expect("handshake");
        stream
            .write_all(
                b"GET /healthz-report HTTP/1.1\r\nHost: sim.test\r\nConnection: close\r\n\r\n",
            )
            .await
            .expect("send");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.ends_with(OK_BODY), "{text}");
    }
}

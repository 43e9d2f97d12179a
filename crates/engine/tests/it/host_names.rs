//! Proxies found by host name, looked up at a real DNS server on loopback
//! (`EngineOptions::dns_server`): the lookup counts inside the check's timeout,
//! and a name that hangs or does not exist says so, on both transports.

use crate::helpers::*;
use crate::hostile::tls_server;
use proxyhealth_core::Status;
use proxyhealth_engine::{Engine, EngineOptions};
use proxyhealth_testkit::dns_server::LOOPBACK;
use proxyhealth_testkit::{DnsAnswer, DnsServer, FakeProxy};
use std::time::{Duration, Instant};
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_millis(1500);
/// What a check may take past its timeout (scheduling on a busy machine).
const MARGIN: Duration = Duration::from_millis(750);

const ANSWERED: &str = "ok.proxyhealth.test";
const SILENT: &str = "hang.proxyhealth.test";
const MISSING: &str = "missing.proxyhealth.test";

/// The test zone: one name answered with 127.0.0.1, one never answered;
/// every other name (such as [`MISSING`]) does not exist.
async fn dns() -> DnsServer {
    DnsServer::start([
        (ANSWERED, DnsAnswer::Address(LOOPBACK)),
        (SILENT, DnsAnswer::Silence),
    ])
    .await
}

/// Checks `url` once with names looked up at `dns`; returns how long the sweep took.
async fn check(dns: &DnsServer, url: &str, tls_insecure: bool) -> (Engine, Uuid, Duration) {
    let p = proxy("by-name", url);
    let options = EngineOptions {
        timeout: TIMEOUT,
        dns_server: Some(dns.addr),
        tls_insecure,
        ..EngineOptions::default()
    };
    let engine = engine_with(ListSource::with(vec![p.clone()]), options);
    let started = Instant::now();
    engine.force_update().await.expect("the sweep succeeds");
    (engine, p.id, started.elapsed())
}

fn status(engine: &Engine, id: Uuid) -> Status {
    engine.status_of(&id).expect("a status").status
}

#[tokio::test]
async fn a_name_whose_resolver_never_answers_is_unreachable_at_the_timeout_saying_the_lookup_timed_out()
 {
    let dns = dns().await;
    for scheme in ["http", "https"] {
        let url = format!("{scheme}://{SILENT}:8443");
        let (engine, id, took) = check(&dns, &url, false).await;
        assert_eq!(status(&engine, id), Status::Unreachable, "{url}");
        assert!(
            took >= TIMEOUT && took < TIMEOUT + MARGIN,
            "{url}: the sweep took {took:?}"
        );
        assert_eq!(
            only_error(&engine, id),
            format!(
                "request to proxy failed: Get \"{url}/healthz-report\": dns lookup of \"{SILENT}\" \
                 timed out after 1.5s (the timeout covers the whole request)"
            )
        );
    }
    assert!(dns.query_count() >= 2, "the server was asked");
}

#[tokio::test]
async fn a_name_that_does_not_exist_is_unreachable_saying_there_is_no_such_host() {
    let dns = dns().await;
    for scheme in ["http", "https"] {
        let url = format!("{scheme}://{MISSING}:8443");
        let (engine, id, took) = check(&dns, &url, false).await;
        assert_eq!(status(&engine, id), Status::Unreachable, "{url}");
        assert!(took < TIMEOUT, "{url}: an answer does not wait: {took:?}");
        assert_eq!(
            only_error(&engine, id),
            format!(
                "request to proxy failed: Get \"{url}/healthz-report\": dns lookup of \
                 \"{MISSING}\" failed: no such host (the name does not exist)"
            )
        );
    }
}

#[tokio::test]
async fn an_answered_name_is_checked_at_its_address_over_plain_http() {
    let dns = dns().await;
    let proxy = FakeProxy::report(r#"{"errors":[],"warnings":[]}"#.to_owned()).await;
    let port = proxy.url.rsplit(':').next().expect("a port");
    let url = format!("http://{ANSWERED}:{port}");
    let (engine, id, _) = check(&dns, &url, false).await;
    assert_eq!(
        status(&engine, id),
        Status::Ok,
        "{:?}",
        engine.status_of(&id).map(|s| s.report.clone())
    );
    assert_eq!(proxy.hits(), 1);
    let host = engine.status_of(&id).and_then(|s| s.host.clone());
    assert_eq!(host.expect("a host").host, format!("{ANSWERED}:{port}"));
}

#[tokio::test]
async fn an_answered_name_is_checked_at_its_address_over_tls() {
    let dns = dns().await;
    let server = tls_server().await;
    let url = format!("https://{ANSWERED}:{}", server.addr.port());
    // The test certificate is for `localhost`: this test is about the address.
    let (engine, id, _) = check(&dns, &url, true).await;
    assert_eq!(
        status(&engine, id),
        Status::Ok,
        "{:?}",
        engine.status_of(&id).map(|s| s.report.clone())
    );
}

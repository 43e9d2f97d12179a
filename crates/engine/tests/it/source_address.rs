//! `source_address`: every check's connection is made from the local address
//! the options name, on both transports, as the proxy sees it; an address
//! the connection cannot be made from is the check's error, naming it.

use crate::helpers::*;
use proxyhealth_core::Status;
use proxyhealth_engine::{CheckResult, EngineOptions, sweep_once};
use proxyhealth_testkit::tls_server::{TestCa, TlsProxy};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

const REPORT: &str = r#"{"errors":[],"warnings":[]}"#;

fn from(source: Option<IpAddr>) -> EngineOptions {
    EngineOptions {
        timeout: Duration::from_secs(3),
        source_address: source,
        ..EngineOptions::default()
    }
}

/// Checks `url` once, as an agent does.
async fn check_once(url: &str, options: &EngineOptions) -> CheckResult {
    let mut results = sweep_once(vec![proxy("source", url)], options, |_, _| {})
        .await
        .expect("the sweep runs");
    results.pop().expect("one result")
}

#[tokio::test]
async fn a_check_from_127_0_0_2_is_seen_by_the_proxy_as_coming_from_127_0_0_2() {
    let fake = FakeProxy::report(REPORT.to_owned()).await;
    let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let result = check_once(&fake.url, &from(Some(source))).await;
    assert_eq!(result.verdict.status, Status::Ok, "{:?}", result.verdict);
    let peer = fake.last_peer.lock().expect("a request came");
    assert_eq!(peer.ip(), source);
}

#[tokio::test]
async fn without_a_source_address_the_system_picks_one() {
    let fake = FakeProxy::report(REPORT.to_owned()).await;
    let result = check_once(&fake.url, &from(None)).await;
    assert_eq!(result.verdict.status, Status::Ok, "{:?}", result.verdict);
    let peer = fake.last_peer.lock().expect("a request came");
    assert_eq!(peer.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
}

#[tokio::test]
async fn an_https_check_from_127_0_0_3_is_seen_by_the_proxy_as_coming_from_127_0_0_3() {
    let ca = TestCa::new("company CA");
    let server = TlsProxy::start(&ca.leaf(ca.spec())).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("write the CA");
    let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
    let options = EngineOptions {
        tls_ca_file: Some(ca_file),
        ..from(Some(source))
    };
    let result = check_once(&server.url, &options).await;
    assert_eq!(result.verdict.status, Status::Ok, "{:?}", result.verdict);
    let peer = server.last_peer.lock().expect("a connection came");
    assert_eq!(peer.ip(), source);
}

#[tokio::test]
async fn a_source_address_of_the_other_family_makes_the_proxy_unreachable_and_is_named() {
    let fake = FakeProxy::report(REPORT.to_owned()).await;
    let source = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let result = check_once(&fake.url, &from(Some(source))).await;
    assert_eq!(result.verdict.status, Status::Unreachable);
    let error = &result.verdict.report.errors[0];
    let addr = fake.url.trim_start_matches("http://");
    assert!(
        error.contains(&format!("tcp connect error: {addr}: binding to ::1: ")),
        "{error}"
    );
    assert_eq!(fake.hits(), 0);
}

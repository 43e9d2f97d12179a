//! `check --dns-server`: host names looked up at a real DNS server on loopback;
//! an answered name is checked at its address, a missing one says there is no
//! such host, and one the server never answers ends at the timeout saying the
//! lookup timed out.

use crate::support::{async_command, stderr, stdout, write};
use proxyhealth_sim::{Kind, spawn};
use proxyhealth_testkit::dns_server::LOOPBACK;
use proxyhealth_testkit::{DnsAnswer, DnsServer};
use serde_json::Value;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_looks_names_up_at_the_dns_server_it_is_given() {
    let dns = DnsServer::start([
        ("eu.proxies.test", DnsAnswer::Address(LOOPBACK)),
        ("hang.proxies.test", DnsAnswer::Silence),
    ])
    .await;
    let ok = spawn(Kind::Ok).await.expect("spawn");
    let port = ok.url().rsplit(':').next().expect("a port").to_owned();
    let dir = tempfile::tempdir().expect("temp dir");
    let targets = write(
        dir.path(),
        "targets.txt",
        &format!(
            "http://eu.proxies.test:{port}\tanswered\n\
             https://missing.proxies.test\tmissing\n\
             http://hang.proxies.test:{port}\thanging\n"
        ),
    );
    let started = Instant::now();
    let output = async_command()
        .arg("check")
        .arg("--targets")
        .arg(&targets)
        .args(["--timeout", "1s", "-o", "json"])
        .arg("--dns-server")
        .arg(dns.addr.to_string())
        .output()
        .await
        .expect("run check");
    let took = started.elapsed();
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}{}", stderr(&output));
    assert!(took < Duration::from_secs(5), "check took {took:?}");
    let document: Value = serde_json::from_str(&text).expect("JSON");
    let proxy = |name: &str| {
        document["proxies"]
            .as_array()
            .expect("proxies")
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .expect("the proxy")
    };
    assert_eq!(proxy("answered")["status"], "ok", "{text}");
    let missing = proxy("missing");
    assert_eq!(missing["status"], "unreachable", "{text}");
    assert!(
        missing["report"]["errors"][0]
            .as_str()
            .expect("an error")
            .ends_with("dns lookup of \"missing.proxies.test\" failed: no such host (the name does not exist)"),
        "{text}"
    );
    let hanging = proxy("hanging");
    assert_eq!(hanging["status"], "unreachable", "{text}");
    assert!(
        hanging["report"]["errors"][0]
            .as_str()
            .expect("an error")
            .ends_with("dns lookup of \"hang.proxies.test\" timed out after 1s (the timeout covers the whole request)"),
        "{text}"
    );
    ok.shutdown().await;
}

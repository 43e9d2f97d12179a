//! The `/metrics` scrape passes Prometheus's own linter, `promtool check metrics`.

use crate::support::{Server, run, stderr, stdout};
use proxyhealth_sim::Kind;
use std::io::Write;
use std::process::{Command, Stdio};

/// A blocking request with the admin token; returns the status and the body.
fn request(method: reqwest::Method, url: &str, token: &str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let response = proxyhealth_api::http::client()
            .request(method, url)
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    })
}

/// Whether promtool is installed; with `CI=true` its absence fails the test.
pub(crate) fn promtool_available() -> bool {
    let found = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "promtool is not installed and CI=true: scripts/test installs Debian's prometheus package"
        );
        eprintln!("!!! skipped: promtool not installed (install Debian's prometheus package) !!!");
    }
    found
}

#[test]
fn a_scrape_of_metrics_passes_promtool_check_metrics() {
    if !promtool_available() {
        return;
    }
    let server = Server::start(&[]);
    let created =
        run(server
            .cli()
            .args(["proxies", "create", "--name", "eu-west", "--only-token"]));
    assert!(
        created.status.success(),
        "create: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    let (status, _) = request(
        reqwest::Method::POST,
        &format!("{}/api/v2/workspaceproxies/refresh", server.url),
        &server.token,
    );
    assert_eq!(status, 200, "refresh");
    let (status, scrape) = request(reqwest::Method::GET, &format!("{}/metrics", server.url), "");
    assert_eq!(status, 200, "scrape");
    assert!(
        scrape.contains("coderd_proxyhealth_health_check_results{proxy_id="),
        "{scrape}"
    );
    assert!(
        scrape.contains("coderd_proxyhealth_health_check_duration_seconds_bucket"),
        "{scrape}"
    );

    promtool_check(&scrape);
}

/// Asserts that `promtool check metrics` passes `scrape`.
pub(crate) fn promtool_check(scrape: &str) {
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(scrape.as_bytes())
        .expect("feed the scrape");
    let checked = promtool.wait_with_output().expect("promtool");
    assert!(
        checked.status.success(),
        "promtool check metrics failed:\n{}{}\nscrape:\n{scrape}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_with_every_per_proxy_series_passes_promtool_check_metrics() {
    if !promtool_available() {
        return;
    }
    let server = Server::start(&["--interval", "1h"]);
    let created =
        run(server
            .cli()
            .args(["proxies", "create", "--name", "eu-west", "--only-token"]));
    assert!(created.status.success(), "create: {}", stderr(&created));
    let token = stdout(&created).trim().to_owned();
    let sim = proxyhealth_sim::spawn(Kind::Ok)
        .await
        .expect("spawn a simulated proxy");
    crate::fleet::register(&server, &token, sim.url()).await;
    // ok, then down: a status change counted
    server.api().refresh().await.expect("refresh");
    sim.set_kind(Kind::Refused)
        .await
        .expect("take the proxy down");
    server.api().refresh().await.expect("refresh");
    let scrape = proxyhealth_api::http::client()
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("scrape text");
    for family in [
        "proxyhealth_proxy_info{",
        "proxyhealth_check_latency_seconds{",
        "proxyhealth_last_check_timestamp_seconds{",
        "proxyhealth_last_sweep_timestamp_seconds ",
        "proxyhealth_sweep_interval_seconds 3600\n",
    ] {
        assert!(scrape.contains(family), "no {family} in\n{scrape}");
    }
    assert!(
        scrape.contains("to=\"unreachable\"} 1\n"),
        "the change to unreachable counted:\n{scrape}"
    );
    promtool_check(&scrape);
}

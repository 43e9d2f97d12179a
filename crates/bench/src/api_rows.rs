//! The API row at fleet scale: the service on SQLite with 10,000 and 100,000
//! registered (refused) proxies, and the time and bytes of the list routes
//! (whole, as Coder's clients read it, and paged, filtered and sorted), of
//! `/api/v2/regions`, and of the event stream's `proxies` view (its first
//! event, and the change a sweep that changes nothing sends).

use crate::child::Service;
use crate::dashboard_serve::{ADMIN_TOKEN, DashboardReady};
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// One request's figures: the median time of the runs, and the body's bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timed {
    /// What was asked.
    pub what: String,
    /// Median milliseconds.
    pub ms: f64,
    /// Body bytes.
    pub bytes: usize,
}

/// The API row at one size.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ApiReport {
    /// Registered proxies.
    pub proxies: usize,
    /// Seconds to create and register them (SQLite).
    pub fill_s: f64,
    /// Each request.
    pub requests: Vec<Timed>,
    /// Milliseconds from connecting a `view=proxies` stream to its first event.
    pub stream_first_ms: f64,
    /// Bytes of the change a sweep that changes nothing sends.
    pub stream_delta_bytes: usize,
    /// The machine's load average (1 min) before and after the requests.
    #[serde(default)]
    pub loadavg: (f64, f64),
}

/// Runs requests against the service with `count` proxies.
pub async fn run(count: usize) -> anyhow::Result<ApiReport> {
    let serve_args = vec![
        "serve-dashboard".to_owned(),
        "--count".to_owned(),
        count.to_string(),
    ];
    let (server, ready) =
        Service::start::<DashboardReady>(&serve_args, Duration::from_secs(1200)).await?;
    eprintln!(
        "   service with {} proxies (filled in {:.1} s, first sweep {:.2} s)",
        ready.proxies, ready.fill_s, ready.sweep_s
    );
    let result = measure(&ready).await;
    server.stop().await?;
    let mut report = result?;
    report.proxies = ready.proxies;
    report.fill_s = ready.fill_s;
    Ok(report)
}

const REQUESTS: &[(&str, &str)] = &[
    ("list, whole (Coder's)", "/api/v2/workspaceproxies"),
    (
        "list, first page of 100",
        "/api/v2/workspaceproxies?limit=100",
    ),
    (
        "list, a page far in, by latency",
        "/api/v2/workspaceproxies?sort=-latency&offset=5000&limit=100",
    ),
    (
        "list, status filter",
        "/api/v2/workspaceproxies?status=unreachable&limit=100",
    ),
    (
        "list, name search",
        "/api/v2/workspaceproxies?name=region-0099&limit=100",
    ),
    (
        "list, a page of 1000 (the dashboard's read)",
        "/api/v2/workspaceproxies?sort=name&offset=0&limit=1000",
    ),
    ("/api/v2/regions", "/api/v2/regions"),
];

async fn measure(ready: &DashboardReady) -> anyhow::Result<ApiReport> {
    let http = proxyhealth_api::http::client_builder().no_proxy().build()?;
    let mut report = ApiReport::default();
    let load_start = loadavg();
    for (what, path) in REQUESTS {
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..5 {
            let started = Instant::now();
            let body = http
                .get(format!("{}{path}", ready.url))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            bytes = body.len();
        }
        let ms = crate::table::median(times).unwrap_or_default();
        eprintln!("   {what}: {ms:.1} ms, {bytes} bytes");
        report.requests.push(Timed {
            what: (*what).to_owned(),
            ms,
            bytes,
        });
    }
    let started = Instant::now();
    let mut stream = http
        .get(format!(
            "{}/api/v2/proxyhealth/events?view=proxies",
            ready.url
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?
        .error_for_status()?;
    let mut buffer = String::new();
    next_change(&mut stream, &mut buffer).await?;
    report.stream_first_ms = started.elapsed().as_secs_f64() * 1000.0;
    http.post(format!("{}/api/v2/workspaceproxies/refresh", ready.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?
        .error_for_status()?;
    report.stream_delta_bytes = next_change(&mut stream, &mut buffer).await?;
    report.loadavg = (load_start, loadavg());
    eprintln!(
        "   events: first in {:.1} ms; a sweep that changed nothing: {} bytes",
        report.stream_first_ms, report.stream_delta_bytes
    );
    Ok(report)
}

/// The size of the next `proxies` event.
async fn next_change(stream: &mut reqwest::Response, buffer: &mut String) -> anyhow::Result<usize> {
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if block.lines().any(|line| line == "event: proxies") {
                return Ok(block.len());
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(120), stream.chunk())
            .await
            .context("no event within 120 s")??;
        let Some(chunk) = chunk else {
            bail!("the stream ended");
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// The machine's load average over the last minute (0 when unreadable).
fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

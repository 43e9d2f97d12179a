//! The dashboard row: a real headless Chromium against the service with
//! 10,000 registered proxies of a bad-day fleet on SQLite, sweeping every
//! interval. It reports the first view, the model read whole, search, filter
//! and sort, the longest main-thread task while live updates arrive, the
//! bytes of each update, and the service's CPU per connected dashboard per
//! sweep (extra streams of the same view connected for some sweeps).

use crate::child::Service;
use crate::dashboard_serve::{ADMIN_TOKEN, CpuAnswer, DashboardReady};
use crate::fleet::{FleetReady, MixArg};
use crate::run_args::RunArgs;
use anyhow::{Context, bail};
use proxyhealth_cdp::{Cdp, Chromium, Page};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What the dashboard row measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DashboardReport {
    /// Registered proxies.
    pub proxies: usize,
    /// Time between sweeps, seconds.
    pub interval_s: f64,
    /// From navigation to the first rows painted, milliseconds.
    pub first_view_ms: f64,
    /// From navigation to the whole fleet read into the page, milliseconds.
    pub model_ms: f64,
    /// Each search, filter and sort: what and how long (milliseconds, the
    /// handler and the layout after it).
    pub interactions: Vec<(String, f64)>,
    /// The longest main-thread task while live updates arrived, milliseconds.
    pub longest_task_ms: f64,
    /// Live updates the page applied while watched.
    pub updates: usize,
    /// Bytes of each `proxies` event (one per sweep).
    pub update_bytes: Vec<usize>,
    /// Bytes of the whole list, what each update cost before.
    pub whole_list_bytes: usize,
    /// Extra streams connected for the CPU measure.
    pub extra_streams: usize,
    /// The service's CPU seconds over a sweep with only the page connected.
    pub cpu_base_s: f64,
    /// The service's CPU seconds over a sweep with the extra streams too.
    pub cpu_with_streams_s: f64,
}

impl DashboardReport {
    /// The service's CPU per extra connected dashboard per sweep, ms.
    pub fn cpu_per_dashboard_ms(&self) -> f64 {
        (self.cpu_with_streams_s - self.cpu_base_s) * 1000.0 / self.extra_streams.max(1) as f64
    }
}

/// Collects the page's long tasks from the start (a `longtask` observer).
const LONGTASKS_JS: &str = "window.__longtasks = []; try { new PerformanceObserver((list) => { \
    for (const e of list.getEntries()) window.__longtasks.push([e.startTime, e.duration]); \
    }).observe({ type: 'longtask', buffered: true }); } catch (e) {}";

/// Runs the row: fleet, service, browser.
pub async fn run(args: &RunArgs, work_dir: &std::path::Path) -> anyhow::Result<DashboardReport> {
    let n = args.dashboard_count;
    let targets = work_dir.join(format!("targets-dashboard-{n}.tsv"));
    let fleet_args = vec![
        "fleet".to_owned(),
        "--count".to_owned(),
        n.to_string(),
        "--mix".to_owned(),
        MixArg::BadDay.name().to_owned(),
        "--targets".to_owned(),
        targets.display().to_string(),
        "--max-connections".to_owned(),
        (args.parallelism + 100).to_string(),
    ];
    let (fleet, ready) =
        Service::start::<FleetReady>(&fleet_args, Duration::from_secs(120)).await?;
    eprintln!("   fleet: {}", ready.summary);
    let result = with_fleet(args, &targets).await;
    fleet.stop().await?;
    result
}

async fn with_fleet(args: &RunArgs, targets: &std::path::Path) -> anyhow::Result<DashboardReport> {
    let serve_args = vec![
        "serve-dashboard".to_owned(),
        "--count".to_owned(),
        args.dashboard_count.to_string(),
        "--targets".to_owned(),
        targets.display().to_string(),
        "--interval".to_owned(),
        format!("{}ms", args.dashboard_interval.as_millis()),
        "--sweep-loop".to_owned(),
    ];
    let (mut server, ready) =
        Service::start::<DashboardReady>(&serve_args, Duration::from_secs(600)).await?;
    eprintln!(
        "   service at {} with {} proxies (filled in {:.1} s, first sweep {:.2} s)",
        ready.url, ready.proxies, ready.fill_s, ready.sweep_s
    );
    let result = measure(args, &ready, &mut server).await;
    server.stop().await?;
    result
}

async fn measure(
    args: &RunArgs,
    ready: &DashboardReady,
    server: &mut Service,
) -> anyhow::Result<DashboardReport> {
    let mut report = DashboardReport {
        proxies: ready.proxies,
        interval_s: args.dashboard_interval.as_secs_f64(),
        ..DashboardReport::default()
    };
    let http = proxyhealth_api::http::client_builder().no_proxy().build()?;
    report.whole_list_bytes = http
        .get(format!("{}/api/v2/workspaceproxies", ready.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?
        .len();

    let binary =
        proxyhealth_cdp::chromium::find().context("no Chromium found (PROXYHEALTH_CHROMIUM)")?;
    let browser = Chromium::launch(&binary)
        .await
        .map_err(anyhow::Error::msg)?;
    let cdp = Cdp::connect(&browser.ws_url)
        .await
        .map_err(anyhow::Error::msg)?;
    let result = in_browser(args, ready, server, &cdp, &http, &mut report).await;
    let _ = cdp.call(None, "Browser.close", json!({})).await;
    browser.close().await;
    result.map(|()| report)
}

async fn in_browser(
    args: &RunArgs,
    ready: &DashboardReady,
    server: &mut Service,
    cdp: &Cdp,
    http: &reqwest::Client,
    report: &mut DashboardReport,
) -> anyhow::Result<()> {
    let page = cdp.new_page().await.map_err(anyhow::Error::msg)?;
    page.set_viewport(1360, 900)
        .await
        .map_err(anyhow::Error::msg)?;
    page.call(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": LONGTASKS_JS}),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    page.navigate(&format!("{}/#token={ADMIN_TOKEN}", ready.url))
        .await
        .map_err(anyhow::Error::msg)?;
    let model_ms = wait_for(
        &page,
        "Number(document.body.dataset.modelMs || 0)",
        Duration::from_secs(120),
    )
    .await?;
    report.model_ms = model_ms;
    report.first_view_ms =
        eval_f64(&page, "Number(document.body.dataset.firstRowsMs || 0)").await?;
    eprintln!(
        "   first view {:.0} ms, whole fleet read {:.0} ms",
        report.first_view_ms, report.model_ms
    );
    for (what, js) in INTERACTIONS {
        let ms = eval_f64(&page, &timed(js)).await?;
        eprintln!("   {what}: {ms:.1} ms");
        report.interactions.push(((*what).to_owned(), ms));
    }
    // Back to the default view for the updates.
    eval_f64(&page, &timed(INTERACTIONS[0].1)).await?;

    // Live updates: the page's long tasks from now, and the bytes of each
    // change on a stream of the same view.
    let watch_from = eval_f64(&page, "performance.now()").await?;
    if args.dashboard_profile {
        start_profile(&page).await?;
    }
    let gen_before = eval_f64(&page, "Number(document.body.dataset.liveGeneration || 0)").await?;
    let (sizes_tx, mut sizes) = mpsc::unbounded_channel();
    let reader = tokio::spawn(read_stream(
        http.clone(),
        ready.url.clone(),
        Some(sizes_tx),
        Arc::default(),
    ));
    let limit = args.dashboard_interval * 2 + Duration::from_secs(60);
    // Sweep 1: the page and one stream (the base); sweep 2: the extra streams too.
    let first = next_size(&mut sizes, limit).await?;
    let cpu_0 = server.ask::<CpuAnswer>("cpu").await?.cpu_s;
    report.update_bytes.push(first);
    let second = next_size(&mut sizes, limit).await?;
    let cpu_1 = server.ask::<CpuAnswer>("cpu").await?.cpu_s;
    report.update_bytes.push(second);
    report.extra_streams = args.dashboard_streams;
    let received = Arc::new(AtomicU64::new(0));
    let extra: Vec<_> = (0..args.dashboard_streams)
        .map(|_| {
            tokio::spawn(read_stream(
                http.clone(),
                ready.url.clone(),
                None,
                Arc::clone(&received),
            ))
        })
        .collect();
    let third = next_size(&mut sizes, limit).await?;
    let cpu_2 = server.ask::<CpuAnswer>("cpu").await?.cpu_s;
    report.update_bytes.push(third);
    let fourth = next_size(&mut sizes, limit).await?;
    let cpu_3 = server.ask::<CpuAnswer>("cpu").await?.cpu_s;
    report.update_bytes.push(fourth);
    report.cpu_base_s = cpu_1 - cpu_0;
    report.cpu_with_streams_s = cpu_3 - cpu_2;
    for task in extra {
        task.abort();
    }
    reader.abort();
    // Let the page finish applying the last change.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let gen_after = eval_f64(&page, "Number(document.body.dataset.liveGeneration || 0)").await?;
    report.updates = (gen_after - gen_before).max(0.0) as usize;
    if report.updates == 0 {
        bail!("the page applied no live update");
    }
    let reads = eval_f64(
        &page,
        &format!(
            "performance.getEntriesByType('resource').filter((r) => r.startTime > {watch_from} && \
             new URL(r.name).pathname === '/api/v2/workspaceproxies').length"
        ),
    )
    .await?;
    if reads > 0.0 {
        bail!("the page read the list {reads} times during the updates");
    }
    if args.dashboard_profile {
        print_profile(&page).await?;
    }
    report.longest_task_ms = eval_f64(
        &page,
        &format!(
            "Math.max(0, ...window.__longtasks.filter(([t]) => t > {watch_from}).map(([, d]) => d))"
        ),
    )
    .await?;
    eprintln!(
        "   {} updates: {:?} bytes each, longest task {:.0} ms; CPU per sweep {:.1} ms alone, {:.1} ms with {} more streams ({} bytes to them)",
        report.updates,
        report.update_bytes,
        report.longest_task_ms,
        report.cpu_base_s * 1000.0,
        report.cpu_with_streams_s * 1000.0,
        report.extra_streams,
        received.load(Ordering::Relaxed)
    );
    Ok(())
}

/// Microseconds between the samples of the JavaScript profile.
const PROFILE_SAMPLE_US: u64 = 200;

/// Starts sampling the page's JavaScript (the DevTools protocol's profiler).
async fn start_profile(page: &Page<'_>) -> anyhow::Result<()> {
    for (method, params) in [
        ("Profiler.enable", json!({})),
        (
            "Profiler.setSamplingInterval",
            json!({"interval": PROFILE_SAMPLE_US}),
        ),
        ("Profiler.start", json!({})),
    ] {
        page.call(method, params)
            .await
            .map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// Stops the profile and prints the functions that took the most time of
/// their own, with where they are.
async fn print_profile(page: &Page<'_>) -> anyhow::Result<()> {
    let stopped = page
        .call("Profiler.stop", json!({}))
        .await
        .map_err(anyhow::Error::msg)?;
    let nodes = stopped["profile"]["nodes"]
        .as_array()
        .context("a profile without nodes")?;
    let mut own: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for node in nodes {
        let frame = &node["callFrame"];
        let name = frame["functionName"].as_str().unwrap_or("");
        let url = frame["url"].as_str().unwrap_or("");
        let file = url.rsplit('/').next().unwrap_or(url);
        let line = frame["lineNumber"].as_i64().unwrap_or(-1) + 1;
        let key = if name.is_empty() && file.is_empty() {
            "(program)".to_owned()
        } else {
            format!(
                "{} {file}:{line}",
                if name.is_empty() { "(anonymous)" } else { name }
            )
        };
        *own.entry(key).or_default() += node["hitCount"].as_u64().unwrap_or(0);
    }
    let mut top: Vec<_> = own
        .into_iter()
        .filter(|(k, _)| !k.starts_with("(idle)"))
        .collect();
    top.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    eprintln!("   JavaScript profile while updates arrived (own time):");
    for (what, hits) in top.iter().take(20) {
        eprintln!(
            "     {:>8.1} ms  {what}",
            *hits as f64 * PROFILE_SAMPLE_US as f64 / 1000.0
        );
    }
    Ok(())
}

/// What the row does in the page, each with the default view before it.
const INTERACTIONS: &[(&str, &str)] = &[
    (
        "default view (status, all, no search)",
        "setSearch(''); setFilter('all'); setSort('status');",
    ),
    ("search \"region-00123\"", "setSearch('region-00123');"),
    ("search \"9\" (many matches)", "setSearch('9');"),
    ("clear the search", "setSearch('');"),
    ("filter unreachable", "setFilter('unreachable');"),
    ("filter all", "setFilter('all');"),
    ("sort by name", "setSort('name');"),
    (
        "sort by latency (slowest first)",
        "setSort('latency-desc');",
    ),
    ("sort by status", "setSort('status');"),
];

/// `body` run as the user's action and timed with the layout after it (ms).
fn timed(body: &str) -> String {
    format!(
        "(() => {{ \
         const setSearch = (v) => {{ const s = document.querySelector('#search'); s.value = v; s.dispatchEvent(new Event('input')); }}; \
         const setFilter = (f) => document.querySelector(`#filters button[data-filter=\"${{f}}\"]`).click(); \
         const setSort = (v) => {{ const s = document.querySelector('#sort'); s.value = v; s.dispatchEvent(new Event('change')); }}; \
         const t0 = performance.now(); {body} document.body.offsetHeight; \
         return performance.now() - t0; }})()"
    )
}

async fn eval_f64(page: &Page<'_>, js: &str) -> anyhow::Result<f64> {
    let value: Value = page.eval(js).await.map_err(anyhow::Error::msg)?;
    value.as_f64().with_context(|| format!("{js} gave {value}"))
}

/// Polls `js` until it gives a positive number.
async fn wait_for(page: &Page<'_>, js: &str, limit: Duration) -> anyhow::Result<f64> {
    let deadline = Instant::now() + limit;
    loop {
        let value = eval_f64(page, js).await?;
        if value > 0.0 {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("{js} still 0 after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn next_size(
    sizes: &mut mpsc::UnboundedReceiver<usize>,
    limit: Duration,
) -> anyhow::Result<usize> {
    tokio::time::timeout(limit, sizes.recv())
        .await
        .context("no live update within the limit")?
        .context("the stream ended")
}

/// Reads a `view=proxies` stream: sends the size of each change (not the
/// first, which only says where it starts) and counts every byte.
async fn read_stream(
    http: reqwest::Client,
    url: String,
    sizes: Option<mpsc::UnboundedSender<usize>>,
    received: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let mut response = http
        .get(format!("{url}/api/v2/proxyhealth/events?view=proxies"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?
        .error_for_status()?;
    let mut buffer = String::new();
    let mut first = true;
    while let Some(chunk) = response.chunk().await? {
        received.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if !block.lines().any(|line| line == "event: proxies") {
                continue;
            }
            if std::mem::take(&mut first) {
                continue;
            }
            if let Some(sizes) = &sizes {
                let _ = sizes.send(block.len());
            }
        }
    }
    Ok(())
}

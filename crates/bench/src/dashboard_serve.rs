//! `proxyhealth-bench serve-dashboard`: the service on SQLite with `count`
//! registered proxies (at the URLs of a targets file, or refused ones), its
//! sweep loop on when asked, until stdin closes. It answers `cpu` on stdin
//! with its CPU seconds so far, so the dashboard row can tell what the
//! service spent while dashboards were connected.

use anyhow::Context;
use proxyhealth_server::{AppSettings, AppStore, Application};
use proxyhealth_store::{NewProxy, ProxyStore, Registration, SqliteStore};
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The admin token of the service.
pub const ADMIN_TOKEN: &str = "phadmin_bench-dashboard-token";

/// The options of `serve-dashboard`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeDashboardArgs {
    /// Registered proxies (the targets file's first `count`, refused
    /// addresses beyond it or without one).
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
    /// A targets file (`fleet --targets`): the proxies register at its URLs.
    #[arg(long)]
    pub targets: Option<PathBuf>,
    /// Time between sweeps.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Run the sweep loop (otherwise one sweep before the ready line).
    #[arg(long)]
    pub sweep_loop: bool,
}

/// The `ready` line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DashboardReady {
    /// The service's base URL.
    pub url: String,
    /// Proxies in the snapshot after the first sweep.
    pub proxies: usize,
    /// Seconds to create and register the proxies.
    pub fill_s: f64,
    /// Seconds the first sweep took.
    pub sweep_s: f64,
}

/// The answer to `cpu`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct CpuAnswer {
    /// CPU seconds (user + system) the service used so far.
    pub cpu_s: f64,
}

/// Fills a SQLite store, serves until stdin closes.
pub async fn run(args: ServeDashboardArgs) -> anyhow::Result<()> {
    let _ = proxyhealth_sim::raise_fd_limit();
    let dir = tempfile::Builder::new()
        .prefix("proxyhealth-bench-dashboard")
        .tempdir()?;
    let store = Arc::new(SqliteStore::open(&dir.path().join("proxyhealth.db")).await?);
    let urls: Vec<String> = match &args.targets {
        Some(path) => crate::targets::read_targets(path)?
            .into_iter()
            .map(|t| t.url)
            .collect(),
        None => Vec::new(),
    };
    let port = crate::regions::refused_port()?;
    let filled = Instant::now();
    for i in 0..args.count {
        let created = store
            .create_proxy(NewProxy {
                name: format!("region-{i:06}"),
                display_name: format!("Region {i}"),
                icon: "/emojis/1f30d.png".to_owned(),
            })
            .await?;
        let url = urls
            .get(i)
            .cloned()
            .unwrap_or_else(|| crate::regions::refused_url(i, port));
        store
            .register_proxy(
                created.proxy.id,
                Registration {
                    url,
                    wildcard_hostname: format!("*.r{i}.example.com"),
                    derp_enabled: true,
                    derp_only: false,
                    version: "v2.20.0".to_owned(),
                },
            )
            .await?;
    }
    let fill_s = filled.elapsed().as_secs_f64();
    let mut settings = AppSettings::new(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        AppStore::Ready(store),
    );
    settings.sweep_loop = false;
    settings.engine.interval = args.interval;
    settings.service.admin_token = Some(ADMIN_TOKEN.to_owned());
    let app = Application::build(settings).await?;
    let started = Instant::now();
    let snapshot = app.engine().force_update().await?;
    let sweep_s = started.elapsed().as_secs_f64();
    let ready = DashboardReady {
        url: format!("http://{}", app.addr()),
        proxies: snapshot.statuses().len(),
        fill_s,
        sweep_s,
    };
    if args.sweep_loop {
        // Later sweeps every interval from now, as the service's loop would run them.
        let engine = app.engine().clone();
        let interval = args.interval;
        tokio::spawn(async move {
            let mut ticks =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            loop {
                ticks.tick().await;
                if let Err(err) = engine.force_update().await {
                    eprintln!("serve-dashboard: a sweep failed: {err}");
                }
            }
        });
    }
    let running = tokio::spawn(app.run_until_stopped(async {
        let mut lines = crate::stdin::lines();
        while let Some(line) = lines.recv().await {
            if line.trim() == "cpu" {
                let answer = CpuAnswer {
                    cpu_s: crate::procstat::cpu_seconds(),
                };
                if let Ok(text) = serde_json::to_string(&answer) {
                    println!("{text}");
                }
            }
        }
    }));
    println!(
        "{}",
        serde_json::to_string(&ready).context("the ready line")?
    );
    running.await??;
    drop(dir);
    Ok(())
}

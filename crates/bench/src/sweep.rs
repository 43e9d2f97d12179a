//! `proxyhealth-bench sweep`: the checker under test. Builds an engine over the
//! targets, runs one sweep, checks every status against the expected one and
//! prints one JSON line with the time, CPU and memory it took.

use crate::procstat::{cpu_seconds, peak_rss_kib};
use crate::source::FixedSource;
use crate::targets::read_targets;
use anyhow::Context;
use proxyhealth_engine::{Engine, EngineOptions};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The options of `sweep`.
#[derive(Debug, Clone, clap::Args)]
pub struct SweepArgs {
    /// The targets file the fleet wrote.
    #[arg(long)]
    pub targets: PathBuf,
    /// Checks in flight at once.
    #[arg(long, default_value_t = proxyhealth_engine::options::DEFAULT_PARALLELISM)]
    pub parallelism: usize,
    /// Bound on one check.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Stop the sweep after this long and report it as not completed.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub cap: Option<Duration>,
    /// Sweeps of the same engine before the measured one (0: the measured sweep
    /// is the engine's first, with nothing known about the proxies).
    #[arg(long, default_value_t = 0)]
    pub warm_up: usize,
    /// Accept any TLS certificate (the simulated fleet's is self-made).
    #[arg(long)]
    pub tls_insecure: bool,
}

/// What one `sweep` run prints, as one JSON line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepReport {
    /// Proxies in the targets file.
    pub proxies: usize,
    /// Checks in flight at once.
    pub parallelism: usize,
    /// Whether the sweep finished before the cap.
    pub completed: bool,
    /// Wall time of the sweep (the cap when it did not finish).
    pub wall_s: f64,
    /// CPU seconds (user + system) the process used during the sweep.
    pub cpu_s: f64,
    /// Seconds from the sweep's start to the end of its last check (loading the
    /// proxies included; building and storing the snapshot not).
    #[serde(default)]
    pub checks_s: Option<f64>,
    /// Peak resident memory of the process (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// Proxies whose status was not the expected one (0 when not completed).
    pub mismatches: usize,
    /// The first mismatch, for the log.
    pub first_mismatch: Option<String>,
    /// Proxies per status found.
    pub counts: BTreeMap<String, usize>,
    /// Wall seconds of the engine's first sweep, when warm-up sweeps ran
    /// before the measured one.
    #[serde(default)]
    pub first_wall_s: Option<f64>,
}

/// Runs one sweep as `args` says and prints the report.
pub async fn run(args: SweepArgs) -> anyhow::Result<()> {
    let _ = proxyhealth_sim::raise_fd_limit();
    let targets = read_targets(&args.targets)?;
    let source = FixedSource::from_urls(targets.iter().map(|t| t.url.as_str()));
    let expected: HashMap<uuid::Uuid, (&str, proxyhealth_core::Status, &str)> = source
        .proxies()
        .iter()
        .zip(&targets)
        .map(|(p, t)| (p.id, (t.url.as_str(), t.expected, t.kind.as_str())))
        .collect();
    let engine = Engine::builder()
        .store(Arc::new(source.clone()))
        .options(EngineOptions {
            parallelism: args.parallelism,
            timeout: args.timeout,
            tls_insecure: args.tls_insecure,
            ..EngineOptions::default()
        })
        .build()
        .context("build the engine")?;

    let mut first_wall_s = None;
    for _ in 0..args.warm_up {
        let started = Instant::now();
        engine
            .force_update()
            .await
            .context("a warm-up sweep failed")?;
        first_wall_s.get_or_insert(started.elapsed().as_secs_f64());
    }
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let outcome = match args.cap {
        Some(cap) => tokio::time::timeout(cap, engine.force_update()).await.ok(),
        None => Some(engine.force_update().await),
    };
    let wall_s = started.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds() - cpu_before;

    let mut report = SweepReport {
        proxies: targets.len(),
        parallelism: args.parallelism,
        completed: outcome.is_some(),
        wall_s,
        cpu_s,
        checks_s: None,
        peak_rss_kib: 0,
        mismatches: 0,
        first_mismatch: None,
        counts: BTreeMap::new(),
        first_wall_s,
    };
    if let Some(result) = outcome {
        let snapshot = result.context("the sweep failed")?;
        report.checks_s = snapshot
            .last_sweep()
            .map(|sweep| sweep.duration.as_secs_f64());
        for (id, (url, want, kind)) in &expected {
            let got = snapshot.get(id).map(|s| s.status);
            if let Some(status) = got {
                *report.counts.entry(status.to_string()).or_default() += 1;
            }
            if got != Some(*want) {
                report.mismatches += 1;
                if report.first_mismatch.is_none() {
                    let why = snapshot
                        .get(id)
                        .and_then(|s| s.report.errors.first().cloned())
                        .unwrap_or_default();
                    report.first_mismatch = Some(format!(
                        "{url} ({kind}): expected {want}, got {} {why}",
                        got.map_or("nothing".to_owned(), |s| s.to_string())
                    ));
                }
            }
        }
    }
    report.peak_rss_kib = peak_rss_kib();
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

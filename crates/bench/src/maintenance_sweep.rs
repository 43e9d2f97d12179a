//! `proxyhealth-bench maintenance`: what maintenance windows cost a sweep.
//! Two engines over the same targets, each writing its history through the
//! service's maintenance-aware recorder into an in-memory store: one with no
//! window, one with many (one-off and weekly, some active now). Their sweeps
//! alternate in this one process, so both see the same machine; the report
//! holds the median wall and CPU time of each and their ratios. A lookup is
//! one hash-map read per check, so the ratio should be noise.
//!
//! Also `stage`: what `run` calls, a fleet in a child and this in another,
//! and the section of bench/RESULTS.md it writes.

use crate::child::{Service, run_json};
use crate::fleet::FleetReady;
use crate::procstat::cpu_seconds;
use crate::source::FixedSource;
use crate::targets::read_targets;
use anyhow::{Context, bail};
use proxyhealth_core::maintenance::{MaintenanceScope, NewMaintenance};
use proxyhealth_engine::{Engine, EngineOptions};
use proxyhealth_server::maintenance::{Maintenance, MaintenanceRecorder};
use proxyhealth_store::{MemoryStore, ProxyStore};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// The heading of the section (`run --maintenance-only` replaces the section
/// under it in an existing file, see [`crate::splice`]).
pub const HEADING: &str = "## 13. Maintenance windows in a sweep";

/// The options of `maintenance`.
#[derive(Debug, Clone, clap::Args)]
pub struct MaintenanceArgs {
    /// The targets file the fleet wrote.
    #[arg(long)]
    pub targets: PathBuf,
    /// Windows of the second engine.
    #[arg(long, default_value_t = 1_000)]
    pub windows: usize,
    /// Measured sweeps of each engine (after one warm-up sweep each).
    #[arg(long, default_value_t = 9)]
    pub reps: usize,
    /// Checks in flight at once.
    #[arg(long, default_value_t = proxyhealth_engine::options::DEFAULT_PARALLELISM)]
    pub parallelism: usize,
}

/// What one `maintenance` run prints, as one JSON line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MaintenanceReport {
    /// Proxies swept.
    pub proxies: usize,
    /// Windows of the second engine.
    pub windows: usize,
    /// Of them, active during the sweeps.
    pub active: usize,
    /// Proxies in an active window (their checks left out of the history).
    pub covered: usize,
    /// Measured sweeps of each engine.
    pub reps: usize,
    /// Median wall seconds of a sweep without windows.
    pub wall_none_s: f64,
    /// Median wall seconds of a sweep with the windows.
    pub wall_windows_s: f64,
    /// Median CPU seconds of a sweep without windows.
    pub cpu_none_s: f64,
    /// Median CPU seconds of a sweep with the windows.
    pub cpu_windows_s: f64,
}

impl MaintenanceReport {
    /// Wall time with the windows over without.
    pub fn wall_ratio(&self) -> f64 {
        self.wall_windows_s / self.wall_none_s.max(1e-9)
    }

    /// CPU time with the windows over without.
    pub fn cpu_ratio(&self) -> f64 {
        self.cpu_windows_s / self.cpu_none_s.max(1e-9)
    }
}

/// An engine over `source` whose history goes through the maintenance
/// recorder into a store of its own holding `windows`' windows.
async fn engine_with(
    source: &FixedSource,
    windows: &[NewMaintenance],
    parallelism: usize,
) -> anyhow::Result<(Engine, Maintenance)> {
    let store = MemoryStore::new();
    let book = store
        .maintenance()
        .context("the memory store keeps windows")?;
    let now = OffsetDateTime::now_utc();
    for window in windows {
        book.create(window, now).await.context("create a window")?;
    }
    let maintenance = Maintenance::new(Some(book));
    maintenance.refresh().await.context("read the windows")?;
    let history = store.history().context("the memory store keeps history")?;
    let engine = Engine::builder()
        .store(Arc::new(source.clone()))
        .options(EngineOptions {
            parallelism,
            timeout: crate::run_args::TIMEOUT,
            ..EngineOptions::default()
        })
        .history(Arc::new(MaintenanceRecorder::new(
            proxyhealth_store::history::recorder(history),
            maintenance.clone(),
        )))
        .build()
        .context("build the engine")?;
    Ok((engine, maintenance))
}

/// `count` windows over `source`'s proxies: half one-off, half weekly; one
/// in ten active now, the others ended or yet to come (weekly ones between
/// their occurrences).
fn windows_of(source: &FixedSource, count: usize) -> Vec<NewMaintenance> {
    let proxies = source.proxies();
    let now = OffsetDateTime::now_utc();
    let hour = time::Duration::HOUR;
    (0..count)
        .filter(|_| !proxies.is_empty())
        .map(|i| {
            let proxy = proxies[(i * 7919) % proxies.len()].id;
            let weekly = i % 2 == 1;
            let starts_at = match i % 10 {
                0 => now - hour,
                k if k < 5 => now + hour * i32::try_from(k).unwrap_or(1),
                k => now - hour * 24 * i32::try_from(k).unwrap_or(1),
            };
            NewMaintenance {
                scope: MaintenanceScope::Proxy(proxy),
                starts_at,
                ends_at: starts_at + hour * 2,
                weekly,
                reason: format!("window {i}"),
            }
        })
        .collect()
}

/// The median of `values` (0 when empty).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// One sweep of `engine`: wall and CPU seconds.
async fn timed_sweep(engine: &Engine) -> anyhow::Result<(f64, f64)> {
    let cpu = cpu_seconds();
    let started = Instant::now();
    engine.force_update().await.context("a sweep failed")?;
    Ok((started.elapsed().as_secs_f64(), cpu_seconds() - cpu))
}

/// Runs the comparison as `args` says and prints the report.
pub async fn run(args: MaintenanceArgs) -> anyhow::Result<()> {
    let _ = proxyhealth_sim::raise_fd_limit();
    let targets = read_targets(&args.targets)?;
    let source = FixedSource::from_urls(targets.iter().map(|t| t.url.as_str()));
    let windows = windows_of(&source, args.windows);
    let (plain, _) = engine_with(&source, &[], args.parallelism).await?;
    let (busy, maintenance) = engine_with(&source, &windows, args.parallelism).await?;
    let book = maintenance.book();
    let active = maintenance
        .windows()
        .iter()
        .filter(|w| w.occurrence_at(maintenance.now()).is_some())
        .count();
    let covered = source
        .proxies()
        .iter()
        .filter(|p| book.covers(&p.id))
        .count();
    // first sweeps record every proxy's first status: not measured
    timed_sweep(&plain).await?;
    timed_sweep(&busy).await?;
    let (mut wall_none, mut wall_windows, mut cpu_none, mut cpu_windows) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for rep in 0..args.reps.max(1) {
        // alternate which goes first, so neither always follows the other
        let order = if rep % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for with_windows in order {
            let engine = if with_windows { &busy } else { &plain };
            let (wall, cpu) = timed_sweep(engine).await?;
            if with_windows {
                wall_windows.push(wall);
                cpu_windows.push(cpu);
            } else {
                wall_none.push(wall);
                cpu_none.push(cpu);
            }
        }
    }
    let report = MaintenanceReport {
        proxies: targets.len(),
        windows: windows.len(),
        active,
        covered,
        reps: args.reps.max(1),
        wall_none_s: median(wall_none),
        wall_windows_s: median(wall_windows),
        cpu_none_s: median(cpu_none),
        cpu_windows_s: median(cpu_windows),
    };
    eprintln!(
        "maintenance: {} proxies, {} windows ({} active, {} proxies covered): wall {:.3}x, cpu {:.3}x",
        report.proxies,
        report.windows,
        report.active,
        report.covered,
        report.wall_ratio(),
        report.cpu_ratio()
    );
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// The stage of `run`: a healthy fleet of `count` proxies in a child, the
/// comparison in another; the section, and what failed.
pub async fn stage(
    work_dir: &Path,
    count: usize,
    parallelism: usize,
    reps: usize,
) -> (String, Vec<String>) {
    eprintln!("== maintenance windows: {count} proxies, 0 against 1,000 windows");
    let mut section = String::new();
    match measure(work_dir, count, parallelism, reps).await {
        Ok(report) => {
            write_section(&mut section, Some(&report), None);
            (section, Vec::new())
        }
        Err(err) => {
            write_section(&mut section, None, Some("the run failed (see Runs)"));
            (section, vec![format!("maintenance: {err:#}")])
        }
    }
}

async fn measure(
    work_dir: &Path,
    count: usize,
    parallelism: usize,
    reps: usize,
) -> anyhow::Result<MaintenanceReport> {
    let targets = work_dir.join(format!("targets-{count}-maintenance.tsv"));
    let fleet_args = vec![
        "fleet".to_owned(),
        "--count".to_owned(),
        count.to_string(),
        "--mix".to_owned(),
        "ok".to_owned(),
        "--targets".to_owned(),
        targets.display().to_string(),
        "--max-connections".to_owned(),
        (parallelism + 100).to_string(),
    ];
    let (fleet, ready) = Service::start::<FleetReady>(&fleet_args, Duration::from_secs(120))
        .await
        .context("start the fleet")?;
    eprintln!("   fleet: {}", ready.summary);
    let child = vec![
        "maintenance".to_owned(),
        "--targets".to_owned(),
        targets.display().to_string(),
        "--reps".to_owned(),
        reps.to_string(),
        "--parallelism".to_owned(),
        parallelism.to_string(),
    ];
    let measured = run_json::<MaintenanceReport>(&child, Duration::from_secs(600)).await;
    let stopped = fleet.stop().await;
    let report = measured?;
    stopped.context("stop the fleet")?;
    if report.proxies != count {
        bail!("swept {} proxies, not {count}", report.proxies);
    }
    Ok(report)
}

/// Writes the section: the two engines' medians and ratios, or why not.
pub fn write_section(md: &mut String, report: Option<&MaintenanceReport>, skipped: Option<&str>) {
    let _ = writeln!(md, "{HEADING}\n");
    let Some(r) = report else {
        let _ = writeln!(md, "Not measured: {}.\n", skipped.unwrap_or("see Runs"));
        return;
    };
    let _ = writeln!(
        md,
        "`proxyhealth-bench maintenance`: a sweep of {} healthy proxies (a simulated fleet in \
         its own process) whose history goes through the maintenance-aware recorder into an \
         in-memory store, with no window against {} windows (half one-off, half weekly; {} \
         active, covering {} proxies, whose checks are left out). The two engines' sweeps \
         alternate in one process, {} measured each after a first one; medians. Target: within \
         noise (≤ 1.05×): a lookup is one hash-map read per check.\n",
        r.proxies, r.windows, r.active, r.covered, r.reps
    );
    let _ = writeln!(md, "| | no window | {} windows | ratio |", r.windows);
    let _ = writeln!(md, "|---|---:|---:|---:|");
    let _ = writeln!(
        md,
        "| sweep wall time | {:.0} ms | {:.0} ms | {:.3}× |",
        r.wall_none_s * 1e3,
        r.wall_windows_s * 1e3,
        r.wall_ratio()
    );
    let _ = writeln!(
        md,
        "| sweep CPU | {:.0} ms | {:.0} ms | {:.3}× |\n",
        r.cpu_none_s * 1e3,
        r.cpu_windows_s * 1e3,
        r.cpu_ratio()
    );
}

//! `proxyhealth-bench reads`: reads of the engine's cache under criterion. One
//! status-map read (`snapshot()` + a lookup) and one host-list read
//! (`snapshot().hosts()` + its length), with 100 and with 10,000 proxies cached,
//! and with 10,000 while a background thread keeps storing new snapshots
//! (a sweep, then re-checks, in a loop). All six run in several rounds and each
//! keeps its lowest median, so a burst of noise from a shared machine in one
//! round does not pass for a slower read. Prints the medians as one JSON line.
//!
//! The proxies are registered at distinct loopback addresses on a port nobody
//! listens on, so a sweep is quick (every connection is refused) and the host
//! list is full.

use crate::criterion_read::{ReadsReport, read_reads, round_id};
use crate::source::FixedSource;
use anyhow::{Context, bail};
use criterion::Criterion;
use proxyhealth_engine::Engine;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The options of `reads`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReadsArgs {
    /// Where criterion keeps its estimates; it must be the `CRITERION_HOME` this
    /// process was started with (the orchestrator sets both).
    #[arg(long)]
    pub criterion_home: PathBuf,
    /// Measuring time of each read in each round.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub measurement: Duration,
    /// Rounds of all six reads; each read reports its lowest round.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

/// Runs the six reads and prints their medians. Runs outside any async runtime:
/// it drives its own.
pub fn run(args: ReadsArgs) -> anyhow::Result<()> {
    let home = std::env::var_os("CRITERION_HOME").map(PathBuf::from);
    if home.as_ref() != Some(&args.criterion_home) {
        bail!(
            "CRITERION_HOME must be {} (criterion reads it from the environment)",
            args.criterion_home.display()
        );
    }
    let runtime = tokio::runtime::Runtime::new().context("start a runtime")?;
    let (small, small_ids) = cached_engine(&runtime, 100)?;
    let (large, large_ids) = cached_engine(&runtime, 10_000)?;
    let small_id = small_ids[small_ids.len() / 2];
    let large_id = large_ids[large_ids.len() / 2];

    let status_read = |engine: &Engine, id: &Uuid| {
        let snapshot = engine.snapshot();
        black_box(snapshot.get(black_box(id)).map(|s| s.status))
    };
    let hosts_read = |engine: &Engine| black_box(engine.snapshot().hosts().len());

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(args.measurement)
        .sample_size(50)
        .without_plots();
    let mut stored = Vec::new();
    for round in 1..=args.rounds.max(1) {
        let id = |function: &str| round_id(function, round);
        {
            let mut group = c.benchmark_group("status_map");
            group.bench_function(id("n100_idle"), |b| {
                b.iter(|| status_read(&small, &small_id))
            });
            group.bench_function(id("n10000_idle"), |b| {
                b.iter(|| status_read(&large, &large_id))
            });
            group.finish();
        }
        {
            let mut group = c.benchmark_group("host_list");
            group.bench_function(id("n100_idle"), |b| b.iter(|| hosts_read(&small)));
            group.bench_function(id("n10000_idle"), |b| b.iter(|| hosts_read(&large)));
            group.finish();
        }
        let storing = Storing::start(&large, &large_ids);
        std::thread::sleep(Duration::from_millis(300));
        {
            let mut group = c.benchmark_group("status_map");
            group.bench_function(id("n10000_storing"), |b| {
                b.iter(|| status_read(&large, &large_id))
            });
            group.finish();
        }
        {
            let mut group = c.benchmark_group("host_list");
            group.bench_function(id("n10000_storing"), |b| b.iter(|| hosts_read(&large)));
            group.finish();
        }
        stored.push(storing.finish()?);
    }
    let stores_per_s = stored.iter().sum::<f64>() / stored.len().max(1) as f64;
    let mut report: ReadsReport = read_reads(&args.criterion_home, args.rounds)?;
    report.stores_per_s = Some(stores_per_s);
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// An engine with `count` proxies cached after one sweep, and their ids.
fn cached_engine(
    runtime: &tokio::runtime::Runtime,
    count: usize,
) -> anyhow::Result<(Engine, Vec<Uuid>)> {
    let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .context("find a free loopback port")?;
    let urls: Vec<String> = (0..count)
        .map(|i| format!("http://127.3.{}.{}:{port}", (i / 250) % 256, i % 250 + 1))
        .collect();
    let source = Arc::new(FixedSource::from_urls(urls.iter().map(String::as_str)));
    let ids: Vec<Uuid> = source.proxies().iter().map(|proxy| proxy.id).collect();
    let engine = Engine::builder().store(source).build()?;
    let snapshot = runtime.block_on(engine.force_update())?;
    if snapshot.statuses().len() != count || snapshot.hosts().len() != count {
        bail!(
            "the first sweep cached {} statuses and {} hosts, not {count}",
            snapshot.statuses().len(),
            snapshot.hosts().len()
        );
    }
    Ok((engine, ids))
}

/// A thread that keeps storing snapshots (a sweep, then 50 re-checks, in a loop)
/// until told to stop; it reports how many snapshots it stored per second.
struct Storing {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<anyhow::Result<f64>>,
}

impl Storing {
    fn start(engine: &Engine, ids: &[Uuid]) -> Storing {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let ids = ids.to_vec();
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("start the storing thread's runtime")?;
            let first = engine.snapshot().generation();
            let started = Instant::now();
            runtime.block_on(async {
                let mut next = 0usize;
                while !flag.load(Ordering::Relaxed) {
                    let _ = engine.force_update().await;
                    for _ in 0..50 {
                        if flag.load(Ordering::Relaxed) {
                            break;
                        }
                        let _ = engine.recheck(ids[next % ids.len()]).await;
                        next += 1;
                    }
                }
            });
            let stored = engine.snapshot().generation() - first;
            Ok(stored as f64 / started.elapsed().as_secs_f64())
        });
        Storing { stop, thread }
    }

    fn finish(self) -> anyhow::Result<f64> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.join() {
            Ok(rate) => rate,
            Err(_panic) => bail!("the storing thread panicked"),
        }
    }
}

//! Reads of the engine's cache: one status-map read (`snapshot()` + a lookup) and
//! one host-list read (`snapshot().hosts()` + its length), with 100 and with 10,000
//! proxies cached, and with 10,000 while a background thread keeps storing new
//! snapshots (re-checks and sweeps in a loop). Run by `scripts/bench`.
//!
//! The proxies are registered at distinct loopback addresses on a port nobody
//! listens on, so a sweep is quick (every connection is refused) and the host
//! list is full.

use criterion::{Criterion, criterion_group, criterion_main};
use proxyhealth_core::{Proxy, ProxySource, SourceError};
use proxyhealth_engine::Engine;
use std::collections::HashMap;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use uuid::Uuid;

/// A fixed set of registered proxies.
struct Fixed {
    order: Vec<Uuid>,
    by_id: HashMap<Uuid, Proxy>,
}

impl Fixed {
    /// `count` proxies at 127.3.x.y on a refused port.
    fn refused(count: usize) -> Fixed {
        let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let now = OffsetDateTime::now_utc();
        let mut order = Vec::with_capacity(count);
        let mut by_id = HashMap::with_capacity(count);
        for i in 0..count {
            let id = Uuid::new_v4();
            let proxy = Proxy {
                id,
                name: format!("p{i}"),
                display_name: String::new(),
                icon: String::new(),
                url: format!("http://127.3.{}.{}:{port}", (i / 250) % 256, i % 250 + 1),
                wildcard_hostname: format!("*.r{i}.example.com"),
                created_at: now,
                updated_at: now,
                deleted: false,
                token_hashed_secret: Vec::new(),
                region_id: i32::try_from(i).unwrap_or(i32::MAX),
                derp_enabled: true,
                derp_only: false,
                version: String::new(),
            };
            order.push(id);
            by_id.insert(id, proxy);
        }
        Fixed { order, by_id }
    }
}

#[async_trait::async_trait]
impl ProxySource for Fixed {
    async fn list_proxies(&self) -> Result<Vec<Proxy>, SourceError> {
        Ok(self
            .order
            .iter()
            .filter_map(|id| self.by_id.get(id).cloned())
            .collect())
    }

    async fn proxy_by_id(&self, id: Uuid) -> Result<Option<Proxy>, SourceError> {
        Ok(self.by_id.get(&id).cloned())
    }
}

/// An engine with `count` proxies cached after one sweep, and their ids.
fn cached_engine(runtime: &tokio::runtime::Runtime, count: usize) -> (Engine, Vec<Uuid>) {
    let source = Arc::new(Fixed::refused(count));
    let ids = source.order.clone();
    let engine = Engine::builder()
        .store(source)
        .build()
        .expect("engine builds");
    let snapshot = runtime
        .block_on(engine.force_update())
        .expect("the first sweep succeeds");
    assert_eq!(snapshot.statuses().len(), count);
    assert_eq!(snapshot.hosts().len(), count);
    (engine, ids)
}

/// A thread that keeps storing snapshots (a sweep, then 50 re-checks, in a loop)
/// until told to stop; returns how many snapshots it stored per second.
struct Storing {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<f64>>,
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
                .expect("background runtime");
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
            stored as f64 / started.elapsed().as_secs_f64()
        });
        Storing {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map_or(0.0, |t| t.join().expect("background thread"))
    }
}

fn reads(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (small, small_ids) = cached_engine(&runtime, 100);
    let (large, large_ids) = cached_engine(&runtime, 10_000);
    let small_id = small_ids[small_ids.len() / 2];
    let large_id = large_ids[large_ids.len() / 2];

    let status_read = |engine: &Engine, id: &Uuid| {
        let snapshot = engine.snapshot();
        black_box(snapshot.get(black_box(id)).map(|s| s.status))
    };
    let hosts_read = |engine: &Engine| black_box(engine.snapshot().hosts().len());

    {
        let mut group = c.benchmark_group("status_map");
        group.bench_function("n100_idle", |b| b.iter(|| status_read(&small, &small_id)));
        group.bench_function("n10000_idle", |b| b.iter(|| status_read(&large, &large_id)));
        group.finish();
    }
    {
        let mut group = c.benchmark_group("host_list");
        group.bench_function("n100_idle", |b| b.iter(|| hosts_read(&small)));
        group.bench_function("n10000_idle", |b| b.iter(|| hosts_read(&large)));
        group.finish();
    }

    let storing = Storing::start(&large, &large_ids);
    std::thread::sleep(Duration::from_millis(500));
    {
        let mut group = c.benchmark_group("status_map");
        group.bench_function("n10000_storing", |b| {
            b.iter(|| status_read(&large, &large_id))
        });
        group.finish();
    }
    {
        let mut group = c.benchmark_group("host_list");
        group.bench_function("n10000_storing", |b| b.iter(|| hosts_read(&large)));
        group.finish();
    }
    let stores_per_s = storing.finish();
    eprintln!("background: {stores_per_s:.0} snapshots stored per second");
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("..")
        .join("criterion")
        .join("reads-background.json");
    if let Err(err) = std::fs::write(&out, format!("{{\"stores_per_s\":{stores_per_s}}}")) {
        eprintln!("cannot write {}: {err}", out.display());
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = reads
}
criterion_main!(benches);

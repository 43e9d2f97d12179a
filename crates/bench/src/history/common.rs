//! What the SQLite and PostgreSQL measurements share: the options, the
//! report, the generated rows and the timing of writes and reads.

use anyhow::bail;
use proxyhealth_core::{
    CheckRecord, HealthReport, HistoryBatch, LatencySketch, Status, Transition,
};
use proxyhealth_store::HistoryStore;
use proxyhealth_store::history::view;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use uuid::Uuid;

/// Timed sweeps (after the first, which records every proxy's first status).
pub(super) const SWEEPS: usize = 9;
/// Timed window reads (each of another proxy), after two warm-ups.
pub(super) const READS: usize = 15;
/// SQLite rows per generated `INSERT` (one proxy's hours at a time would be slow).
pub(super) const HOUR: i64 = 3600;

/// The options of `history`.
#[derive(Debug, Clone, clap::Args)]
pub struct HistoryArgs {
    /// `sqlite` (scratch files in the temp dir) or a `postgres://` URL of a
    /// server where scratch databases are made and dropped.
    #[arg(long)]
    pub db: String,
    /// Proxies in a sweep, and stored for the read.
    #[arg(long, default_value_t = 10_000)]
    pub proxies: usize,
    /// Proxies of the 90-day size.
    #[arg(long, default_value_t = 1_000)]
    pub size_proxies: usize,
    /// Days of the size.
    #[arg(long, default_value_t = 90)]
    pub size_days: usize,
    /// Days stored for the read.
    #[arg(long, default_value_t = 30)]
    pub read_days: usize,
}

/// What one `history` run prints, as one JSON line.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HistoryReport {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Proxies per sweep.
    pub proxies: usize,
    /// Median ms to write a sweep's history (checks + 1 % transitions).
    pub write_ms: f64,
    /// Median ms of the plain insert of the same checks as raw rows.
    pub plain_ms: f64,
    /// Ms to write the first sweep (every proxy's first status: 10,000 transitions).
    pub first_write_ms: f64,
    /// Statements per sweep.
    pub statements: f64,
    /// Whether `statements` was counted by the server (else the plan).
    pub statements_counted: bool,
    /// Transitions per timed sweep.
    pub transitions_per_sweep: usize,
    /// The size: proxies, days, rollup rows, transitions.
    pub size_proxies: usize,
    /// Days simulated.
    pub size_days: usize,
    /// Rollup rows stored.
    pub size_rollups: u64,
    /// Transitions stored.
    pub size_transitions: u64,
    /// Bytes of the database (SQLite: the file; PostgreSQL: both tables with indexes).
    pub size_bytes: u64,
    /// Seconds to generate it.
    pub size_fill_s: f64,
    /// Days stored for the read.
    pub read_days: usize,
    /// Median ms of a 30-day window read.
    pub read_ms: f64,
    /// Median ms of the plain SELECT of the proxy's rollup rows.
    pub read_plain_ms: f64,
    /// Buckets a window read returned.
    pub read_buckets: usize,
    /// Seconds to generate the read's data.
    pub read_fill_s: f64,
}

/// The proxy ids of the generated rows: `i` as a UUID (the same bytes the
/// SQL generators write).
pub(super) fn proxy_id(i: usize) -> Uuid {
    Uuid::from_u128(i as u128)
}

/// A realistic hour's sketch: 60 checks of 2 to 9 ms.
pub(super) fn hour_sketch() -> LatencySketch {
    let mut sketch = LatencySketch::default();
    for i in 0..60u64 {
        sketch.add(2_000 + (i * 7_919) % 7_000);
    }
    sketch
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The start of the current hour.
pub(super) fn this_hour() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp().div_euclid(HOUR) * HOUR
}

/// A sweep's batch: every proxy checked at `at`, and `flips` of them
/// changing status (alternating by sweep number).
pub(super) fn sweep_batch(
    proxies: usize,
    at: OffsetDateTime,
    sweep: usize,
    flips: usize,
) -> HistoryBatch {
    let mut batch = HistoryBatch::default();
    let failing = |i: usize| i < flips && sweep % 2 == 1;
    for i in 0..proxies {
        let result = if failing(i) {
            Status::Unreachable
        } else {
            Status::Ok
        };
        batch.checks.push(CheckRecord {
            proxy_id: proxy_id(i),
            at,
            result,
            latency: (result == Status::Ok)
                .then(|| Duration::from_micros(2_000 + (i as u64 * 7_919) % 7_000)),
        });
        if sweep == 0 || i < flips {
            batch.transitions.push(Transition {
                proxy_id: proxy_id(i),
                proxy_name: format!("region-{i}"),
                proxy_url: format!("http://127.0.0.1:{}", 20_000 + i % 40_000),
                at,
                from: None,
                to: result,
                report: if result == Status::Ok {
                    HealthReport::default()
                } else {
                    HealthReport::error("dial tcp 127.0.0.1:9: connect: connection refused")
                },
                replica: None,
                previous_lasted: None,
            });
        }
    }
    batch
}

/// Times the first sweep and the median of [`SWEEPS`] more; every sweep is
/// a minute after the previous one, all within one hour.
pub(super) async fn time_writes(
    history: &dyn HistoryStore,
    proxies: usize,
) -> anyhow::Result<(f64, f64, usize)> {
    let flips = proxies / 100;
    let start = this_hour() - HOUR;
    let at = |sweep: usize| {
        OffsetDateTime::from_unix_timestamp(start + 60 * sweep as i64)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    };
    let first = sweep_batch(proxies, at(0), 0, flips);
    let started = Instant::now();
    history.record_batch(first).await?;
    let first_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut times = Vec::with_capacity(SWEEPS);
    for sweep in 1..=SWEEPS {
        let batch = sweep_batch(proxies, at(sweep), sweep, flips);
        let started = Instant::now();
        let recorded = history.record_batch(batch).await?;
        times.push(started.elapsed());
        if recorded.len() != flips {
            bail!(
                "sweep {sweep}: {} transitions recorded, {flips} expected",
                recorded.len()
            );
        }
    }
    Ok((first_ms, median_ms(&mut times), flips))
}

pub(super) fn median_ms(times: &mut [Duration]) -> f64 {
    times.sort();
    times
        .get(times.len() / 2)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// Times a 30-day window of several proxies (and the plain SELECT).
pub(super) async fn time_reads<F, Fut>(
    history: &dyn HistoryStore,
    proxies: usize,
    days: usize,
    plain: F,
) -> anyhow::Result<(f64, f64, usize)>
where
    F: Fn(Uuid, OffsetDateTime) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    let now = OffsetDateTime::now_utc();
    let hours = u32::try_from(days * 24).unwrap_or(u32::MAX);
    let since = view::window_start(now, hours);
    let mut window_times = Vec::with_capacity(READS);
    let mut plain_times = Vec::with_capacity(READS);
    let mut buckets = 0;
    for run in 0..READS + 2 {
        let id = proxy_id((run * 7_919) % proxies);
        let started = Instant::now();
        let window = view::window(history, id, hours, now).await?;
        let window_time = started.elapsed();
        let started = Instant::now();
        let rows = plain(id, since).await?;
        let plain_time = started.elapsed();
        if window.buckets.is_empty() || rows == 0 {
            bail!("the window of {id} is empty");
        }
        buckets = window.buckets.len();
        if run >= 2 {
            window_times.push(window_time);
            plain_times.push(plain_time);
        }
    }
    Ok((
        median_ms(&mut window_times),
        median_ms(&mut plain_times),
        buckets,
    ))
}

/// The error report of the generated transitions.
pub(super) const REPORT: &str =
    r#"{"errors":["dial tcp 127.0.0.1:9: connect: connection refused"],"warnings":[]}"#;

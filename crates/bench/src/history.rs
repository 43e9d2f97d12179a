//! `proxyhealth-bench history`: the cost of persisted history on
//! one backend, each figure beside a baseline measured in the same run:
//! - **write**: one sweep's history (10,000 checks and the transitions 1 % of
//!   the proxies make) through the store's journal, against a plain
//!   multi-row `INSERT` of the same 10,000 checks as raw rows in one
//!   transaction (what keeping every check would cost at the least);
//!   statements per sweep (PostgreSQL: counted by `pg_stat_statements` when
//!   the server has it; SQLite: the journal's statement plan);
//! - **size**: the database after 90 simulated days of 1,000 proxies checked
//!   every minute (24 rollup rows a day per proxy, 60 checks each, and two
//!   transitions a day per proxy), filled with generated rows by SQL;
//! - **read**: a 30-day window of one proxy (`history::view::window`:
//!   buckets, transitions, the status at the start, incidents) with 10,000
//!   proxies × 30 days stored, against a plain `SELECT` of that proxy's
//!   rollup rows.

use anyhow::{Context, bail};
use proxyhealth_core::{
    CheckRecord, HealthReport, HistoryBatch, LatencySketch, Status, Transition,
};
use proxyhealth_store::history::view;
use proxyhealth_store::{HistoryStore, OpenOptions, PgStore, ProxyStore, SqliteStore};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use uuid::Uuid;

/// Timed sweeps (after the first, which records every proxy's first status).
const SWEEPS: usize = 9;
/// Timed window reads (each of another proxy), after two warm-ups.
const READS: usize = 15;
/// SQLite rows per generated `INSERT` (one proxy's hours at a time would be slow).
const HOUR: i64 = 3600;

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

/// Runs the three measurements and prints the report.
pub async fn run(args: HistoryArgs) -> anyhow::Result<()> {
    let report = if args.db.starts_with("postgres://") || args.db.starts_with("postgresql://") {
        postgres(&args).await?
    } else if args.db == "sqlite" {
        sqlite(&args).await?
    } else {
        bail!("--db must be sqlite or postgres://…");
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// The proxy ids of the generated rows: `i` as a UUID (the same bytes the
/// SQL generators write).
fn proxy_id(i: usize) -> Uuid {
    Uuid::from_u128(i as u128)
}

/// A realistic hour's sketch: 60 checks of 2 to 9 ms.
fn hour_sketch() -> LatencySketch {
    let mut sketch = LatencySketch::default();
    for i in 0..60u64 {
        sketch.add(2_000 + (i * 7_919) % 7_000);
    }
    sketch
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The start of the current hour.
fn this_hour() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp().div_euclid(HOUR) * HOUR
}

/// A sweep's batch: every proxy checked at `at`, and `flips` of them
/// changing status (alternating by sweep number).
fn sweep_batch(proxies: usize, at: OffsetDateTime, sweep: usize, flips: usize) -> HistoryBatch {
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
async fn time_writes(
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

fn median_ms(times: &mut [Duration]) -> f64 {
    times.sort();
    times
        .get(times.len() / 2)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// Times a 30-day window of several proxies (and the plain SELECT).
async fn time_reads<F, Fut>(
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
const REPORT: &str =
    r#"{"errors":["dial tcp 127.0.0.1:9: connect: connection refused"],"warnings":[]}"#;

async fn sqlite(args: &HistoryArgs) -> anyhow::Result<HistoryReport> {
    let scratch = tempfile::Builder::new()
        .prefix("proxyhealth-bench-history")
        .tempdir()
        .context("make a scratch directory")?;
    let mut report = HistoryReport {
        backend: "sqlite".into(),
        proxies: args.proxies,
        size_proxies: args.size_proxies,
        size_days: args.size_days,
        read_days: args.read_days,
        ..HistoryReport::default()
    };

    // write: on the disk (each commit is fsynced, as in service)
    let path = scratch.path().join("write.db");
    let store = SqliteStore::open(&path).await?;
    let history = store.history().context("SQLite keeps history")?;
    let (first, write, flips) = time_writes(history.as_ref(), args.proxies).await?;
    report.first_write_ms = first;
    report.write_ms = write;
    report.transitions_per_sweep = flips;
    // BEGIN, the rollup INSERTs (500 rows each), a lookup and an insert per
    // transition, COMMIT
    report.statements = (2 + args.proxies.div_ceil(500) + 2 * flips) as f64;
    let pool = raw_sqlite(&path).await?;
    sqlx::query("CREATE TABLE plain_checks (proxy_id BLOB NOT NULL, at INTEGER NOT NULL, status TEXT NOT NULL, latency_us INTEGER)")
        .execute(&pool)
        .await?;
    let mut times = Vec::with_capacity(SWEEPS);
    for sweep in 0..SWEEPS {
        let at = this_hour() * 1_000_000_000 + sweep as i64;
        let started = Instant::now();
        let mut tx = pool.begin().await?;
        for chunk in (0..args.proxies).collect::<Vec<_>>().chunks(500) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO plain_checks (proxy_id, at, status, latency_us) ",
            );
            insert.push_values(chunk, |mut values, i| {
                values
                    .push_bind(proxy_id(*i).as_bytes().to_vec())
                    .push_bind(at)
                    .push_bind("ok")
                    .push_bind(2_000 + (*i as i64 * 7_919) % 7_000);
            });
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        times.push(started.elapsed());
    }
    report.plain_ms = median_ms(&mut times);
    pool.close().await;
    store.close().await;

    // size: generated rows, then the file's size
    let path = scratch.path().join("size.db");
    let (fill_s, rollups, transitions) =
        fill_sqlite(&path, args.size_proxies, args.size_days).await?;
    report.size_fill_s = fill_s;
    report.size_rollups = rollups;
    report.size_transitions = transitions;
    let pool = raw_sqlite(&path).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await?;
    let pages: i64 = sqlx::query("PRAGMA page_count")
        .fetch_one(&pool)
        .await?
        .try_get(0)?;
    let page_size: i64 = sqlx::query("PRAGMA page_size")
        .fetch_one(&pool)
        .await?
        .try_get(0)?;
    report.size_bytes = u64::try_from(pages * page_size).unwrap_or(0);
    pool.close().await;
    std::fs::remove_file(&path).ok();

    // read: 10,000 proxies × 30 days
    let path = scratch.path().join("read.db");
    let (fill_s, _, _) = fill_sqlite(&path, args.proxies, args.read_days).await?;
    report.read_fill_s = fill_s;
    let store = SqliteStore::open(&path).await?;
    let history = store.history().context("SQLite keeps history")?;
    let pool = raw_sqlite(&path).await?;
    let (read, plain, buckets) = time_reads(
        history.as_ref(),
        args.proxies,
        args.read_days,
        |id, since| {
            let pool = pool.clone();
            async move {
                let rows = sqlx::query(
                    "SELECT * FROM proxyhealth_rollups WHERE proxy_id = ?1 AND hour >= ?2",
                )
                .bind(id.as_bytes().to_vec())
                .bind(since.unix_timestamp())
                .fetch_all(&pool)
                .await?;
                Ok(rows.len())
            }
        },
    )
    .await?;
    report.read_ms = read;
    report.read_plain_ms = plain;
    report.read_buckets = buckets;
    pool.close().await;
    store.close().await;
    Ok(report)
}

async fn raw_sqlite(path: &Path) -> anyhow::Result<sqlx::SqlitePool> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(Duration::from_secs(30));
    Ok(sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?)
}

/// Makes the store's tables at `path` and fills them with `days` of hourly
/// rollups and two transitions a day for `proxies` proxies, ending with the
/// current hour. Returns the seconds taken and the row counts.
async fn fill_sqlite(path: &Path, proxies: usize, days: usize) -> anyhow::Result<(f64, u64, u64)> {
    let store = SqliteStore::open(path).await?;
    store.close().await;
    let pool = raw_sqlite(path).await?;
    let started = Instant::now();
    let hours = (days * 24) as i64;
    let first = this_hour() - (hours - 1) * HOUR;
    let sketch = hex(&hour_sketch().encode());
    let mut tx = pool.begin().await?;
    // proxies outer, hours inner: rows arrive in primary-key order
    let rollups = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH RECURSIVE p(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM p WHERE i < {last_proxy}), \
           h(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM h WHERE j < {last_hour}) \
         INSERT INTO proxyhealth_rollups (proxy_id, hour, writer, checks, ok, unhealthy, \
           unreachable, unregistered, latency_max_us, sketch) \
         SELECT unhex(printf('%032x', i)), {first} + j * 3600, 1, 60, 59, 0, 1, 0, \
           9000 + (i * 31 + j) % 3000, X'{sketch}' FROM p CROSS JOIN h",
        last_proxy = proxies - 1,
        last_hour = hours - 1,
    )))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // two a day per proxy: to unreachable, then back to ok 7 minutes later
    let transitions = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH RECURSIVE p(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM p WHERE i < {last_proxy}), \
           d(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM d WHERE k < {last_event}) \
         INSERT INTO proxyhealth_transitions (proxy_id, proxy_name, proxy_url, at, from_status, \
           to_status, report, replica_id, previous_ms) \
         SELECT lower(substr(printf('%032x', i), 1, 8) || '-' || substr(printf('%032x', i), 9, 4) \
             || '-' || substr(printf('%032x', i), 13, 4) || '-' || substr(printf('%032x', i), 17, 4) \
             || '-' || substr(printf('%032x', i), 21)), \
           'region-' || i, 'http://127.0.0.1:' || (20000 + i % 40000), \
           ({first} + (k / 2) * 86400 + (i * 7919) % 86000 + (k % 2) * 420) * 1000000000, \
           CASE k % 2 WHEN 0 THEN 'ok' ELSE 'unreachable' END, \
           CASE k % 2 WHEN 0 THEN 'unreachable' ELSE 'ok' END, \
           CASE k % 2 WHEN 0 THEN '{REPORT}' ELSE '{{\"errors\":[],\"warnings\":[]}}' END, \
           NULL, CASE k % 2 WHEN 0 THEN 85000000 ELSE 420000 END \
         FROM d CROSS JOIN p",
        last_proxy = proxies - 1,
        last_event = days * 2 - 1,
    )))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    let fill_s = started.elapsed().as_secs_f64();
    pool.close().await;
    Ok((fill_s, rollups, transitions))
}

async fn postgres(args: &HistoryArgs) -> anyhow::Result<HistoryReport> {
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&args.db)
        .await
        .context("connect to PostgreSQL")?;
    let mut report = HistoryReport {
        backend: "postgres".into(),
        proxies: args.proxies,
        size_proxies: args.size_proxies,
        size_days: args.size_days,
        read_days: args.read_days,
        ..HistoryReport::default()
    };
    for (db, stage) in [
        ("proxyhealth_bench_history_write", 0),
        ("proxyhealth_bench_history_size", 1),
        ("proxyhealth_bench_history_read", 2),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
        )))
        .execute(&admin)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
            .execute(&admin)
            .await?;
        let url = crate::store_list::scratch_url(&args.db, db)?;
        let result = match stage {
            0 => pg_write(&url, args, &mut report).await,
            1 => pg_size(&url, args, &mut report).await,
            _ => pg_read(&url, args, &mut report).await,
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
        )))
        .execute(&admin)
        .await?;
        result?;
    }
    admin.close().await;
    Ok(report)
}

async fn pg_write(url: &str, args: &HistoryArgs, report: &mut HistoryReport) -> anyhow::Result<()> {
    let store = PgStore::open(url, &OpenOptions::default()).await?;
    let history = store.history().context("PostgreSQL keeps history")?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?;
    let stats = crate::pgstats::PgStats::new(pool.clone()).await;
    let before = stats.read().await?;
    let started = Instant::now();
    let (first, write, flips) = time_writes(history.as_ref(), args.proxies).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let after = stats.read().await?;
    let window = crate::pgstats::window(&before, &after, 0);
    report.first_write_ms = first;
    report.write_ms = write;
    report.transitions_per_sweep = flips;
    match window.statements_per_s {
        Some(per_s) => {
            // the counters' own two reads fall in the window
            report.statements = ((per_s * elapsed) - 2.0).max(0.0) / (SWEEPS + 1) as f64;
            report.statements_counted = true;
        }
        // BEGIN, rollups, last transitions, transitions, COMMIT
        None => report.statements = 5.0,
    }
    sqlx::query("CREATE TABLE plain_checks (proxy_id uuid NOT NULL, at timestamptz NOT NULL, status text NOT NULL, latency_us bigint)")
        .execute(&pool)
        .await?;
    let ids: Vec<Uuid> = (0..args.proxies).map(proxy_id).collect();
    let latencies: Vec<i64> = (0..args.proxies)
        .map(|i| 2_000 + (i as i64 * 7_919) % 7_000)
        .collect();
    let mut times = Vec::with_capacity(SWEEPS);
    for _ in 0..SWEEPS {
        let started = Instant::now();
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO plain_checks (proxy_id, at, status, latency_us) \
             SELECT p, now(), 'ok', l FROM unnest($1::uuid[], $2::bigint[]) AS x(p, l)",
        )
        .bind(&ids)
        .bind(&latencies)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        times.push(started.elapsed());
    }
    report.plain_ms = median_ms(&mut times);
    pool.close().await;
    store.close().await;
    Ok(())
}

/// Makes the store's tables at `url` and fills them as [`fill_sqlite`] does.
async fn fill_pg(
    url: &str,
    proxies: usize,
    days: usize,
) -> anyhow::Result<(sqlx::PgPool, f64, u64, u64)> {
    let store = PgStore::open(url, &OpenOptions::default()).await?;
    store.close().await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?;
    let started = Instant::now();
    let hours = (days * 24) as i64;
    let first = this_hour() - (hours - 1) * HOUR;
    let sketch = hex(&hour_sketch().encode());
    let id = "('00000000-0000-0000-0000-' || lpad(to_hex(i), 12, '0'))::uuid";
    let rollups = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO proxyhealth_rollups (proxy_id, hour, writer, checks, ok, unhealthy, \
           unreachable, unregistered, latency_max_us, sketch) \
         SELECT {id}, to_timestamp({first} + j * 3600), 1, 60, 59, 0, 1, 0, \
           9000 + (i * 31 + j) % 3000, '\\x{sketch}'::bytea \
         FROM generate_series(0, {last_proxy}) i, generate_series(0, {last_hour}) j \
         ORDER BY i, j",
        last_proxy = proxies - 1,
        last_hour = hours - 1,
    )))
    .execute(&pool)
    .await?
    .rows_affected();
    let transitions = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO proxyhealth_transitions (proxy_id, proxy_name, proxy_url, at, from_status, \
           to_status, report, replica_id, previous_ms) \
         SELECT {id}, 'region-' || i, 'http://127.0.0.1:' || (20000 + i % 40000), \
           to_timestamp({first} + (k / 2) * 86400 + (i * 7919) % 86000 + (k % 2) * 420), \
           CASE k % 2 WHEN 0 THEN 'ok' ELSE 'unreachable' END, \
           CASE k % 2 WHEN 0 THEN 'unreachable' ELSE 'ok' END, \
           (CASE k % 2 WHEN 0 THEN '{REPORT}' ELSE '{{\"errors\":[],\"warnings\":[]}}' END)::jsonb, \
           NULL, CASE k % 2 WHEN 0 THEN 85000000 ELSE 420000 END \
         FROM generate_series(0, {last_event}) k, generate_series(0, {last_proxy}) i",
        last_proxy = proxies - 1,
        last_event = days * 2 - 1,
    )))
    .execute(&pool)
    .await?
    .rows_affected();
    sqlx::query("VACUUM ANALYZE proxyhealth_rollups")
        .execute(&pool)
        .await?;
    sqlx::query("VACUUM ANALYZE proxyhealth_transitions")
        .execute(&pool)
        .await?;
    Ok((pool, started.elapsed().as_secs_f64(), rollups, transitions))
}

async fn pg_size(url: &str, args: &HistoryArgs, report: &mut HistoryReport) -> anyhow::Result<()> {
    let (pool, fill_s, rollups, transitions) =
        fill_pg(url, args.size_proxies, args.size_days).await?;
    report.size_fill_s = fill_s;
    report.size_rollups = rollups;
    report.size_transitions = transitions;
    let bytes: i64 = sqlx::query(
        "SELECT (pg_total_relation_size('proxyhealth_rollups') \
           + pg_total_relation_size('proxyhealth_transitions'))::bigint",
    )
    .fetch_one(&pool)
    .await?
    .try_get(0)?;
    report.size_bytes = u64::try_from(bytes).unwrap_or(0);
    pool.close().await;
    Ok(())
}

async fn pg_read(url: &str, args: &HistoryArgs, report: &mut HistoryReport) -> anyhow::Result<()> {
    let (pool, fill_s, _, _) = fill_pg(url, args.proxies, args.read_days).await?;
    report.read_fill_s = fill_s;
    let store = PgStore::open(url, &OpenOptions::default()).await?;
    let history: Arc<dyn HistoryStore> = store.history().context("PostgreSQL keeps history")?;
    let (read, plain, buckets) = time_reads(
        history.as_ref(),
        args.proxies,
        args.read_days,
        |id, since| {
            let pool = pool.clone();
            async move {
                let rows = sqlx::query(
                    "SELECT * FROM proxyhealth_rollups WHERE proxy_id = $1 AND hour >= $2",
                )
                .bind(id)
                .bind(since)
                .fetch_all(&pool)
                .await?;
                Ok(rows.len())
            }
        },
    )
    .await?;
    report.read_ms = read;
    report.read_plain_ms = plain;
    report.read_buckets = buckets;
    pool.close().await;
    store.close().await;
    Ok(())
}

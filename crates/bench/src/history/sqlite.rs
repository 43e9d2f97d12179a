//! The history measurements on SQLite: scratch files in the temp dir.

use super::common::*;
use anyhow::Context;
use proxyhealth_store::{ProxyStore, SqliteStore};
use sqlx::Row;
use std::path::Path;
use std::time::{Duration, Instant};

pub(super) async fn run(args: &HistoryArgs) -> anyhow::Result<HistoryReport> {
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

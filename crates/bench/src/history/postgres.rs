//! The history measurements on PostgreSQL: scratch databases made and
//! dropped on the given server.

use super::common::*;
use anyhow::Context;
use proxyhealth_store::{HistoryStore, OpenOptions, PgStore, ProxyStore};
use sqlx::Row;
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

pub(super) async fn run(args: &HistoryArgs) -> anyhow::Result<HistoryReport> {
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

/// Makes the store's tables at `url` and fills them as the SQLite fill does.
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

//! `proxyhealth-bench replicas`: several `proxyhealth serve` replicas and a
//! large fleet on one PostgreSQL. Prints one JSON line.
//!
//! In a scratch database on the server: `count` healthy simulated proxies
//! (the fleet in its own process, counting the requests each proxy gets),
//! registered with one `INSERT`; then
//! 1. one replica, after its first pass, for `single-intervals` intervals: the
//!    reference (checks per proxy per interval, the database's work);
//! 2. `replicas` replicas (the others started), after `warmup-intervals`, for
//!    `intervals` intervals: the same figures, and each replica's share of
//!    the claims;
//! 3. for `propagation`: the time from a result to every replica serving it
//!    (see [`crate::propagation`]).
//!
//! Everything is stopped and the database dropped whatever happened.

use crate::child::Service;
use crate::fleet::{FleetReady, FleetSpread, FleetStats};
use crate::pgstats::{DbWindow, PgStats};
use crate::propagation::PropagationReport;
use crate::replica_proc::{ReplicaProcess, ReplicaSpec};
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The scratch database made (and dropped) on the server.
const SCRATCH_DB: &str = "proxyhealth_bench_replicas";
/// Drops [`SCRATCH_DB`].
const DROP_DB: &str = "DROP DATABASE IF EXISTS proxyhealth_bench_replicas WITH (FORCE)";
/// Makes [`SCRATCH_DB`].
const CREATE_DB: &str = "CREATE DATABASE proxyhealth_bench_replicas";
/// The admin token every replica is started with.
const ADMIN_TOKEN: &str = "proxyhealth-bench-replicas-admin-token";
/// Statements listed per window.
const TOP_STATEMENTS: usize = 8;

/// The options of `replicas`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplicasArgs {
    /// A PostgreSQL server (a scratch database is made there and dropped).
    #[arg(long, env = "PROXYHEALTH_TEST_PG_URL")]
    pub pg_url: String,
    /// Proxies in the fleet.
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
    /// Replicas in the measured cluster.
    #[arg(long, default_value_t = 3)]
    pub replicas: usize,
    /// The replicas' `--interval`.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// The replicas' `--timeout`.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Intervals measured with one replica (the reference).
    #[arg(long, default_value_t = 2)]
    pub single_intervals: u32,
    /// Intervals the cluster runs before it is measured.
    #[arg(long, default_value_t = 1)]
    pub warmup_intervals: u32,
    /// Intervals measured with every replica.
    #[arg(long, default_value_t = 3)]
    pub intervals: u32,
    /// How long results are sampled for the propagation time: longer than
    /// the replicas' 60 s whole read of the view, so the samples include it.
    #[arg(long, default_value = "65s", value_parser = humantime::parse_duration)]
    pub propagation: Duration,
    /// The `proxyhealth` binary (default: next to this one).
    #[arg(long)]
    pub proxyhealth: Option<PathBuf>,
    /// Where the fleet's targets and the replicas' logs go (default: a temp dir).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

/// One measured window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Window {
    /// Replicas running.
    pub replicas: usize,
    /// Seconds measured.
    pub seconds: f64,
    /// The same in intervals.
    pub intervals: f64,
    /// Requests the fleet received.
    pub requests: u64,
    /// Requests per proxy per interval (1 is the target).
    pub per_proxy_per_interval: f64,
    /// The fewest requests one proxy received.
    pub min_per_proxy: u64,
    /// The most requests one proxy received.
    pub max_per_proxy: u64,
    /// Claims each replica made in the window (from its `/metrics`).
    pub claims: Vec<u64>,
    /// What the database did.
    pub db: DbWindow,
}

/// What `replicas` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicasReport {
    /// Proxies in the fleet.
    pub proxies: usize,
    /// The interval, seconds.
    pub interval_s: f64,
    /// The check timeout, seconds.
    pub timeout_s: f64,
    /// `pg_stat_statements` or `pg_stat_database` (transactions only).
    pub counter: String,
    /// Intervals the cluster ran before it was measured.
    pub warmup_intervals: u32,
    /// Seconds from the start of the first replica to the end of its first pass.
    pub first_pass_s: f64,
    /// One replica (the reference).
    pub single: Window,
    /// Every replica.
    pub cluster: Window,
    /// The time from a result to every replica serving it.
    pub propagation: PropagationReport,
    /// Writes rejected by fencing, summed over the replicas at the end.
    pub rejected: u64,
    /// Take-overs, summed over the replicas at the end.
    pub takeovers: u64,
    /// Replicas whose summary did not show every proxy `ok` at the end.
    pub disagreeing: Vec<String>,
    /// Seconds the stage took.
    pub total_s: f64,
}

/// Runs the stage and returns its report (`main` prints it, as the results
/// page shows it and as one JSON line).
pub async fn run(args: ReplicasArgs) -> anyhow::Result<ReplicasReport> {
    let _ = proxyhealth_sim::raise_fd_limit();
    measure(&args).await
}

/// Makes the scratch database, runs the stage in it and drops it.
async fn measure(args: &ReplicasArgs) -> anyhow::Result<ReplicasReport> {
    let started = Instant::now();
    let binary = crate::child::proxyhealth_binary(args.proxyhealth.as_deref())?;
    let scratch = tempfile::Builder::new()
        .prefix("proxyhealth-bench-replicas")
        .tempdir()?;
    let work_dir = args
        .work_dir
        .clone()
        .unwrap_or_else(|| scratch.path().to_owned());
    std::fs::create_dir_all(&work_dir)?;
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&args.pg_url)
        .await
        .context("connect to PostgreSQL")?;
    sqlx::query(DROP_DB).execute(&admin).await?;
    sqlx::query(CREATE_DB).execute(&admin).await?;
    let db_url = crate::store_list::scratch_url(&args.pg_url, SCRATCH_DB)?;
    let spec = ReplicaSpec {
        binary,
        db: db_url.clone(),
        interval: args.interval,
        timeout: args.timeout,
        admin_token: ADMIN_TOKEN.to_owned(),
    };
    let result = with_fleet(args, &spec, &work_dir).await;
    let dropped = sqlx::query(DROP_DB).execute(&admin).await;
    admin.close().await;
    let mut report = result?;
    dropped.context("drop the scratch database")?;
    report.total_s = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Starts the fleet, runs the stages, and stops the replicas and the fleet.
async fn with_fleet(
    args: &ReplicasArgs,
    spec: &ReplicaSpec,
    work_dir: &std::path::Path,
) -> anyhow::Result<ReplicasReport> {
    let targets = work_dir.join("targets-replicas.tsv");
    let parallelism = proxyhealth_engine::options::DEFAULT_PARALLELISM;
    let fleet_args = vec![
        "fleet".to_owned(),
        "--count".to_owned(),
        args.count.to_string(),
        "--targets".to_owned(),
        targets.display().to_string(),
        "--max-connections".to_owned(),
        (args.replicas.max(1) * parallelism + 100).to_string(),
    ];
    let (mut fleet, ready) = Service::start::<FleetReady>(&fleet_args, Duration::from_secs(120))
        .await
        .context("start the fleet")?;
    eprintln!("   fleet: {}", ready.summary);
    let mut replicas = Vec::new();
    let result = stages(args, spec, work_dir, &targets, &mut fleet, &mut replicas).await;
    // stopped together: each sends its last results and marks itself stopped
    let stops = replicas.into_iter().map(|replica| async move {
        let log = replica.log.clone();
        replica
            .stop()
            .await
            .map_err(|err| format!("{err:#}; log: {}", crate::replica_proc::tail(&log)))
    });
    let mut stop_errors: Vec<String> = futures::future::join_all(stops)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect();
    if let Err(err) = fleet.stop().await {
        stop_errors.push(format!("fleet: {err:#}"));
    }
    let report = result?;
    if !stop_errors.is_empty() {
        bail!("stopping: {}", stop_errors.join("; "));
    }
    Ok(report)
}

/// The measurements, with the fleet running; started replicas go into `replicas`.
async fn stages(
    args: &ReplicasArgs,
    spec: &ReplicaSpec,
    work_dir: &std::path::Path,
    targets: &std::path::Path,
    fleet: &mut Service,
    replicas: &mut Vec<ReplicaProcess>,
) -> anyhow::Result<ReplicasReport> {
    // the schema, then every proxy registered at its fleet address in one statement
    let store =
        proxyhealth_store::PgStore::open(&spec.db, &proxyhealth_store::OpenOptions::default())
            .await
            .context("open the scratch store")?;
    drop(store);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&spec.db)
        .await?;
    let urls: Vec<String> = crate::targets::read_targets(targets)?
        .into_iter()
        .map(|t| t.url)
        .collect();
    if urls.len() != args.count {
        bail!("the fleet wrote {} targets for {}", urls.len(), args.count);
    }
    register(&pool, &urls).await?;
    let stats = PgStats::new(pool.clone()).await;
    let counter = if stats.counts_statements() {
        "pg_stat_statements"
    } else {
        "pg_stat_database"
    };
    eprintln!(
        "   {} proxies registered; database work from {counter}",
        urls.len()
    );

    let first = Instant::now();
    replicas.push(ReplicaProcess::start(spec, 0, work_dir).await?);
    wait_first_pass(&pool, args.count, Duration::from_secs(120)).await?;
    let first_pass_s = first.elapsed().as_secs_f64();
    eprintln!(
        "   one replica: first pass of {} in {first_pass_s:.1} s",
        args.count
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let single = window(args, args.single_intervals, fleet, &stats, replicas).await?;
    eprintln!(
        "   one replica: {:.3} checks per proxy per interval",
        single.per_proxy_per_interval
    );

    for index in 1..args.replicas {
        replicas.push(ReplicaProcess::start(spec, index, work_dir).await?);
    }
    tokio::time::sleep(args.interval * args.warmup_intervals).await;
    let cluster = window(args, args.intervals, fleet, &stats, replicas).await?;
    eprintln!(
        "   {} replicas: {:.3} checks per proxy per interval",
        replicas.len(),
        cluster.per_proxy_per_interval
    );

    let urls: Vec<String> = replicas.iter().map(|r| r.url.clone()).collect();
    let propagation =
        crate::propagation::measure(&spec.db, &urls, ADMIN_TOKEN, args.propagation).await?;
    eprintln!(
        "   propagation: {} samples, p50 {:.1} ms, p99 {:.1} ms",
        propagation.samples, propagation.p50_ms, propagation.p99_ms
    );

    let client = proxyhealth_api::http::client();
    let (mut rejected, mut takeovers) = (0, 0);
    let mut disagreeing = Vec::new();
    for url in &urls {
        let metrics = scrape(&client, url).await?;
        rejected += counter_value(&metrics, proxyhealth_cluster::metrics::REJECTED);
        takeovers += counter_value(&metrics, proxyhealth_cluster::metrics::TAKEOVERS);
        let summary: serde_json::Value = client
            .get(format!("{url}/api/v2/proxyhealth/summary"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let ok = summary
            .pointer("/counts/ok")
            .and_then(serde_json::Value::as_u64);
        if ok != Some(args.count as u64) {
            disagreeing.push(format!("{url}: {ok:?} ok of {}", args.count));
        }
    }
    pool.close().await;
    Ok(ReplicasReport {
        proxies: args.count,
        interval_s: args.interval.as_secs_f64(),
        timeout_s: args.timeout.as_secs_f64(),
        counter: counter.to_owned(),
        warmup_intervals: args.warmup_intervals,
        first_pass_s,
        single,
        cluster,
        propagation,
        rejected,
        takeovers,
        disagreeing,
        total_s: 0.0,
    })
}

/// Inserts one registered proxy per URL (as `create` then `register` would
/// leave it; nobody authenticates as these proxies, so the token is a dummy).
async fn register(pool: &PgPool, urls: &[String]) -> anyhow::Result<()> {
    let ids: Vec<Uuid> = urls.iter().map(|_| Uuid::new_v4()).collect();
    sqlx::query(
        "INSERT INTO workspace_proxies (id, name, display_name, icon, url, wildcard_hostname, \
           created_at, updated_at, deleted, token_hashed_secret, derp_enabled, derp_only, version) \
         SELECT id, 'region-' || i, 'Region ' || i, '/emojis/1f30d.png', url, \
           '*.r' || i || '.example.com', now(), now(), false, '\\x00'::bytea, true, false, 'v2.20.0' \
         FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS t(id, url, i)",
    )
    .bind(&ids)
    .bind(urls)
    .execute(pool)
    .await
    .context("register the proxies")?;
    Ok(())
}

/// Waits until every proxy has a stored result.
async fn wait_first_pass(pool: &PgPool, count: usize, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let checked: i64 =
            sqlx::query("SELECT count(*) FROM proxyhealth_checks WHERE checked_at IS NOT NULL")
                .fetch_one(pool)
                .await?
                .try_get(0)?;
        if usize::try_from(checked).unwrap_or(0) >= count {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {checked} of {count} proxies checked after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Measures `intervals` intervals with the replicas running now.
async fn window(
    args: &ReplicasArgs,
    intervals: u32,
    fleet: &mut Service,
    stats: &PgStats,
    replicas: &[ReplicaProcess],
) -> anyhow::Result<Window> {
    let client = proxyhealth_api::http::client();
    let claims_before = claims(&client, replicas).await?;
    let _: FleetStats = fleet.ask("mark").await?;
    let db_before = stats.read().await?;
    let started = Instant::now();
    tokio::time::sleep(args.interval * intervals).await;
    let db_after = stats.read().await?;
    let spread: FleetSpread = fleet.ask("spread").await?;
    let seconds = started.elapsed().as_secs_f64();
    let claims_after = claims(&client, replicas).await?;
    let in_intervals = seconds / args.interval.as_secs_f64();
    Ok(Window {
        replicas: replicas.len(),
        seconds,
        intervals: in_intervals,
        requests: spread.requests,
        per_proxy_per_interval: spread.requests as f64 / args.count as f64 / in_intervals,
        min_per_proxy: spread.min,
        max_per_proxy: spread.max,
        claims: claims_after
            .iter()
            .zip(&claims_before)
            .map(|(after, before)| after.saturating_sub(*before))
            .collect(),
        db: crate::pgstats::window(&db_before, &db_after, TOP_STATEMENTS),
    })
}

/// Each replica's claims so far.
async fn claims(client: &reqwest::Client, replicas: &[ReplicaProcess]) -> anyhow::Result<Vec<u64>> {
    let mut out = Vec::with_capacity(replicas.len());
    for replica in replicas {
        let metrics = scrape(client, &replica.url).await?;
        out.push(counter_value(
            &metrics,
            proxyhealth_cluster::metrics::CLAIMS,
        ));
    }
    Ok(out)
}

/// A replica's `/metrics` text.
async fn scrape(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    crate::scrape::metrics_text(client, base, ADMIN_TOKEN).await
}

/// The value of an unlabelled counter in Prometheus text (0 when absent).
fn counter_value(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (metric, value) = line.split_once(' ')?;
            (metric == name).then(|| value.trim().parse::<f64>().ok())?
        })
        .map_or(0, |v| v as u64)
}

#[cfg(test)]
mod tests {
    use super::counter_value;

    #[test]
    fn reads_an_unlabelled_counter() {
        let text = "# HELP coderd_proxyhealth_claims_total Proxies claimed.\n\
                    # TYPE coderd_proxyhealth_claims_total counter\n\
                    coderd_proxyhealth_claims_total 12345\n\
                    coderd_proxyhealth_claims_total_other 7\n";
        assert_eq!(
            counter_value(text, "coderd_proxyhealth_claims_total"),
            12345
        );
        assert_eq!(counter_value(text, "coderd_proxyhealth_takeovers_total"), 0);
    }
}

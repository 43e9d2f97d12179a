//! `proxyhealth-bench store-list`: time of one `list_proxies()` over `count`
//! proxies, against a plain `SELECT * … WHERE deleted = false` of the same rows
//! through the same driver (sqlx), so the store's own cost shows as a ratio.

use anyhow::{Context, bail};
use futures::StreamExt;
use proxyhealth_core::ProxySource;
use proxyhealth_store::{NewProxy, PgStore, ProxyStore, Registration, SqliteStore};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The scratch database made (and dropped) on a PostgreSQL server.
const PG_SCRATCH_DB: &str = "proxyhealth_bench";
/// Timed runs of each query, after two warm-up runs.
const RUNS: usize = 15;
/// Writes in flight while filling the store.
const FILL_CONCURRENCY: usize = 8;

/// The options of `store-list`.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreListArgs {
    /// `sqlite` (a scratch file in /dev/shm or the temp dir), `sqlite://PATH`, or a
    /// `postgres://` URL of a server where a scratch database
    /// `proxyhealth_bench` is made and dropped.
    #[arg(long)]
    pub db: String,
    /// Proxies to list.
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
}

/// What one `store-list` run prints, as one JSON line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreListReport {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Rows listed.
    pub rows: usize,
    /// Median time of one `list_proxies()`, ms.
    pub list_ms: f64,
    /// Median time of the plain `SELECT`, ms.
    pub select_ms: f64,
    /// Seconds spent filling the store (not measured against anything).
    pub fill_s: f64,
}

/// Fills the store, times both queries and prints the report.
pub async fn run(args: StoreListArgs) -> anyhow::Result<()> {
    let report = if args.db.starts_with("postgres://") || args.db.starts_with("postgresql://") {
        postgres(&args.db, args.count).await?
    } else {
        let scratch = scratch_dir()?;
        let path = match args.db.strip_prefix("sqlite://") {
            Some(path) => PathBuf::from(path),
            None if args.db == "sqlite" => scratch.path().join("bench.db"),
            None => bail!("--db must be sqlite, sqlite://PATH or postgres://…"),
        };
        sqlite(&path, args.count).await?
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// A temp dir on tmpfs when there is one (filling skips the disk's fsyncs; the
/// listing reads the page cache either way).
fn scratch_dir() -> anyhow::Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("proxyhealth-bench")
            .tempdir_in(shm)
    } else {
        tempfile::Builder::new()
            .prefix("proxyhealth-bench")
            .tempdir()
    };
    dir.context("make a scratch directory")
}

async fn sqlite(path: &Path, count: usize) -> anyhow::Result<StoreListReport> {
    let store = Arc::new(SqliteStore::open(path).await?);
    let fill_s = fill(Arc::clone(&store) as Arc<dyn ProxyStore>, count).await?;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let (list, select, rows) = time_both(store.as_ref(), count, || async {
        let rows = sqlx::query("SELECT * FROM workspace_proxies WHERE deleted = false")
            .fetch_all(&pool)
            .await?;
        Ok(rows.len())
    })
    .await?;
    pool.close().await;
    store.close().await;
    Ok(StoreListReport {
        backend: "sqlite".to_owned(),
        rows,
        list_ms: list,
        select_ms: select,
        fill_s,
    })
}

async fn postgres(server_url: &str, count: usize) -> anyhow::Result<StoreListReport> {
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(server_url)
        .await
        .context("connect to PostgreSQL")?;
    sqlx::query("DROP DATABASE IF EXISTS proxyhealth_bench WITH (FORCE)")
        .execute(&admin)
        .await?;
    sqlx::query("CREATE DATABASE proxyhealth_bench")
        .execute(&admin)
        .await?;
    let result = postgres_in(&scratch_url(server_url, PG_SCRATCH_DB)?, count).await;
    sqlx::query("DROP DATABASE IF EXISTS proxyhealth_bench WITH (FORCE)")
        .execute(&admin)
        .await?;
    admin.close().await;
    result
}

/// The server's URL with the database `db` as its path.
pub fn scratch_url(server_url: &str, db: &str) -> anyhow::Result<String> {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let scheme_end = base.find("://").context("a postgres URL has ://")? + 3;
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut url = format!("{}/{db}", &base[..host_end]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    Ok(url)
}

async fn postgres_in(url: &str, count: usize) -> anyhow::Result<StoreListReport> {
    let store = Arc::new(PgStore::open(url, &proxyhealth_store::OpenOptions::default()).await?);
    let fill_s = fill(Arc::clone(&store) as Arc<dyn ProxyStore>, count).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?;
    let (list, select, rows) = time_both(store.as_ref(), count, || async {
        let rows = sqlx::query("SELECT * FROM workspace_proxies WHERE deleted = false")
            .fetch_all(&pool)
            .await?;
        Ok(rows.len())
    })
    .await?;
    pool.close().await;
    Ok(StoreListReport {
        backend: "postgres".to_owned(),
        rows,
        list_ms: list,
        select_ms: select,
        fill_s,
    })
}

/// Creates and registers `count` proxies, a few writes in flight; returns the seconds taken.
async fn fill(store: Arc<dyn ProxyStore>, count: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    let port = crate::regions::refused_port()?;
    let mut writes = futures::stream::iter(0..count)
        .map(|i| {
            let store = Arc::clone(&store);
            async move {
                let created = store
                    .create_proxy(NewProxy {
                        name: format!("region-{i}"),
                        display_name: format!("Region {i}"),
                        icon: "/emojis/1f30d.png".to_owned(),
                    })
                    .await?;
                store
                    .register_proxy(
                        created.proxy.id,
                        Registration {
                            url: crate::regions::refused_url(i, port),
                            wildcard_hostname: format!("*.r{i}.example.com"),
                            derp_enabled: true,
                            derp_only: false,
                            version: "v2.20.0".to_owned(),
                        },
                    )
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(FILL_CONCURRENCY);
    while let Some(done) = writes.next().await {
        done?;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Median ms of `list_proxies()` and of `select`, alternating, after two warm-ups;
/// both must return `count` rows.
async fn time_both<F, Fut>(
    store: &dyn ProxySource,
    count: usize,
    select: F,
) -> anyhow::Result<(f64, f64, usize)>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    let mut list_times = Vec::with_capacity(RUNS);
    let mut select_times = Vec::with_capacity(RUNS);
    for run in 0..RUNS + 2 {
        let started = Instant::now();
        let listed = store.list_proxies().await?.len();
        let list_time = started.elapsed();
        let started = Instant::now();
        let selected = select().await?;
        let select_time = started.elapsed();
        if listed != count || selected != count {
            bail!("expected {count} rows, list_proxies gave {listed} and the SELECT {selected}");
        }
        if run >= 2 {
            list_times.push(list_time);
            select_times.push(select_time);
        }
    }
    Ok((
        median_ms(&mut list_times),
        median_ms(&mut select_times),
        count,
    ))
}

fn median_ms(times: &mut [Duration]) -> f64 {
    times.sort();
    times
        .get(times.len() / 2)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

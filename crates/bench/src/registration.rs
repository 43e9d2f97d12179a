//! `proxyhealth-bench registration`: a fleet of workspace proxies registering
//! again at a fixed rate against the real `proxyhealth serve`, on SQLite or
//! PostgreSQL. Prints one JSON line.
//!
//! `count` healthy simulated proxies (the fleet in its own process, counting
//! the checks each one gets) are created through the API and registered, each
//! with its own token, at their loopback addresses; once every one is `ok`,
//! every proxy registers again once per `every` (10,000 every 15 s: 667
//! requests/s), spread evenly and sent at their planned times whatever the
//! answers before them did (open loop, latency from the planned send time;
//! see [`proxyhealth_load::open_loop`]), for `duration`, while the server
//! sweeps every `interval` as it would. Measured: the requests and their
//! latency, the server's RSS at the start and at each quarter, and the checks
//! the fleet received in the window against what the interval alone gives
//! (a re-registration that changes nothing must not check the proxy again).
//!
//! The window is a whole number of intervals, so it holds as many sweeps (or,
//! on PostgreSQL, claims of each proxy) as the interval gives whatever its
//! phase. Everything is stopped and a PostgreSQL scratch database dropped
//! whatever happened.

use crate::child::Service;
use crate::fleet::{FleetReady, FleetSpread, FleetStats};
use anyhow::{Context, bail};
use proxyhealth_api::ApiClient;
use proxyhealth_load::open_loop::{Pace, reregister};
use proxyhealth_load::serve::{ServeSpec, Server};
use proxyhealth_load::setup::{Member, Wanted, create_and_register, wait_all_ok};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The scratch database made (and dropped) on a PostgreSQL server.
const SCRATCH_DB: &str = "proxyhealth_bench_registration";
/// Drops [`SCRATCH_DB`].
const DROP_DB: &str = "DROP DATABASE IF EXISTS proxyhealth_bench_registration WITH (FORCE)";
/// Makes [`SCRATCH_DB`].
const CREATE_DB: &str = "CREATE DATABASE proxyhealth_bench_registration";
/// The admin token of the server under load (loopback only, thrown away).
const ADMIN_TOKEN: &str = "proxyhealth-bench-registration-admin-token";
/// The metric counting every check the server made (sweeps, claims, re-checks).
const CHECKS_METRIC: &str = "proxyhealth_checks_total";

/// The options of `registration`.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistrationArgs {
    /// `sqlite` (a file in the work directory) or a PostgreSQL server URL
    /// (a scratch database is made there and dropped).
    #[arg(long, default_value = "sqlite")]
    pub db: String,
    /// Proxies in the fleet, each registering again once per `--every`.
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
    /// How often each proxy registers again.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub every: Duration,
    /// How long the re-registrations run (a whole number of `--interval`s).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// The server's `--interval` (the time between sweeps).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// The `proxyhealth` binary (default: next to this one).
    #[arg(long)]
    pub proxyhealth: Option<PathBuf>,
    /// Where the fleet's targets, the database file and the server's log go
    /// (default: a temp dir).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

/// What `registration` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationReport {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Proxies registered.
    pub proxies: usize,
    /// Seconds between two registrations of one proxy.
    pub every_s: f64,
    /// Seconds the re-registrations ran.
    pub seconds: f64,
    /// The server's interval, seconds.
    pub interval_s: f64,
    /// Seconds to create and register every proxy and see them all `ok`.
    pub setup_s: f64,
    /// Requests per second planned.
    pub planned_rate: f64,
    /// Requests sent.
    pub sent: u64,
    /// Requests answered 201.
    pub ok: u64,
    /// Requests failed (an error or another status).
    pub failed: u64,
    /// The first reasons of the failures.
    pub failures: Vec<String>,
    /// Requests sent per second.
    pub achieved_rate: f64,
    /// Latency from the planned send time, median, ms.
    pub p50_ms: f64,
    /// The same, 99th percentile, ms.
    pub p99_ms: f64,
    /// The same, the longest, ms.
    pub max_ms: f64,
    /// The latest a request left after its planned time (the sender's own lag), ms.
    pub max_send_lag_ms: f64,
    /// The server's RSS, KiB, at the start and at each quarter.
    pub rss_kib: Vec<(String, u64)>,
    /// The last RSS reading over the first.
    pub rss_growth: Option<f64>,
    /// Seconds the checks were counted over (the re-registration window).
    pub window_s: f64,
    /// Checks the fleet received in the window.
    pub fleet_checks: u64,
    /// Checks the interval alone gives in the window (proxies × window / interval).
    pub interval_checks: f64,
    /// The fewest checks one proxy received in the window.
    pub min_per_proxy: u64,
    /// The most checks one proxy received in the window.
    pub max_per_proxy: u64,
    /// Checks the server counted in the window (`proxyhealth_checks_total`).
    pub server_checks: u64,
    /// Seconds the stage took.
    pub total_s: f64,
}

impl RegistrationReport {
    /// The fleet's checks over the interval's: 1 when a re-registration
    /// checks nothing again.
    pub fn checks_ratio(&self) -> f64 {
        self.fleet_checks as f64 / self.interval_checks.max(1.0)
    }
}

/// Runs the stage and prints its report as one JSON line.
pub async fn run(args: RegistrationArgs) -> anyhow::Result<()> {
    check_window(args.duration, args.interval)?;
    let _ = proxyhealth_sim::raise_fd_limit();
    let started = Instant::now();
    let binary = crate::child::proxyhealth_binary(args.proxyhealth.as_deref())?;
    let scratch = tempfile::Builder::new()
        .prefix("proxyhealth-bench-registration")
        .tempdir()?;
    let work_dir = args
        .work_dir
        .clone()
        .unwrap_or_else(|| scratch.path().to_owned());
    std::fs::create_dir_all(&work_dir)?;
    let mut report = if args.db == "sqlite" {
        let db = work_dir.join("registration.db");
        let _ = std::fs::remove_file(&db);
        let spec = ServeSpec::sqlite(&db, args.interval, ADMIN_TOKEN, &work_dir.join("serve.log"));
        with_fleet(&args, "sqlite", &binary, &spec, &work_dir).await?
    } else {
        let admin = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&args.db)
            .await
            .context("connect to PostgreSQL")?;
        sqlx::query(DROP_DB).execute(&admin).await?;
        sqlx::query(CREATE_DB).execute(&admin).await?;
        let spec = ServeSpec {
            db: crate::store_list::scratch_url(&args.db, SCRATCH_DB)?,
            interval: args.interval,
            admin_token: ADMIN_TOKEN.to_owned(),
            log: work_dir.join("serve.log"),
        };
        let result = with_fleet(&args, "postgres", &binary, &spec, &work_dir).await;
        let dropped = sqlx::query(DROP_DB).execute(&admin).await;
        admin.close().await;
        let report = result?;
        dropped.context("drop the scratch database")?;
        report
    };
    report.total_s = started.elapsed().as_secs_f64();
    eprintln!(
        "   {}: {} sent, {} failed, {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms; \
         RSS ×{}; checks {} against {:.0} by the interval (per proxy {}–{})",
        report.backend,
        report.sent,
        report.failed,
        report.achieved_rate,
        report.p50_ms,
        report.p99_ms,
        report.max_ms,
        report
            .rss_growth
            .map_or("—".to_owned(), |g| format!("{g:.3}")),
        report.fleet_checks,
        report.interval_checks,
        report.min_per_proxy,
        report.max_per_proxy
    );
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Starts the fleet, then the server, measures, and stops both.
async fn with_fleet(
    args: &RegistrationArgs,
    backend: &str,
    binary: &Path,
    spec: &ServeSpec,
    work_dir: &Path,
) -> anyhow::Result<RegistrationReport> {
    let targets = work_dir.join("targets-registration.tsv");
    let fleet_args = vec![
        "fleet".to_owned(),
        "--count".to_owned(),
        args.count.to_string(),
        "--targets".to_owned(),
        targets.display().to_string(),
        "--max-connections".to_owned(),
        (proxyhealth_engine::options::DEFAULT_PARALLELISM + 100).to_string(),
    ];
    let (mut fleet, ready) = Service::start::<FleetReady>(&fleet_args, Duration::from_secs(120))
        .await
        .context("start the fleet")?;
    eprintln!("   fleet: {}", ready.summary);
    let wanted: Vec<Wanted> = crate::targets::read_targets(&targets)?
        .into_iter()
        .enumerate()
        .map(|(i, target)| Wanted {
            name: format!("reg-{i:05}"),
            url: target.url,
        })
        .collect();
    let result = match Server::start(binary, spec) {
        Ok(server) => {
            let measured = measure(args, backend, &server, &mut fleet, &wanted).await;
            drop(server);
            measured
                .with_context(|| format!("server log: {}", crate::replica_proc::tail(&spec.log)))
        }
        Err(err) => Err(anyhow::Error::new(err)),
    };
    let stopped = fleet.stop().await;
    let report = result?;
    stopped?;
    Ok(report)
}

/// Sets the proxies up, then runs the re-registrations and the readings.
async fn measure(
    args: &RegistrationArgs,
    backend: &str,
    server: &Server,
    fleet: &mut Service,
    wanted: &[Wanted],
) -> anyhow::Result<RegistrationReport> {
    let (_admin, proxies, members, setup_s) = set_up_fleet(server, ADMIN_TOKEN, wanted).await?;
    eprintln!(
        "   {backend}: {} proxies created, registered and ok in {setup_s:.1} s",
        members.len()
    );

    let pace = Pace {
        every: args.every,
        duration: args.duration,
    };
    let scraper = proxyhealth_api::http::client();
    let checks_before = server_checks(&scraper, &server.url).await?;
    let _: FleetStats = fleet.ask("mark").await?;
    let window_start = Instant::now();
    let window = async {
        tokio::time::sleep(args.duration).await;
        let spread: anyhow::Result<FleetSpread> = fleet.ask("spread").await;
        let checks = server_checks(&scraper, &server.url).await;
        (spread, checks, window_start.elapsed())
    };
    let (run, rss, (spread, checks_after, window)) = tokio::join!(
        reregister(&proxies, &members, pace),
        proxyhealth_load::memory::rss_at_quarters(server, args.duration, args.interval),
        window
    );
    let (spread, checks_after) = (spread?, checks_after?);
    let achieved_rate = run.achieved_rate(&pace, members.len());
    let mut samples = run.samples;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Ok(RegistrationReport {
        backend: backend.to_owned(),
        proxies: members.len(),
        every_s: args.every.as_secs_f64(),
        seconds: args.duration.as_secs_f64(),
        interval_s: args.interval.as_secs_f64(),
        setup_s,
        planned_rate: pace.rate(members.len()),
        sent: run.sent,
        ok: samples.latencies.len() as u64,
        failed: samples.failures,
        failures: samples.reasons.clone(),
        achieved_rate,
        p50_ms: ms(samples.percentile(50.0)),
        p99_ms: ms(samples.percentile(99.0)),
        max_ms: ms(samples.max()),
        max_send_lag_ms: ms(run.max_send_lag),
        rss_growth: proxyhealth_load::memory::growth(&rss),
        rss_kib: rss
            .into_iter()
            .map(|(label, kib)| (label.to_owned(), kib))
            .collect(),
        window_s: window.as_secs_f64(),
        fleet_checks: spread.requests,
        interval_checks: members.len() as f64 * args.duration.as_secs_f64()
            / args.interval.as_secs_f64(),
        min_per_proxy: spread.min,
        max_per_proxy: spread.max,
        server_checks: checks_after.saturating_sub(checks_before),
        total_s: 0.0,
    })
}

/// Every check the server counted so far, over all results.
async fn server_checks(client: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let text = crate::scrape::metrics_text(client, base, ADMIN_TOKEN).await?;
    Ok(counter_sum(&text, CHECKS_METRIC))
}

/// The proxies of `wanted` created (as the admin of `admin_token`) and
/// registered (each with its own token) on `server`, and all `ok`: the admin
/// client, the proxies' client (no admin token), the members and the seconds
/// it took.
pub(crate) async fn set_up_fleet(
    server: &Server,
    admin_token: &str,
    wanted: &[Wanted],
) -> anyhow::Result<(ApiClient, ApiClient, Vec<Member>, f64)> {
    let client = |admin: bool| {
        let mut builder = ApiClient::builder(server.url.as_str())
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256);
        if admin {
            builder = builder.admin_token(admin_token);
        }
        builder.build().context("HTTP client")
    };
    let (admin, proxies) = (client(true)?, client(false)?);
    let setup = Instant::now();
    let members = create_and_register(&admin, &proxies, wanted).await?;
    wait_all_ok(&admin, members.len(), Duration::from_secs(120)).await?;
    Ok((admin, proxies, members, setup.elapsed().as_secs_f64()))
}

/// The sum of every series of the counter `name` in Prometheus text.
pub(crate) fn counter_sum(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let metric = series.split('{').next()?;
            (metric == name).then(|| value.trim().parse::<f64>().ok())?
        })
        .sum::<f64>() as u64
}

/// Refuses a window that is not a whole number of intervals (its count of
/// checks would then depend on where the sweeps fall).
fn check_window(duration: Duration, interval: Duration) -> anyhow::Result<()> {
    if interval.as_millis() == 0 || !duration.as_millis().is_multiple_of(interval.as_millis()) {
        bail!("--duration {duration:?} is not a whole number of --interval {interval:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_every_series_of_a_counter() {
        let text = "# TYPE proxyhealth_checks_total counter\n\
                    proxyhealth_checks_total{result=\"ok\"} 60000\n\
                    proxyhealth_checks_total{result=\"unreachable\"} 12\n\
                    proxyhealth_checks_total_other 7\n";
        assert_eq!(counter_sum(text, CHECKS_METRIC), 60_012);
        assert_eq!(counter_sum(text, "proxyhealth_sweeps_total"), 0);
    }

    #[test]
    fn the_window_is_a_whole_number_of_intervals() {
        let s = Duration::from_secs;
        assert!(check_window(s(60), s(10)).is_ok());
        assert!(check_window(s(60), s(15)).is_ok());
        assert!(check_window(s(60), s(7)).is_err());
    }
}

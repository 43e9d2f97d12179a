//! The options of `run` and the check timeout of every sweep it starts: read
//! by `run` and by the stages it hands them to (`fleets`), below both.

use std::path::PathBuf;
use std::time::Duration;

/// The options of `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Where to write the Markdown results.
    #[arg(long, default_value = "bench/RESULTS.md")]
    pub out: PathBuf,
    /// Fleet sizes to sweep.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
    pub sizes: Vec<usize>,
    /// The checker's parallelism (the engine's default).
    #[arg(long, default_value_t = proxyhealth_engine::options::DEFAULT_PARALLELISM)]
    pub parallelism: usize,
    /// The seed's parallelism, the baseline.
    #[arg(long, default_value_t = 5)]
    pub baseline_parallelism: usize,
    /// The longest a baseline sweep may run before it is stopped and extrapolated.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub baseline_cap: Duration,
    /// Runs of each checker and client-loop measurement on the all-ok fleet (the
    /// median is reported; each takes about a second).
    #[arg(long, default_value_t = 7)]
    pub reps: usize,
    /// Runs of each checker measurement on the bad-day fleet (each takes one timeout).
    #[arg(long, default_value_t = 3)]
    pub bad_day_reps: usize,
    /// How long each wrk run lasts.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub wrk_duration: Duration,
    /// Registered proxies behind `/api/v2/regions` and in the store listing.
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
    /// Measuring time of each criterion read bench in each of its three rounds.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub reads_measurement: Duration,
    /// A PostgreSQL server for the store listing (a scratch database is made there).
    #[arg(long, env = "PROXYHEALTH_TEST_PG_URL")]
    pub pg_url: Option<String>,
    /// Scratch directory for targets files.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Proxies in the replicas stage (on the PostgreSQL server).
    #[arg(long, default_value_t = 10_000)]
    pub replicas_count: usize,
    /// Replicas in the replicas stage.
    #[arg(long, default_value_t = 3)]
    pub replicas: usize,
    /// Skip the replicas stage (about three minutes).
    #[arg(long)]
    pub skip_replicas: bool,
    /// Skip the history stage (a few minutes).
    #[arg(long)]
    pub skip_history: bool,
    /// Run only the history stage and replace its section in the file at
    /// `--out` (the other sections are kept as they are).
    #[arg(long, conflicts_with = "skip_history")]
    pub history_only: bool,
    /// Proxies in the bad-day rows on both fleets.
    #[arg(long, default_value_t = 10_000)]
    pub bad_day_count: usize,
    /// Skip the bad-day rows on both fleets (about two minutes).
    #[arg(long)]
    pub skip_bad_day_fleets: bool,
    /// Extra SHA-256 rounds per request of the costly fleet (its calibration).
    #[arg(long, default_value_t = proxyhealth_sim::DEFAULT_COSTLY_WORK)]
    pub costly_work: u32,
    /// Fleet sizes of the HTTPS row.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    pub https_sizes: Vec<usize>,
    /// Runs of the checker and of the bare TLS loop at each HTTPS size.
    #[arg(long, default_value_t = 3)]
    pub https_reps: usize,
    /// Skip the HTTPS row (about two minutes).
    #[arg(long)]
    pub skip_https: bool,
    /// Skip the real `proxyhealth check` at 1,000 to 100,000 proxies (about a minute).
    #[arg(long)]
    pub skip_check_cli: bool,
    /// Registered proxies of the dashboard row.
    #[arg(long, default_value_t = 10_000)]
    pub dashboard_count: usize,
    /// Time between sweeps in the dashboard row (`serve --interval`).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub dashboard_interval: Duration,
    /// Extra streams connected for the CPU per dashboard.
    #[arg(long, default_value_t = 20)]
    pub dashboard_streams: usize,
    /// Also profile the page's JavaScript while the live updates arrive and
    /// print the functions that took the most of it, to find what a long
    /// task is made of.
    #[arg(long)]
    pub dashboard_profile: bool,
    /// Fleet sizes of the API row.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    pub api_sizes: Vec<usize>,
    /// Skip the dashboard and API rows (about five minutes).
    #[arg(long)]
    pub skip_dashboard: bool,
    /// Run only the dashboard and API rows and replace their section in the
    /// file at `--out` (the other sections are kept as they are).
    #[arg(long, conflicts_with = "skip_dashboard")]
    pub dashboard_only: bool,
    /// Run only the API rows (at `--api-sizes`) and replace the API part of
    /// the dashboard's section and the API's row of the Targets table in the
    /// file at `--out` (the browser's figures and the rest are kept).
    #[arg(long, conflicts_with_all = ["skip_dashboard", "dashboard_only"])]
    pub api_only: bool,
    /// Proxies in the registration row (each registers again every 15 s).
    #[arg(long, default_value_t = 10_000)]
    pub registration_count: usize,
    /// How long the registration row's re-registrations run on each backend.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub registration_duration: Duration,
    /// Skip the registration row (about three minutes with both backends).
    #[arg(long)]
    pub skip_registration: bool,
    /// Run only the registration row and replace its section in the file at
    /// `--out` (the other sections are kept as they are).
    #[arg(long, conflicts_with_all = ["skip_registration", "history_only"])]
    pub registration_only: bool,
    /// Skip the maintenance windows row (about a minute).
    #[arg(long)]
    pub skip_maintenance: bool,
    /// Run only the maintenance windows row and replace its section in the
    /// file at `--out` (the other sections are kept as they are).
    #[arg(long, conflicts_with = "skip_maintenance")]
    pub maintenance_only: bool,
    /// Proxies in the maintenance windows row.
    #[arg(long, default_value_t = 10_000)]
    pub maintenance_count: usize,
    /// Proxies in the vantages row (checked by the service and two agents).
    #[arg(long, default_value_t = 10_000)]
    pub vantages_count: usize,
    /// The length of each phase of the vantages row (whole 10 s intervals).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub vantages_phase: Duration,
    /// Skip the vantages row (about three minutes).
    #[arg(long)]
    pub skip_vantages: bool,
    /// Run only the vantages row and replace its section in the file at
    /// `--out` (the other sections are kept as they are).
    #[arg(long, conflicts_with_all = ["skip_vantages", "history_only", "registration_only"])]
    pub vantages_only: bool,
    /// Skip section 1-4 (sweeps, reads, regions, store listing): run only the
    /// stages not skipped otherwise (to re-measure the fleets' rows alone).
    #[arg(long)]
    pub skip_core: bool,
}

/// The check timeout of every sweep.
pub const TIMEOUT: Duration = Duration::from_secs(5);

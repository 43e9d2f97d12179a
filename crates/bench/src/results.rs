//! What one run measured ([`Results`]) and its rows, before any of it is
//! written: `run` fills it, `report` and the section modules render it.

use crate::client_loop::ClientLoopReport;
use crate::criterion_read::ReadsReport;
use crate::replicas::ReplicasReport;
use crate::store_list::StoreListReport;
use crate::sweep::SweepReport;
use crate::table::median;
use crate::wrk::WrkReport;

/// Everything one run measured.
#[derive(Debug, Default)]
pub struct Results {
    /// The checker's parallelism.
    pub parallelism: usize,
    /// The baseline's parallelism.
    pub baseline_parallelism: usize,
    /// The baseline's cap, seconds.
    pub baseline_cap_s: f64,
    /// The check timeout, seconds.
    pub timeout_s: f64,
    /// One row per size and mix.
    pub sweeps: Vec<SweepRow>,
    /// The criterion read benches.
    pub reads: Option<ReadsReport>,
    /// `/api/v2/regions` under wrk.
    pub regions: Option<RegionsResult>,
    /// Store listings.
    pub stores: Vec<StoreRow>,
    /// Replicas on one PostgreSQL.
    pub replicas: Option<ReplicasReport>,
    /// Why the replicas stage was not run, when it was skipped on purpose.
    pub replicas_skipped: Option<String>,
    /// The history stage, one row per backend.
    pub history: Vec<crate::history::HistoryReport>,
    /// Why the history stage was not run, when it was skipped on purpose.
    pub history_skipped: Option<String>,
    /// The dashboard row.
    pub dashboard: Option<crate::dashboard_bench::DashboardReport>,
    /// The API rows, one per size.
    pub api: Vec<crate::api_rows::ApiReport>,
    /// Why the dashboard and API rows were not run, when skipped on purpose.
    pub dashboard_skipped: Option<String>,
    /// The registration row, one report per backend.
    pub registration: Vec<crate::registration::RegistrationReport>,
    /// Why the registration row was not run, when it was skipped on purpose.
    pub registration_skipped: Option<String>,
    /// The vantages row (the service and two agents).
    pub vantages: Option<crate::vantages::VantagesReport>,
    /// Why the vantages row was not run, when it was skipped on purpose.
    pub vantages_skipped: Option<String>,
    /// The bad-day rows on both fleets.
    pub bad_days: Vec<crate::fleets::BadDayRow>,
    /// The HTTPS rows.
    pub https: Vec<crate::fleets::HttpsRow>,
    /// The fleets' stages skipped on purpose, and why.
    pub fleets_skipped: Vec<String>,
    /// Runs that failed.
    pub failures: Vec<String>,
    /// The real `proxyhealth check` (section 9).
    pub check_cli: Option<crate::check_cli::CheckCliReport>,
    /// Why section 9 is missing.
    pub check_cli_skipped: Option<String>,
    /// Remarks about what was skipped.
    pub notes: Vec<String>,
    /// Seconds the whole run took.
    pub total_s: f64,
}

/// One size and mix.
#[derive(Debug, Default)]
pub struct SweepRow {
    /// Proxies.
    pub n: usize,
    /// `ok` or `bad-day`.
    pub mix: String,
    /// Every checker run.
    pub checker: Vec<SweepReport>,
    /// Every client-loop run (all-ok fleets of 1,000 and more).
    pub client: Vec<ClientLoopReport>,
    /// The seed's parallelism.
    pub baseline: Option<SweepReport>,
    /// Checks the capped baseline got through (estimated from the fleet's count).
    pub baseline_checked: Option<f64>,
    /// The capped baseline's whole sweep, extrapolated from its rate.
    pub baseline_extrapolated_s: Option<f64>,
    /// What failed.
    pub errors: Vec<String>,
}

/// `/api/v2/regions` and `/healthz` under wrk.
#[derive(Debug)]
pub struct RegionsResult {
    /// Regions listed by one request.
    pub proxies: usize,
    /// `GET /api/v2/regions`.
    pub regions: WrkReport,
    /// `GET /healthz`, the cost of the framework alone.
    pub healthz: WrkReport,
}

/// One store listing.
#[derive(Debug)]
pub struct StoreRow {
    /// What the child measured.
    pub report: StoreListReport,
}

impl SweepRow {
    fn checker_median(&self, f: impl Fn(&SweepReport) -> f64) -> Option<f64> {
        median(self.checker.iter().map(f).collect())
    }

    fn client_median(&self, f: impl Fn(&ClientLoopReport) -> f64) -> Option<f64> {
        median(self.client.iter().map(f).collect())
    }

    /// Median wall seconds of the checker.
    pub fn wall(&self) -> Option<f64> {
        self.checker_median(|r| r.wall_s)
    }

    /// Median checks per second of the checker.
    pub fn rate(&self) -> Option<f64> {
        self.checker_median(|r| r.proxies as f64 / r.wall_s)
    }

    /// Median CPU seconds per 1,000 checks of the checker.
    pub fn cpu_per_k(&self) -> Option<f64> {
        self.checker_median(|r| r.cpu_s * 1000.0 / r.proxies.max(1) as f64)
    }

    /// Largest peak RSS of the checker runs, MiB.
    pub fn peak_mib(&self) -> Option<f64> {
        self.checker
            .iter()
            .map(|r| r.peak_rss_kib as f64 / 1024.0)
            .reduce(f64::max)
    }

    /// Mismatches summed over the checker runs.
    pub fn mismatches(&self) -> usize {
        self.checker.iter().map(|r| r.mismatches).sum()
    }

    /// Median checks per second of the client loop.
    pub fn client_rate(&self) -> Option<f64> {
        self.client_median(|r| r.requests as f64 / r.wall_s)
    }

    /// Median CPU seconds per 1,000 requests of the client loop.
    pub fn client_cpu_per_k(&self) -> Option<f64> {
        self.client_median(|r| r.cpu_s * 1000.0 / r.requests.max(1) as f64)
    }
}

//! `proxyhealth-bench`: the benchmarks of the checker's performance targets (a
//! sweep, the loopback limit, memory, reads while a sweep stores) and of the
//! store listing.
//!
//! `run` measures everything and writes bench/RESULTS.md; it starts the other
//! subcommands as child processes so each is measured alone:
//! - `fleet`: a simulated fleet (its own process, never counted in the checker's figures);
//! - `sweep`: the checker, one sweep over a targets file;
//! - `client-loop`: the loopback limit with the checker's connection policy;
//! - `reads`: reads of the engine's cache under criterion;
//! - `serve-regions`: the service with 10,000 proxies, for `wrk`;
//! - `store-list`: `list_proxies()` against a plain SELECT;
//! - `check-cli`: the real `proxyhealth check` binary's peak memory, wall
//!   time and CPU per check at 1,000 to 100,000 proxies;
//! - `history`: the cost of persisted history on one backend:
//!   writing a sweep's history, the size after 90 simulated days, a 30-day read;
//! - `serve-dashboard`: the service on SQLite with registered proxies, for
//!   the dashboard row (a real Chromium, `dashboard_bench`) and the API rows
//!   at 10,000 and 100,000 proxies (`api_rows`);
//! - `replicas`: several `proxyhealth serve` replicas and 10,000 proxies on one
//!   PostgreSQL: checks per proxy per interval, the database's work,
//!   the time from a result to every replica serving it;
//! - `registration`: 10,000 proxies registering again every 15 s (667
//!   requests/s, open loop) against `proxyhealth serve` on one backend:
//!   latency, memory, and the checks it caused;
//! - `maintenance`: a 10,000-proxy sweep with no maintenance window against
//!   1,000 (`maintenance_sweep`).
//! - `vantages`: the service on SQLite and two real `proxyhealth agent`s over
//!   10,000 proxies: the service's CPU per agent result, the agents' memory,
//!   the time from an agent's check to its result served.
//!
//! `run` also measures the fleets' rows (`fleets`, shown by `report_fleets`): a
//! bad day of 10,000 proxies on the lean and on the costly fleet (`fleet
//! --stack costly`, a real server's CPU per request), first and next sweep; and
//! HTTPS with a fresh handshake per check against a bare TLS client loop.

mod api_rows;
mod check_cli;
mod child;
mod client_loop;
mod conntrack;
mod criterion_read;
mod dashboard_bench;
mod dashboard_serve;
mod fleet;
mod fleets;
mod history;
mod maintenance_sweep;
mod pgstats;
mod procstat;
mod propagation;
mod reads;
mod regions;
mod registration;
mod replica_proc;
mod replicas;
mod report;
mod report_dashboard;
mod report_fleets;
mod report_history;
mod report_registration;
mod report_replicas;
mod report_vantages;
mod results;
mod run;
mod run_args;
mod scrape;
mod source;
mod splice;
mod stdin;
mod store_list;
mod sweep;
mod table;
mod targets;
mod vantages;
mod vantages_stage;
mod wrk;

use clap::{Parser, Subcommand};

/// The benchmarks of proxyhealth.
#[derive(Debug, Parser)]
#[command(name = "proxyhealth-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every measurement, the table, bench/RESULTS.md.
    Run(Box<run_args::RunArgs>),
    /// A simulated fleet in this process until stdin closes.
    Fleet(fleet::FleetArgs),
    /// One sweep over a targets file; prints a JSON line.
    Sweep(sweep::SweepArgs),
    /// The plain client loop over a targets file; prints a JSON line.
    ClientLoop(client_loop::ClientLoopArgs),
    /// Reads of the engine's cache under criterion; prints a JSON line.
    Reads(reads::ReadsArgs),
    /// The service with registered proxies until stdin closes.
    ServeRegions(regions::ServeRegionsArgs),
    /// Store listing against a plain SELECT; prints a JSON line.
    StoreList(store_list::StoreListArgs),
    /// Replicas and a large fleet on one PostgreSQL; prints a JSON line.
    Replicas(replicas::ReplicasArgs),
    /// The cost of persisted history on one backend; prints a JSON line.
    History(history::HistoryArgs),
    /// The real `proxyhealth check` under GNU time; prints a JSON line.
    CheckCli(check_cli::CheckCliArgs),
    /// The service on SQLite with registered proxies, for the dashboard and
    /// API rows, until stdin closes.
    ServeDashboard(dashboard_serve::ServeDashboardArgs),
    /// A fleet re-registering at a fixed rate on one backend; prints a JSON line.
    Registration(registration::RegistrationArgs),
    /// Sweeps with no maintenance window against many; prints a JSON line.
    Maintenance(maintenance_sweep::MaintenanceArgs),
    /// The service and two agents over a fleet; prints a JSON line.
    Vantages(vantages::VantagesArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The read benches drive their own runtimes, so they run outside this one.
    if let Command::Reads(args) = cli.command {
        return exit_code(reads::run(args));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("proxyhealth-bench: cannot start the runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => run::run(*args).await,
            Command::Fleet(args) => fleet::run(args).await,
            Command::Sweep(args) => sweep::run(args).await,
            Command::ClientLoop(args) => client_loop::run(args).await,
            Command::Reads(_) => Ok(()),
            Command::ServeRegions(args) => regions::run(args).await,
            Command::StoreList(args) => store_list::run(args).await,
            Command::Replicas(args) => run_replicas(args).await,
            Command::History(args) => history::run(args).await,
            Command::CheckCli(args) => check_cli::run(args).await,
            Command::ServeDashboard(args) => dashboard_serve::run(args).await,
            Command::Registration(args) => registration::run(args).await,
            Command::Maintenance(args) => maintenance_sweep::run(args).await,
            Command::Vantages(args) => vantages::run(args).await,
        }
    });
    // The stdin readers of `fleet` and `serve-regions` live on blocking threads.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    exit_code(result)
}

/// `replicas`: the stage, then its rows as the results page shows them (on
/// stderr, for a run by hand) and its report as one JSON line (for `run`).
/// Here, above both, so measuring the stage and rendering it stay apart.
async fn run_replicas(args: replicas::ReplicasArgs) -> anyhow::Result<()> {
    let report = replicas::run(args).await?;
    eprintln!("{}", report_replicas::by_hand(&report));
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("proxyhealth-bench: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

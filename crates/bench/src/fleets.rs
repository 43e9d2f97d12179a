//! The fleets' rows: a bad-day sweep of 10,000 proxies on both fleets (the lean
//! simulator and the costly one, whose CPU per request is a real server's), and
//! HTTPS sweeps with a fresh handshake per check against a bare TLS client loop.
//! Each fleet is its own process beside the checker, taking its share of the cores.

use crate::child::{Service, run_json};
use crate::client_loop::ClientLoopReport;
use crate::fleet::{FleetReady, FleetStats, MixArg, StackArg};
use crate::run_args::{RunArgs, TIMEOUT};
use crate::sweep::SweepReport;
use std::path::Path;
use std::time::Duration;

/// How long one child run may take before it is stopped.
const LIMIT: Duration = Duration::from_secs(180);

/// The bad-day sweep on one fleet: the engine's first sweep (nothing known) and
/// its next one (the previous sweep's durations known), several runs each.
#[derive(Debug, Default)]
pub struct BadDayRow {
    /// Proxies.
    pub n: usize,
    /// `lean` or `costly`.
    pub stack: String,
    /// The fleet's one-line summary.
    pub fleet: String,
    /// First sweeps of a fresh engine (each a fresh process).
    pub cold: Vec<SweepReport>,
    /// Second sweeps of an engine (one warm-up sweep first, same process).
    pub warm: Vec<SweepReport>,
    /// The fleet's CPU seconds per request over all these runs.
    pub fleet_cpu_per_request: Option<f64>,
    /// What failed.
    pub errors: Vec<String>,
}

/// HTTPS at one size: the checker against a bare TLS client loop.
#[derive(Debug, Default)]
pub struct HttpsRow {
    /// Proxies.
    pub n: usize,
    /// Checker runs (`tls_insecure`, the fleet's certificate is self-made).
    pub checker: Vec<SweepReport>,
    /// Bare TLS client-loop runs.
    pub client: Vec<ClientLoopReport>,
    /// The fleet's CPU seconds per request (its handshakes included).
    pub fleet_cpu_per_request: Option<f64>,
    /// What failed.
    pub errors: Vec<String>,
}

/// A fleet process for these rows.
async fn start_fleet(
    args: &RunArgs,
    targets: &Path,
    n: usize,
    mix: MixArg,
    stack: StackArg,
    tls: bool,
) -> anyhow::Result<(Service, FleetReady)> {
    let mut fleet_args = vec![
        "fleet".to_owned(),
        "--count".to_owned(),
        n.to_string(),
        "--mix".to_owned(),
        mix.name().to_owned(),
        "--targets".to_owned(),
        targets.display().to_string(),
        "--max-connections".to_owned(),
        (args.parallelism + 100).to_string(),
        "--stack".to_owned(),
        stack.name().to_owned(),
        "--work".to_owned(),
        args.costly_work.to_string(),
    ];
    if tls {
        fleet_args.push("--tls".to_owned());
    }
    Service::start::<FleetReady>(&fleet_args, Duration::from_secs(120)).await
}

/// The checker's arguments over `targets`.
fn sweep_args(args: &RunArgs, targets: &Path, warm_up: usize, tls: bool) -> Vec<String> {
    let mut a = vec![
        "sweep".to_owned(),
        "--targets".to_owned(),
        targets.display().to_string(),
        "--parallelism".to_owned(),
        args.parallelism.to_string(),
        "--timeout".to_owned(),
        format!("{}ms", TIMEOUT.as_millis()),
        "--warm-up".to_owned(),
        warm_up.to_string(),
    ];
    if tls {
        a.push("--tls-insecure".to_owned());
    }
    a
}

/// The fleet's CPU per request between two `stats` answers.
fn per_request(before: Option<&FleetStats>, after: Option<&FleetStats>) -> Option<f64> {
    let (before, after) = before.zip(after)?;
    let requests = after.requests.checked_sub(before.requests)?;
    (requests > 0).then(|| (after.cpu_s - before.cpu_s) / requests as f64)
}

/// One checker run, its mismatches noted as errors.
async fn checker(args: &[String], errors: &mut Vec<String>) -> Option<SweepReport> {
    match run_json::<SweepReport>(args, LIMIT).await {
        Ok(report) => {
            if report.mismatches > 0 {
                errors.push(format!(
                    "{} status mismatches, first: {}",
                    report.mismatches,
                    report.first_mismatch.clone().unwrap_or_default()
                ));
            }
            Some(report)
        }
        Err(err) => {
            errors.push(format!("checker: {err:#}"));
            None
        }
    }
}

/// The bad-day row on the `stack` fleet: `reps` times a first sweep and a
/// second sweep (each in a fresh checker process).
pub async fn bad_day(args: &RunArgs, work_dir: &Path, n: usize, stack: StackArg) -> BadDayRow {
    let mut row = BadDayRow {
        n,
        stack: stack.name().to_owned(),
        ..BadDayRow::default()
    };
    let targets = work_dir.join(format!("targets-{n}-bad-day-{}.tsv", stack.name()));
    let (mut fleet, ready) =
        match start_fleet(args, &targets, n, MixArg::BadDay, stack, false).await {
            Ok(started) => started,
            Err(err) => {
                row.errors.push(format!("fleet: {err:#}"));
                return row;
            }
        };
    eprintln!("   fleet ({}): {}", stack.name(), ready.summary);
    row.fleet = ready.summary;
    let before: Option<FleetStats> = fleet.ask("stats").await.ok();
    for _ in 0..args.bad_day_reps.max(1) {
        crate::conntrack::wait_for_room(n).await;
        let cold = checker(&sweep_args(args, &targets, 0, false), &mut row.errors).await;
        if let Some(report) = cold {
            eprintln!("   first sweep: {:.3} s", report.wall_s);
            row.cold.push(report);
        }
        crate::conntrack::wait_for_room(2 * n).await;
        let warm = checker(&sweep_args(args, &targets, 1, false), &mut row.errors).await;
        if let Some(report) = warm {
            eprintln!(
                "   next sweep: {:.3} s (its first: {:.3} s)",
                report.wall_s,
                report.first_wall_s.unwrap_or(f64::NAN)
            );
            row.warm.push(report);
        }
    }
    let after: Option<FleetStats> = fleet.ask("stats").await.ok();
    row.fleet_cpu_per_request = per_request(before.as_ref(), after.as_ref());
    if let Some(cpu) = row.fleet_cpu_per_request {
        eprintln!("   fleet CPU per request: {:.1} µs", cpu * 1e6);
    }
    if let Err(err) = fleet.stop().await {
        row.errors.push(format!("fleet stop: {err:#}"));
    }
    row
}

/// The HTTPS row at `n` proxies: checker and bare TLS loop alternated `reps` times.
pub async fn https(args: &RunArgs, work_dir: &Path, n: usize) -> HttpsRow {
    let mut row = HttpsRow {
        n,
        ..HttpsRow::default()
    };
    let targets = work_dir.join(format!("targets-{n}-https.tsv"));
    let (mut fleet, ready) =
        match start_fleet(args, &targets, n, MixArg::Ok, StackArg::Lean, true).await {
            Ok(started) => started,
            Err(err) => {
                row.errors.push(format!("fleet: {err:#}"));
                return row;
            }
        };
    eprintln!("   fleet (https): {}", ready.summary);
    let client_args = vec![
        "client-loop".to_owned(),
        "--targets".to_owned(),
        targets.display().to_string(),
        "--concurrency".to_owned(),
        args.parallelism.to_string(),
    ];
    let before: Option<FleetStats> = fleet.ask("stats").await.ok();
    for _ in 0..args.https_reps.max(1) {
        crate::conntrack::wait_for_room(n).await;
        if let Some(report) = checker(&sweep_args(args, &targets, 0, true), &mut row.errors).await {
            eprintln!(
                "   checker: {:.3} s, cpu {:.3} s",
                report.wall_s, report.cpu_s
            );
            row.checker.push(report);
        }
        crate::conntrack::wait_for_room(n).await;
        match run_json::<ClientLoopReport>(&client_args, LIMIT).await {
            Ok(report) => {
                if report.ok != report.requests {
                    row.errors.push(format!(
                        "TLS client loop: {} of {} answered 200",
                        report.ok, report.requests
                    ));
                }
                eprintln!(
                    "   TLS client loop: {:.3} s, cpu {:.3} s",
                    report.wall_s, report.cpu_s
                );
                row.client.push(report);
            }
            Err(err) => row.errors.push(format!("TLS client loop: {err:#}")),
        }
    }
    let after: Option<FleetStats> = fleet.ask("stats").await.ok();
    row.fleet_cpu_per_request = per_request(before.as_ref(), after.as_ref());
    if let Err(err) = fleet.stop().await {
        row.errors.push(format!("fleet stop: {err:#}"));
    }
    row
}

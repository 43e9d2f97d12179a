//! `proxyhealth-bench run`: every measurement in one go, each in its own
//! child process against a fleet in another, then the table.

use crate::child::{Service, run_json, run_json_with_env};
use crate::client_loop::ClientLoopReport;
use crate::criterion_read::ReadsReport;
use crate::fleet::{FleetReady, FleetStats, MixArg, StackArg};
use crate::regions::ServeReady;
use crate::replicas::ReplicasReport;
use crate::results::{RegionsResult, Results, StoreRow, SweepRow};
use crate::run_args::{RunArgs, TIMEOUT};
use crate::store_list::StoreListReport;
use crate::sweep::SweepReport;
use crate::wrk::WrkReport;
use anyhow::{Context, bail};
use std::time::{Duration, Instant};

/// Runs everything, prints and writes the table; fails when a run failed.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let _ = proxyhealth_sim::raise_fd_limit();
    let started = Instant::now();
    let scratch = tempfile::Builder::new()
        .prefix("proxyhealth-bench")
        .tempdir()?;
    let work_dir = args
        .work_dir
        .clone()
        .unwrap_or_else(|| scratch.path().to_owned());
    std::fs::create_dir_all(&work_dir)?;
    if args.history_only {
        let mut section = String::new();
        let (rows, failures) = history_rows(&args).await;
        crate::report_history::section(&mut section, &rows, None);
        return write_section(&args, crate::report_history::HEADING, &section, &failures);
    }
    if args.maintenance_only {
        let (section, failures) = crate::maintenance_sweep::stage(
            &work_dir,
            args.maintenance_count,
            args.parallelism,
            args.reps,
        )
        .await;
        return write_section(
            &args,
            crate::maintenance_sweep::HEADING,
            &section,
            &failures,
        );
    }
    if args.registration_only {
        let mut section = String::new();
        let (rows, failures) = registration_rows(&args).await;
        crate::report_registration::section(&mut section, &rows, None);
        return write_section(
            &args,
            crate::report_registration::HEADING,
            &section,
            &failures,
        );
    }
    if args.vantages_only {
        let (section, failures) = crate::vantages_stage::only(&args).await;
        return write_section(&args, crate::report_vantages::HEADING, &section, &failures);
    }
    if args.api_only {
        return api_only(&args).await;
    }
    if args.dashboard_only {
        let mut section = String::new();
        let mut results = Results::default();
        let failures = dashboard_rows(&args, &work_dir, &mut results).await;
        crate::report_dashboard::section(
            &mut section,
            results.dashboard.as_ref(),
            &results.api,
            None,
        );
        write_section(&args, crate::report_dashboard::HEADING, &section, &[])?;
        set_api_target(&args, &results.api)?;
        return fail_on(&failures);
    }
    let mut results = Results {
        parallelism: args.parallelism,
        baseline_parallelism: args.baseline_parallelism,
        baseline_cap_s: args.baseline_cap.as_secs_f64(),
        timeout_s: TIMEOUT.as_secs_f64(),
        ..Results::default()
    };

    let sizes: &[usize] = if args.skip_core { &[] } else { &args.sizes };
    for &n in sizes {
        for mix in [MixArg::Ok, MixArg::BadDay] {
            eprintln!("== sweep: {n} proxies, {} mix", mix.name());
            let row = sweep_row(&args, &work_dir, n, mix).await;
            for error in &row.errors {
                eprintln!("   FAILED: {error}");
            }
            results.sweeps.push(row);
        }
    }

    if args.skip_bad_day_fleets {
        results
            .fleets_skipped
            .push("bad day on both fleets: skipped (--skip-bad-day-fleets)".into());
    } else {
        for stack in [StackArg::Lean, StackArg::Costly] {
            eprintln!(
                "== bad day on the {} fleet: {} proxies",
                stack.name(),
                args.bad_day_count
            );
            let row = crate::fleets::bad_day(&args, &work_dir, args.bad_day_count, stack).await;
            for error in &row.errors {
                eprintln!("   FAILED: {error}");
                results
                    .failures
                    .push(format!("bad day ({}): {error}", row.stack));
            }
            results.bad_days.push(row);
        }
    }
    if args.skip_https {
        results
            .fleets_skipped
            .push("HTTPS: skipped (--skip-https)".into());
    } else {
        for &n in &args.https_sizes {
            eprintln!("== https: {n} proxies, a fresh handshake per check");
            let row = crate::fleets::https(&args, &work_dir, n).await;
            for error in &row.errors {
                eprintln!("   FAILED: {error}");
                results.failures.push(format!("https {n}: {error}"));
            }
            results.https.push(row);
        }
    }

    if args.skip_check_cli {
        results.check_cli_skipped = Some("skipped (--skip-check-cli)".into());
    } else {
        eprintln!("== proxyhealth check: 1,000 to 100,000 healthy proxies");
        let child = vec!["check-cli".to_owned()];
        match run_json::<crate::check_cli::CheckCliReport>(&child, Duration::from_secs(1200)).await
        {
            Ok(report) => results.check_cli = Some(report),
            Err(err) => results.failures.push(format!("check-cli: {err:#}")),
        }
    }

    if !args.skip_core {
        eprintln!("== reads: criterion");
        match reads(&args, &work_dir).await {
            Ok(reads) => results.reads = Some(reads),
            Err(err) => results.failures.push(format!("reads: {err:#}")),
        }

        eprintln!("== GET /api/v2/regions with {} proxies", args.count);
        match regions(&args).await {
            Ok(r) => results.regions = Some(r),
            Err(err) => results.failures.push(format!("regions: {err:#}")),
        }
    }

    let mut dbs = vec![("sqlite".to_owned(), "sqlite".to_owned())];
    if let Some(url) = &args.pg_url {
        dbs.push(("postgres".to_owned(), url.clone()));
    }
    if args.skip_core {
        dbs.clear();
    }
    for (name, spec) in dbs {
        eprintln!("== store listing: {name}, {} proxies", args.count);
        let child = vec![
            "store-list".to_owned(),
            "--db".to_owned(),
            spec,
            "--count".to_owned(),
            args.count.to_string(),
        ];
        match run_json::<StoreListReport>(&child, Duration::from_secs(240)).await {
            Ok(report) => results.stores.push(StoreRow { report }),
            Err(err) => results.failures.push(format!("store-list {name}: {err:#}")),
        }
    }
    if args.pg_url.is_none() && !args.skip_core {
        results
            .notes
            .push("PostgreSQL listing skipped: no server (PROXYHEALTH_TEST_PG_URL unset).".into());
    }

    if args.skip_history {
        results.history_skipped = Some("skipped (--skip-history)".into());
    } else {
        let (rows, failures) = history_rows(&args).await;
        results.history = rows;
        results.failures.extend(failures);
    }

    if args.skip_dashboard {
        results.dashboard_skipped = Some("skipped (--skip-dashboard)".into());
    } else {
        let failures = dashboard_rows(&args, &work_dir, &mut results).await;
        results.failures.extend(failures);
    }

    if args.skip_registration {
        results.registration_skipped = Some("skipped (--skip-registration)".into());
    } else {
        let (rows, failures) = registration_rows(&args).await;
        results.registration = rows;
        results.failures.extend(failures);
    }

    crate::vantages_stage::fill(&args, &mut results).await;

    match (&args.pg_url, args.skip_replicas) {
        (_, true) => results.replicas_skipped = Some("skipped (--skip-replicas)".into()),
        (None, false) => {
            results.replicas_skipped =
                Some("no PostgreSQL server (PROXYHEALTH_TEST_PG_URL unset)".into());
        }
        (Some(url), false) => {
            eprintln!(
                "== replicas: {} on one PostgreSQL, {} proxies",
                args.replicas, args.replicas_count
            );
            let child = vec![
                "replicas".to_owned(),
                "--pg-url".to_owned(),
                url.clone(),
                "--count".to_owned(),
                args.replicas_count.to_string(),
                "--replicas".to_owned(),
                args.replicas.to_string(),
            ];
            match run_json::<ReplicasReport>(&child, Duration::from_secs(600)).await {
                Ok(report) => {
                    if !report.disagreeing.is_empty() {
                        results.failures.push(format!(
                            "replicas: not every proxy ok on {}",
                            report.disagreeing.join("; ")
                        ));
                    }
                    results.replicas = Some(report);
                }
                Err(err) => results.failures.push(format!("replicas: {err:#}")),
            }
        }
    }
    for row in &results.sweeps {
        for error in &row.errors {
            results
                .failures
                .push(format!("sweep {} {}: {error}", row.n, row.mix));
        }
    }
    let maintenance = if args.skip_maintenance {
        let mut section = String::new();
        crate::maintenance_sweep::write_section(
            &mut section,
            None,
            Some("skipped (--skip-maintenance)"),
        );
        section
    } else {
        let (section, failures) = crate::maintenance_sweep::stage(
            &work_dir,
            args.maintenance_count,
            args.parallelism,
            args.reps,
        )
        .await;
        results.failures.extend(failures);
        section
    };
    results.total_s = started.elapsed().as_secs_f64();

    let markdown = crate::splice::splice(
        &crate::report::render(&results),
        crate::maintenance_sweep::HEADING,
        &maintenance,
    );
    println!("{markdown}");
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, &markdown)
        .with_context(|| format!("write {}", args.out.display()))?;
    eprintln!("wrote {}", args.out.display());
    if !results.failures.is_empty() {
        bail!(
            "{} run(s) failed:\n  {}",
            results.failures.len(),
            results.failures.join("\n  ")
        );
    }
    Ok(())
}

/// The dashboard row and the API rows; returns what failed.
async fn dashboard_rows(
    args: &RunArgs,
    work_dir: &std::path::Path,
    results: &mut Results,
) -> Vec<String> {
    let mut failures = Vec::new();
    eprintln!(
        "== dashboard: {} proxies in a real Chromium",
        args.dashboard_count
    );
    match crate::dashboard_bench::run(args, work_dir).await {
        Ok(report) => results.dashboard = Some(report),
        Err(err) => failures.push(format!("dashboard: {err:#}")),
    }
    for &n in &args.api_sizes {
        eprintln!("== API: {n} proxies");
        match crate::api_rows::run(n).await {
            Ok(report) => results.api.push(report),
            Err(err) => failures.push(format!("API {n}: {err:#}")),
        }
    }
    failures
}

/// The API rows alone: the API part of the dashboard's section replaced
/// (the browser's figures before it kept) and the API's target row.
async fn api_only(args: &RunArgs) -> anyhow::Result<()> {
    let mut api = Vec::new();
    let mut failures = Vec::new();
    for &n in &args.api_sizes {
        eprintln!("== API: {n} proxies");
        match crate::api_rows::run(n).await {
            Ok(report) => api.push(report),
            Err(err) => failures.push(format!("API {n}: {err:#}")),
        }
    }
    let existing = std::fs::read_to_string(&args.out).unwrap_or_default();
    let heading = crate::report_dashboard::HEADING;
    let kept = existing
        .find(heading)
        .map(|start| {
            let section = &existing[start..];
            let end = section.find("\n## ").map_or(section.len(), |i| i + 1);
            let section = &section[..end];
            let api_at = section
                .find(crate::report_dashboard::API_PART)
                .unwrap_or(section.len());
            section[..api_at].to_owned()
        })
        .unwrap_or_else(|| format!("{heading}\n\n"));
    let mut section = kept;
    crate::report_dashboard::api_part(&mut section, &api);
    write_section(args, heading, &section, &[])?;
    set_api_target(args, &api)?;
    fail_on(&failures)
}

/// Puts the API's row in the Targets table of the file at `--out`.
fn set_api_target(args: &RunArgs, api: &[crate::api_rows::ApiReport]) -> anyhow::Result<()> {
    let Some(row) = crate::report_dashboard::api_target(api) else {
        return Ok(());
    };
    let existing = std::fs::read_to_string(&args.out).unwrap_or_default();
    std::fs::write(
        &args.out,
        crate::splice::set_target_row(&existing, crate::report_dashboard::API_TARGET_ROW, &row),
    )
    .with_context(|| format!("write {}", args.out.display()))
}

/// Fails when a run failed, naming each.
fn fail_on(failures: &[String]) -> anyhow::Result<()> {
    if !failures.is_empty() {
        bail!(
            "{} run(s) failed:\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
    Ok(())
}

/// Prints `section` and puts it in place of its old one in the file at `--out`
/// (the other sections kept); fails when a run failed.
fn write_section(
    args: &RunArgs,
    heading: &str,
    section: &str,
    failures: &[String],
) -> anyhow::Result<()> {
    println!("{section}");
    let existing = std::fs::read_to_string(&args.out).unwrap_or_default();
    std::fs::write(
        &args.out,
        crate::splice::splice(&existing, heading, section),
    )
    .with_context(|| format!("write {}", args.out.display()))?;
    eprintln!("wrote the section {heading:?} of {}", args.out.display());
    fail_on(failures)
}

/// The registration row on SQLite and (with a server) PostgreSQL, each in a
/// child; a run that failed is reported, and one with failed requests too.
async fn registration_rows(
    args: &RunArgs,
) -> (Vec<crate::registration::RegistrationReport>, Vec<String>) {
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    let mut dbs = vec![("sqlite".to_owned(), "sqlite".to_owned())];
    if let Some(url) = &args.pg_url {
        dbs.push(("postgres".to_owned(), url.clone()));
    }
    for (name, spec) in dbs {
        eprintln!(
            "== registration: {name}, {} proxies re-registering every 15 s",
            args.registration_count
        );
        let child = vec![
            "registration".to_owned(),
            "--db".to_owned(),
            spec,
            "--count".to_owned(),
            args.registration_count.to_string(),
            "--duration".to_owned(),
            format!("{}ms", args.registration_duration.as_millis()),
        ];
        match run_json::<crate::registration::RegistrationReport>(&child, Duration::from_secs(600))
            .await
        {
            Ok(report) => {
                if report.failed > 0 {
                    failures.push(format!(
                        "registration {name}: {} of {} requests failed: {}",
                        report.failed,
                        report.sent,
                        report.failures.join("; ")
                    ));
                }
                rows.push(report);
            }
            Err(err) => failures.push(format!("registration {name}: {err:#}")),
        }
    }
    (rows, failures)
}

/// The history stage on SQLite and (with a server) PostgreSQL, each in a child.
async fn history_rows(args: &RunArgs) -> (Vec<crate::history::HistoryReport>, Vec<String>) {
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    let mut dbs = vec![("sqlite".to_owned(), "sqlite".to_owned())];
    if let Some(url) = &args.pg_url {
        dbs.push(("postgres".to_owned(), url.clone()));
    }
    for (name, spec) in dbs {
        eprintln!("== history: {name}");
        let child = vec!["history".to_owned(), "--db".to_owned(), spec];
        match run_json::<crate::history::HistoryReport>(&child, Duration::from_secs(1200)).await {
            Ok(report) => rows.push(report),
            Err(err) => failures.push(format!("history {name}: {err:#}")),
        }
    }
    (rows, failures)
}

/// The criterion read benches, in a child with its own criterion directory.
async fn reads(args: &RunArgs, work_dir: &std::path::Path) -> anyhow::Result<ReadsReport> {
    let home = work_dir.join("criterion");
    let child = vec![
        "reads".to_owned(),
        "--criterion-home".to_owned(),
        home.display().to_string(),
        "--measurement".to_owned(),
        format!("{}ms", args.reads_measurement.as_millis()),
    ];
    let env = [("CRITERION_HOME", home.as_os_str())];
    run_json_with_env(&child, &env, Duration::from_secs(300)).await
}

/// One size and mix: the fleet, the checker (median of `reps`), the client loop on
/// the all-ok fleet, and the capped baseline.
async fn sweep_row(args: &RunArgs, work_dir: &std::path::Path, n: usize, mix: MixArg) -> SweepRow {
    let mut row = SweepRow {
        n,
        mix: mix.name().to_owned(),
        ..SweepRow::default()
    };
    let targets = work_dir.join(format!("targets-{n}-{}.tsv", mix.name()));
    let fleet_args = vec![
        "fleet".to_owned(),
        "--count".to_owned(),
        n.to_string(),
        "--mix".to_owned(),
        mix.name().to_owned(),
        "--targets".to_owned(),
        targets.display().to_string(),
        "--max-connections".to_owned(),
        (args.parallelism + 100).to_string(),
    ];
    let (mut fleet, ready) =
        match Service::start::<FleetReady>(&fleet_args, Duration::from_secs(120)).await {
            Ok(started) => started,
            Err(err) => {
                row.errors.push(format!("fleet: {err:#}"));
                return row;
            }
        };
    eprintln!("   fleet: {}", ready.summary);
    let sweep_args = |parallelism: usize, cap: Option<Duration>| {
        let mut a = vec![
            "sweep".to_owned(),
            "--targets".to_owned(),
            targets.display().to_string(),
            "--parallelism".to_owned(),
            parallelism.to_string(),
            "--timeout".to_owned(),
            "5s".to_owned(),
        ];
        if let Some(cap) = cap {
            a.push("--cap".to_owned());
            a.push(format!("{}ms", cap.as_millis()));
        }
        a
    };
    let client_args = vec![
        "client-loop".to_owned(),
        "--targets".to_owned(),
        targets.display().to_string(),
        "--concurrency".to_owned(),
        args.parallelism.to_string(),
    ];
    let limit = Duration::from_secs(180);
    let with_client = mix == MixArg::Ok && n >= 1_000;
    let reps = match mix {
        MixArg::Ok => args.reps,
        MixArg::BadDay => args.bad_day_reps,
    };
    for _ in 0..reps.max(1) {
        crate::conntrack::wait_for_room(n).await;
        // Alternate checker and client loop so both see the same machine state.
        match run_json::<SweepReport>(&sweep_args(args.parallelism, None), limit).await {
            Ok(report) => {
                if report.mismatches > 0 {
                    row.errors.push(format!(
                        "{} status mismatches, first: {}",
                        report.mismatches,
                        report.first_mismatch.clone().unwrap_or_default()
                    ));
                }
                eprintln!(
                    "   checker: {:.3} s, cpu {:.3} s, {} KiB, {} mismatches",
                    report.wall_s, report.cpu_s, report.peak_rss_kib, report.mismatches
                );
                row.checker.push(report);
            }
            Err(err) => row.errors.push(format!("checker: {err:#}")),
        }
        if with_client {
            crate::conntrack::wait_for_room(n).await;
            match run_json::<ClientLoopReport>(&client_args, limit).await {
                Ok(report) => {
                    if report.ok != report.requests {
                        row.errors.push(format!(
                            "client loop: {} of {} answered 200",
                            report.ok, report.requests
                        ));
                    }
                    eprintln!(
                        "   client loop: {:.3} s, cpu {:.3} s",
                        report.wall_s, report.cpu_s
                    );
                    row.client.push(report);
                }
                Err(err) => row.errors.push(format!("client loop: {err:#}")),
            }
        }
    }
    let before: Option<FleetStats> = fleet.ask("stats").await.ok();
    match run_json::<SweepReport>(
        &sweep_args(args.baseline_parallelism, Some(args.baseline_cap)),
        args.baseline_cap + limit,
    )
    .await
    {
        Ok(report) => {
            if report.completed {
                if report.mismatches > 0 {
                    row.errors.push(format!(
                        "baseline: {} status mismatches, first: {}",
                        report.mismatches,
                        report.first_mismatch.clone().unwrap_or_default()
                    ));
                }
            } else {
                let after: Option<FleetStats> = fleet.ask("stats").await.ok();
                if let (Some(before), Some(after)) = (before, after) {
                    // Requests reach only listening proxies; scale to the whole fleet.
                    let served = after.requests.saturating_sub(before.requests) as f64;
                    let share = ready.listening.max(1) as f64 / ready.proxies.max(1) as f64;
                    let checked = served / share;
                    if checked > 0.0 {
                        row.baseline_checked = Some(checked);
                        row.baseline_extrapolated_s = Some(n as f64 * report.wall_s / checked);
                    }
                }
            }
            eprintln!(
                "   baseline (p={}): {:.3} s{}",
                args.baseline_parallelism,
                report.wall_s,
                if report.completed { "" } else { " (capped)" }
            );
            row.baseline = Some(report);
        }
        Err(err) => row.errors.push(format!("baseline: {err:#}")),
    }
    if let Err(err) = fleet.stop().await {
        row.errors.push(format!("fleet stop: {err:#}"));
    }
    row
}

/// The service with `count` proxies under wrk: `/api/v2/regions`, then `/healthz`.
async fn regions(args: &RunArgs) -> anyhow::Result<RegionsResult> {
    let child = vec![
        "serve-regions".to_owned(),
        "--count".to_owned(),
        args.count.to_string(),
    ];
    let (server, ready) = Service::start::<ServeReady>(&child, Duration::from_secs(180)).await?;
    eprintln!(
        "   server at {} with {} proxies (first sweep {:.2} s)",
        ready.url, ready.proxies, ready.sweep_s
    );
    let listed = count_regions(&format!("{}/api/v2/regions", ready.url)).await;
    let regions: anyhow::Result<WrkReport> = crate::wrk::run(
        &format!("{}/api/v2/regions", ready.url),
        4,
        args.wrk_duration,
    )
    .await;
    let healthz: anyhow::Result<WrkReport> =
        crate::wrk::run(&format!("{}/healthz", ready.url), 4, args.wrk_duration).await;
    server.stop().await?;
    let listed = listed?;
    if listed != args.count {
        bail!(
            "/api/v2/regions listed {listed} regions, expected {}",
            args.count
        );
    }
    Ok(RegionsResult {
        proxies: listed,
        regions: regions?,
        healthz: healthz?,
    })
}

/// How many regions one `GET /api/v2/regions` lists.
async fn count_regions(url: &str) -> anyhow::Result<usize> {
    let body: serde_json::Value = proxyhealth_api::http::client()
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    body.get("regions")
        .and_then(serde_json::Value::as_array)
        .map(Vec::len)
        .context("the answer has no regions array")
}

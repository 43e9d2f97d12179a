//! The vantages row as `run` starts it: `proxyhealth-bench vantages` in a
//! child, its report into the results (or alone into its section of an
//! existing page with `--vantages-only`).

use crate::child::run_json;
use crate::results::Results;
use crate::run_args::RunArgs;
use crate::vantages::VantagesReport;
use std::time::Duration;

/// The longest the stage may take before it is stopped.
const LIMIT: Duration = Duration::from_secs(900);

/// Runs the stage in a child; its report, or why it failed.
pub async fn row(args: &RunArgs) -> (Option<VantagesReport>, Vec<String>) {
    eprintln!(
        "== vantages: {} proxies, the service and two agents",
        args.vantages_count
    );
    let child = vec![
        "vantages".to_owned(),
        "--count".to_owned(),
        args.vantages_count.to_string(),
        "--phase".to_owned(),
        format!("{}ms", args.vantages_phase.as_millis()),
    ];
    match run_json::<VantagesReport>(&child, LIMIT).await {
        Ok(report) => (Some(report), Vec::new()),
        Err(err) => (None, vec![format!("vantages: {err:#}")]),
    }
}

/// Fills the results with the stage, or says why it was skipped.
pub async fn fill(args: &RunArgs, results: &mut Results) {
    if args.skip_vantages {
        results.vantages_skipped = Some("skipped (--skip-vantages)".into());
        return;
    }
    let (report, failures) = row(args).await;
    results.vantages = report;
    results.failures.extend(failures);
}

/// `--vantages-only`: the stage alone, as the section that replaces its own
/// in the page, and what failed.
pub async fn only(args: &RunArgs) -> (String, Vec<String>) {
    let (report, failures) = row(args).await;
    let mut section = String::new();
    crate::report_vantages::section(&mut section, report.as_ref(), None);
    (section, failures)
}

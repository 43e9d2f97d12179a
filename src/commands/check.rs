//! `proxyhealth check`: one sweep without a server, over the store or a targets
//! file, printed as a table or JSON; the exit code says whether all are `ok`.

use crate::cli::CheckArgs;
use crate::commands::store::{self, open};
use crate::config::{self, CheckSettings};
use crate::exit::{self, usage};
use crate::output::OutputFormat;
use crate::output::certificate;
use crate::output::check_json;
use crate::output::style::{sanitize, status_colour};
use crate::output::table::{Row, write_table};
use crate::targets;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use proxyhealth_core::{Proxy, Status, redact_url};
use proxyhealth_engine::{CheckResult, EngineOptions, sweep_once};
use std::collections::BTreeMap;
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

/// Above this many proxies, a progress bar is shown on stderr (when it is a terminal).
const PROGRESS_THRESHOLD: usize = 50;

/// Runs `check` and returns the exit code: 0 all ok, 1 any not ok; nothing to
/// check is a usage error (exit 2) unless `--allow-empty` accepts it.
pub async fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let settings = config::resolve_check(&args.config, &args.store, &args.probe, &args.check)?;
    crate::limits::raise_open_files();
    let proxies = match &args.targets {
        Some(path) => read_targets(path)?,
        None => load_store_proxies(&settings).await?,
    };
    if proxies.is_empty() && !settings.allow_empty {
        return Err(nothing_to_check(args.targets.as_deref(), &settings));
    }
    let started = std::time::Instant::now();
    let results = sweep(&settings.engine, proxies).await?;
    log_results(&results, started.elapsed());
    let all_ok = results
        .iter()
        .all(|result| result.verdict.status == Status::Ok);
    match args.output {
        OutputFormat::Json => print_json(&results)?,
        OutputFormat::Table => print_table(&results).context("writing the table")?,
    }
    Ok(ExitCode::from(if all_ok {
        exit::SUCCESS
    } else {
        exit::FAILURE
    }))
}

/// Reads a targets file (`-` for stdin) into proxy rows; any problem is a usage error.
fn read_targets(path: &Path) -> anyhow::Result<Vec<Proxy>> {
    let (label, text) = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|err| usage(format!("--targets -: cannot read stdin: {err}")))?;
        ("stdin".to_owned(), text)
    } else {
        let text = std::fs::read_to_string(path).map_err(|err| {
            usage(format!(
                "--targets {}: cannot read the file: {err}",
                path.display()
            ))
        })?;
        (path.display().to_string(), text)
    };
    let parsed = targets::parse(&text).map_err(|err| usage(format!("--targets {label}: {err}")))?;
    let region_base = 1_i32;
    Ok(parsed
        .iter()
        .enumerate()
        .map(|(i, target)| {
            let offset = i32::try_from(i).unwrap_or(i32::MAX - region_base);
            targets::to_proxy(target, region_base.saturating_add(offset))
        })
        .collect())
}

/// The error for an empty list of proxies: where the list came from, and how
/// to accept an empty one.
fn nothing_to_check(targets: Option<&Path>, settings: &CheckSettings) -> anyhow::Error {
    let source = match targets {
        Some(path) if path == Path::new("-") => "--targets -: stdin lists no proxies".to_owned(),
        Some(path) => format!("--targets {}: the file lists no proxies", path.display()),
        None => format!(
            "the store {} has no proxies",
            redact_url(&store::spec(&settings.store))
        ),
    };
    usage(format!(
        "nothing to check: {source}; pass --allow-empty (or set PROXYHEALTH_ALLOW_EMPTY=true, \
         or allow_empty = true in the file) to accept an empty list and exit 0"
    ))
}

async fn load_store_proxies(settings: &CheckSettings) -> anyhow::Result<Vec<Proxy>> {
    let store = open(&settings.store).await?;
    store
        .list_proxies()
        .await
        .context("reading the proxies from the store")
}

/// Checks every proxy with the engine's one-shot sweep, with a progress bar for
/// large fleets on a terminal.
async fn sweep(options: &EngineOptions, proxies: Vec<Proxy>) -> anyhow::Result<Vec<CheckResult>> {
    let bar = progress_bar(proxies.len());
    let tick = bar.clone();
    let mut results = sweep_once(proxies, options, move |_done, _total| {
        if let Some(bar) = &tick {
            bar.inc(1);
        }
    })
    .await
    .context("building the HTTP client")?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    results.sort_by(|a, b| {
        a.proxy
            .name
            .cmp(&b.proxy.name)
            .then_with(|| a.proxy.url.cmp(&b.proxy.url))
    });
    Ok(results)
}

/// Logs each result on stderr, for `-v` and `-vv` (stdout keeps the results
/// alone): a proxy that is not `ok` with its errors as a warning (`-v`), an
/// `ok` one and the sweep's summary as info (`-vv`). Names, URLs and messages
/// come from proxies and files, so control characters are escaped.
fn log_results(results: &[CheckResult], took: std::time::Duration) {
    // Without `-v` nothing is logged: the lines are not even made (a large
    // fleet's sweep would spend its last moments formatting them for nothing).
    let warn = tracing::enabled!(tracing::Level::WARN);
    let info = tracing::enabled!(tracing::Level::INFO);
    for result in results {
        let wanted = if result.verdict.status == Status::Ok {
            info
        } else {
            warn
        };
        if !wanted {
            continue;
        }
        let name = sanitize(&result.proxy.name, false);
        let url = sanitize(&redact_url(&result.proxy.url), false);
        let status = result.verdict.status;
        let report = &result.verdict.report;
        if status == Status::Ok {
            let latency =
                latency_ms(result).map_or_else(String::new, |ms| format!(" in {ms:.1} ms"));
            let warnings = messages(" with warnings", &report.warnings);
            tracing::info!("{name} ({url}) is ok{latency}{warnings}");
        } else {
            let errors = messages("", &report.errors);
            tracing::warn!("{name} ({url}) is {status}{errors}");
        }
    }
    if !info {
        return;
    }
    tracing::info!(
        "checked {} in {:.2} s: {}",
        proxies(results.len()),
        took.as_secs_f64(),
        summary(results)
    );
}

/// `{label}: first; second`, each message on one line with control characters
/// escaped; empty for no messages.
fn messages(label: &str, messages: &[String]) -> String {
    if messages.is_empty() {
        return String::new();
    }
    let joined: Vec<String> = messages.iter().map(|m| sanitize(m, false)).collect();
    format!("{label}: {}", joined.join("; "))
}

/// `1 proxy`, `4 proxies`.
fn proxies(n: usize) -> String {
    if n == 1 {
        "1 proxy".to_owned()
    } else {
        format!("{n} proxies")
    }
}

/// How many proxies have each status that occurs: `1 ok, 3 unreachable`.
fn summary(results: &[CheckResult]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for result in results {
        *counts.entry(result.verdict.status.as_str()).or_default() += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    parts.join(", ")
}

fn progress_bar(total: usize) -> Option<ProgressBar> {
    if total <= PROGRESS_THRESHOLD || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(u64::try_from(total).unwrap_or(u64::MAX));
    if let Ok(style) =
        ProgressStyle::with_template("checking {bar:40} {pos}/{len} proxies ({elapsed})")
    {
        bar.set_style(style);
    }
    Some(bar)
}

fn latency_ms(result: &CheckResult) -> Option<f64> {
    result.latency.map(|d| d.as_secs_f64() * 1000.0)
}

/// Prints the table a row at a time (each row made as it is written), so a
/// large fleet's table is never held whole in memory.
fn print_table(results: &[CheckResult]) -> std::io::Result<()> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    if results.is_empty() {
        // Only reached with --allow-empty: a header over no rows says nothing.
        writeln!(out, "no proxies to check")?;
        return out.flush();
    }
    let colour = std::io::stdout().is_terminal();
    write_table(
        &mut out,
        &["name", "url", "status", "certificate", "latency"],
        || results.iter().map(table_row),
        colour,
    )?;
    writeln!(out, "{}: {}", proxies(results.len()), summary(results))?;
    out.flush()
}

/// One result's line of the table, with its errors and warnings under it.
fn table_row(result: &CheckResult) -> Row {
    let status = result.verdict.status;
    let latency = latency_ms(result)
        .map(|ms| format!("{ms:.1} ms"))
        .unwrap_or_else(|| "-".to_owned());
    Row::new(vec![
        result.proxy.name.clone(),
        redact_url(&result.proxy.url).into_owned(),
        status.to_string(),
        certificate::cell(result.tls_not_after, result.tls_days_left),
        latency,
    ])
    .colour(2, status_colour(status))
    .notes(
        &result.verdict.report.errors,
        &result.verdict.report.warnings,
    )
}

/// Prints the JSON document as it is serialised, without a copy of it as text.
fn print_json(results: &[CheckResult]) -> anyhow::Result<()> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, &check_json::document(results))
        .context("writing JSON")?;
    writeln!(out).context("writing JSON")?;
    out.flush().context("writing JSON")
}

//! `proxyhealth-bench check-cli`: the real `proxyhealth check` (the binary next
//! to this one) over 1,000, 10,000 and 100,000 healthy proxies, as a user runs
//! it: its peak memory (GNU time's maximum resident set, start-up and printing
//! included), wall time and CPU per check, against the binary's own peak with
//! nothing to check. Prints one JSON line; [`section`] renders it.
//!
//! A fleet past the open-files limit cannot listen once per proxy, so a size
//! above the fleet's is made of the fleet's URLs with a user name in front
//! (`http://c3@127.1.0.7:PORT`): distinct proxies to the checker, each a
//! fresh connection and a full check, answered by the same listener.

use crate::child::Service;
use crate::fleet::FleetReady;
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// GNU time, which reports a child's maximum resident set.
const GNU_TIME: &str = "/usr/bin/time";

/// How long one `check` may take before the stage fails.
const LIMIT: Duration = Duration::from_secs(300);

/// The target the issue states for 10,000 healthy proxies.
pub const TARGET_MIB_AT_10K: f64 = 30.0;

/// The options of `check-cli`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckCliArgs {
    /// Listening proxies in the fleet (sizes above it reuse its listeners).
    #[arg(long, default_value_t = 10_000)]
    pub listeners: usize,
    /// Proxies per `check`.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    pub sizes: Vec<usize>,
    /// Runs of each size and output (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// The `proxyhealth` binary (default: next to this one).
    #[arg(long)]
    pub proxyhealth: Option<PathBuf>,
    /// Where the targets files go (default: a temporary folder).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

/// One run of `check` as GNU time saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimedRun {
    /// Maximum resident set, KiB.
    pub max_rss_kib: u64,
    /// Wall seconds, start-up and printing included.
    pub wall_s: f64,
    /// User + system CPU seconds.
    pub cpu_s: f64,
    /// Proxies the check did not find `ok` (a healthy fleet's checks that timed
    /// out on a machine too busy to answer them in time).
    #[serde(default)]
    pub not_ok: usize,
}

/// The runs of one size and output format.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckCliRow {
    /// Proxies checked.
    pub proxies: usize,
    /// `table` or `json`.
    pub output: String,
    /// Each run.
    pub runs: Vec<TimedRun>,
}

/// What `check-cli` prints.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CheckCliReport {
    /// `check --allow-empty` of an empty targets file: the binary's own peak.
    pub empty: Vec<TimedRun>,
    /// Every size and output.
    pub rows: Vec<CheckCliRow>,
    /// Listening proxies behind the targets.
    pub listeners: usize,
    /// Waits for room in the connection-tracking table, and runs made without it.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// The median of `values` (the upper one of an even count); NaN for none.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

impl CheckCliRow {
    /// Median peak memory, MiB.
    pub fn peak_mib(&self) -> f64 {
        median(
            self.runs
                .iter()
                .map(|r| r.max_rss_kib as f64 / 1024.0)
                .collect(),
        )
    }

    /// Median wall seconds.
    pub fn wall_s(&self) -> f64 {
        median(self.runs.iter().map(|r| r.wall_s).collect())
    }

    /// Median CPU microseconds per check.
    pub fn cpu_us_per_check(&self) -> f64 {
        let n = self.proxies.max(1) as f64;
        median(self.runs.iter().map(|r| r.cpu_s * 1e6 / n).collect())
    }
}

impl CheckCliReport {
    /// The binary's own peak with nothing to check, MiB (median).
    pub fn empty_mib(&self) -> f64 {
        median(
            self.empty
                .iter()
                .map(|r| r.max_rss_kib as f64 / 1024.0)
                .collect(),
        )
    }

    /// The table row at 10,000 proxies, if measured.
    pub fn table_at(&self, n: usize) -> Option<&CheckCliRow> {
        self.rows
            .iter()
            .find(|row| row.proxies == n && row.output == "table")
    }
}

/// Runs the stage and prints its report.
pub async fn run(args: CheckCliArgs) -> anyhow::Result<()> {
    let _ = proxyhealth_sim::raise_fd_limit();
    if !Path::new(GNU_TIME).is_file() {
        bail!(
            "{GNU_TIME} (GNU time, Debian package `time`) is needed to read a child's peak memory"
        );
    }
    let binary = match &args.proxyhealth {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("the bench binary's directory")?
            .join("proxyhealth"),
    };
    let scratch = tempfile::Builder::new()
        .prefix("proxyhealth-check-cli")
        .tempdir()?;
    let dir = args
        .work_dir
        .clone()
        .unwrap_or_else(|| scratch.path().to_owned());
    let fleet_targets = dir.join("fleet.tsv");
    let fleet_args = vec![
        "fleet".to_owned(),
        "--count".to_owned(),
        args.listeners.to_string(),
        "--targets".to_owned(),
        fleet_targets.display().to_string(),
        "--max-connections".to_owned(),
        (proxyhealth_engine::options::DEFAULT_PARALLELISM + 100).to_string(),
    ];
    let (fleet, ready) =
        Service::start::<FleetReady>(&fleet_args, Duration::from_secs(120)).await?;
    eprintln!("   fleet: {}", ready.summary);
    let lines = fleet_lines(&fleet_targets)?;
    let mut report = CheckCliReport {
        listeners: args.listeners,
        ..CheckCliReport::default()
    };
    let empty = dir.join("empty.tsv");
    std::fs::write(&empty, "")?;
    for _ in 0..args.reps.max(1) {
        report
            .empty
            .push(timed(&binary, &empty, "table", &["--allow-empty"]).await?);
    }
    for &n in &args.sizes {
        let targets = dir.join(format!("targets-{n}.tsv"));
        std::fs::write(&targets, targets_text(&lines, n))?;
        for output in ["table", "json"] {
            let mut row = CheckCliRow {
                proxies: n,
                output: output.to_owned(),
                runs: Vec::new(),
            };
            for _ in 0..args.reps.max(1) {
                if let Some(note) = crate::conntrack::make_room(n).await {
                    eprintln!("   {note}");
                    report.notes.push(format!("{n} proxies, {output}: {note}"));
                }
                let run = timed(&binary, &targets, output, &[]).await?;
                eprintln!(
                    "   {n} proxies, {output}: {:.1} MiB, {:.2} s, {:.3} s CPU, {} not ok",
                    run.max_rss_kib as f64 / 1024.0,
                    run.wall_s,
                    run.cpu_s,
                    run.not_ok
                );
                row.runs.push(run);
            }
            report.rows.push(row);
        }
    }
    fleet.stop().await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// `(url, name)` of every proxy of the fleet's targets file.
fn fleet_lines(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("read the targets file {}", path.display()))?;
    Ok(text
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split('\t');
            Some((fields.next()?.to_owned(), fields.next()?.to_owned()))
        })
        .collect())
}

/// A targets file of `n` proxies over the fleet's listeners: the fleet's own
/// URLs first, then the same ones with a user name `c1`, `c2`, ... in front.
fn targets_text(lines: &[(String, String)], n: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        let Some((url, name)) = lines.get(i % lines.len().max(1)) else {
            break;
        };
        let copy = i / lines.len().max(1);
        if copy == 0 {
            let _ = writeln!(text, "{url}\t{name}");
        } else {
            let url = url.replacen("://", &format!("://c{copy}@"), 1);
            let _ = writeln!(text, "{url}\t{name}-c{copy}");
        }
    }
    text
}

/// One `proxyhealth check` under GNU time, its output kept to count the
/// proxies it found not `ok` (exit 1); any other exit fails the stage.
async fn timed(
    binary: &Path,
    targets: &Path,
    output: &str,
    extra: &[&str],
) -> anyhow::Result<TimedRun> {
    let report = tempfile::NamedTempFile::new()?;
    let printed = tempfile::NamedTempFile::new()?;
    let mut command = tokio::process::Command::new(GNU_TIME);
    command
        .arg("-f")
        .arg("%M %e %U %S")
        .arg("-o")
        .arg(report.path())
        .arg(binary)
        .arg("check")
        .arg("--targets")
        .arg(targets)
        .arg("--output")
        .arg(output)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(printed.reopen()?)
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let status = tokio::time::timeout(LIMIT, command.status())
        .await
        .context("`proxyhealth check` did not finish in time")??;
    if !matches!(status.code(), Some(0 | 1)) {
        bail!(
            "`proxyhealth check --targets {}` exited with {status}",
            targets.display()
        );
    }
    let not_ok = if status.success() {
        0
    } else {
        not_ok(&std::fs::read_to_string(printed.path())?, output)
    };
    let text = std::fs::read_to_string(report.path())?;
    let fields: Vec<&str> = text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let number = |i: usize| -> anyhow::Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("GNU time wrote {text:?}"))
    };
    Ok(TimedRun {
        max_rss_kib: number(0)? as u64,
        wall_s: number(1)?,
        cpu_s: number(2)? + number(3)?,
        not_ok,
    })
}

/// How many proxies `check` printed as not `ok`: from the JSON document's
/// counts, or the table's closing line (`10000 proxies: 9990 ok, 10 unreachable`).
fn not_ok(printed: &str, output: &str) -> usize {
    if output == "json" {
        let Ok(document) = serde_json::from_str::<serde_json::Value>(printed) else {
            return 0;
        };
        let total = document["total"].as_u64().unwrap_or(0);
        let ok = document["counts"]["ok"].as_u64().unwrap_or(0);
        return usize::try_from(total.saturating_sub(ok)).unwrap_or(usize::MAX);
    }
    let Some((_, counts)) = printed.lines().last().and_then(|l| l.split_once(": ")) else {
        return 0;
    };
    counts
        .split(", ")
        .filter_map(|part| part.split_once(' '))
        .filter(|(_, status)| *status != "ok")
        .filter_map(|(n, _)| n.parse::<usize>().ok())
        .sum()
}

/// The results section of the stage.
pub fn section(md: &mut String, report: Option<&CheckCliReport>, skipped: Option<&str>) {
    let _ = writeln!(md, "## 9. `proxyhealth check` as a user runs it\n");
    let Some(report) = report else {
        let _ = writeln!(md, "{}\n", skipped.unwrap_or("not measured"));
        return;
    };
    let empty = report.empty_mib();
    let _ = writeln!(
        md,
        "`proxyhealth-bench check-cli`: the real binary, `proxyhealth check --targets FILE` over \
         healthy proxies of the lean fleet ({} listeners; above that, the same listeners under \
         distinct user names), stdout to /dev/null, under GNU time: peak memory is the process's \
         maximum resident set (start-up, the sweep and the printing included), CPU is user + \
         system. The baseline is the same binary with nothing to check (`--allow-empty` over an \
         empty file): {empty:.1} MiB, what the binary's code and runtime occupy. Medians of {} runs.\n",
        report.listeners,
        report.empty.len()
    );
    let _ = writeln!(
        md,
        "| proxies | output | peak memory | above the empty run | KiB per proxy above it | wall | CPU µs per check | not ok (runs) |"
    );
    let _ = writeln!(md, "|---:|---|---:|---:|---:|---:|---:|---|");
    for row in &report.rows {
        let above = row.peak_mib() - empty;
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} MiB | {:.1} MiB | {:.2} | {:.2} s | {:.1} | {} |",
            row.proxies,
            row.output,
            row.peak_mib(),
            above,
            above * 1024.0 / row.proxies.max(1) as f64,
            row.wall_s(),
            row.cpu_us_per_check(),
            row.runs
                .iter()
                .map(|r| r.not_ok.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for note in &report.notes {
        let _ = writeln!(md, "- {note}");
    }
    if let Some(row) = report.table_at(10_000) {
        let met = if row.peak_mib() <= TARGET_MIB_AT_10K {
            "**met**"
        } else {
            "**missed**"
        };
        let _ = writeln!(
            md,
            "\nTarget: `check` of 10,000 healthy proxies peaks at no more than \
             {TARGET_MIB_AT_10K:.0} MiB: {:.1} MiB, {met}.",
            row.peak_mib()
        );
    }
    md.push('\n');
}

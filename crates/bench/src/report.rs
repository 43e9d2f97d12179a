//! The Markdown page of a run's [`Results`] (printed and written to
//! bench/RESULTS.md), with the performance targets marked met or missed.

use crate::results::{Results, SweepRow};
use crate::table::{opt, verdict};
use std::fmt::Write as _;

/// The notes written after the tables: policy, method and findings.
const NOTES: &str = include_str!("notes.md");
/// Peak memory target of the checker at 10,000 proxies.
const MEMORY_TARGET_MIB: f64 = 64.0;
/// Fraction of the client loop's checks per second the checker must reach.
const LIMIT_TARGET: f64 = 0.9;
/// How much slower a read may be while a sweep stores and still count as "no slower"
/// (criterion's medians move by a few percent from run to run on a shared machine).
const READ_SLACK: f64 = 1.25;

/// The whole Markdown page.
pub fn render(results: &Results) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# proxyhealth benchmarks\n");
    let _ = writeln!(
        md,
        "Written by `scripts/bench` ({:.0} s for the measurements) on a 2-core machine, everything on \
         loopback. The fleet runs in its own process; each checker, client loop and baseline \
         run is a fresh process measured alone (CPU = user + system of that process, memory = its \
         VmHWM). Check timeout {:.0} s; checker parallelism {} (the default); baseline parallelism \
         {} (the seed's), stopped after {:.0} s. Checker and client-loop figures are the median of \
         the runs listed.\n",
        results.total_s,
        results.timeout_s,
        results.parallelism,
        results.baseline_parallelism,
        results.baseline_cap_s
    );
    sweeps(&mut md, results);
    limit(&mut md, results);
    reads(&mut md, results);
    stores(&mut md, results);
    crate::report_replicas::section(
        &mut md,
        results.replicas.as_ref(),
        results.replicas_skipped.as_deref(),
    );
    crate::report_fleets::sections(&mut md, results);
    crate::report_history::section(
        &mut md,
        &results.history,
        results.history_skipped.as_deref(),
    );
    crate::check_cli::section(
        &mut md,
        results.check_cli.as_ref(),
        results.check_cli_skipped.as_deref(),
    );
    crate::report_dashboard::section(
        &mut md,
        results.dashboard.as_ref(),
        &results.api,
        results.dashboard_skipped.as_deref(),
    );
    crate::report_registration::section(
        &mut md,
        &results.registration,
        results.registration_skipped.as_deref(),
    );
    crate::report_vantages::section(
        &mut md,
        results.vantages.as_ref(),
        results.vantages_skipped.as_deref(),
    );
    targets(&mut md, results);
    growth(&mut md, results);
    if !results.notes.is_empty() || !results.failures.is_empty() {
        let _ = writeln!(md, "## Runs\n");
        for note in &results.notes {
            let _ = writeln!(md, "- {note}");
        }
        for failure in &results.failures {
            let _ = writeln!(md, "- FAILED: {failure}");
        }
        md.push('\n');
    }
    md.push_str(NOTES);
    md
}

fn sweeps(md: &mut String, results: &Results) {
    let _ = writeln!(md, "## 1. One sweep at scale\n");
    let _ = writeln!(
        md,
        "| proxies | mix | runs | wall | checks/s | CPU s per 1,000 checks | peak memory | mismatches | \
         baseline (p={}) wall | baseline checks/s | speed-up |",
        results.baseline_parallelism
    );
    let _ = writeln!(
        md,
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for row in &results.sweeps {
        let (base_wall, base_rate, speedup) = match &row.baseline {
            Some(b) if b.completed => (
                format!("{:.2} s", b.wall_s),
                format!("{:.0}", b.proxies as f64 / b.wall_s),
                row.wall().map(|w| b.wall_s / w),
            ),
            Some(b) => {
                let extrapolated = row.baseline_extrapolated_s;
                (
                    format!(
                        "> {:.0} s (stopped; ~{} s extrapolated)",
                        b.wall_s,
                        opt(extrapolated, 0)
                    ),
                    row.baseline_checked
                        .map_or("—".to_owned(), |c| format!("{:.0}", c / b.wall_s)),
                    extrapolated.zip(row.wall()).map(|(e, w)| e / w),
                )
            }
            None => ("failed".to_owned(), "—".to_owned(), None),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} s | {} | {} | {} MiB | {} | {} | {} | {}× |",
            row.n,
            row.mix,
            row.checker.len(),
            opt(row.wall(), 3),
            opt(row.rate(), 0),
            opt(row.cpu_per_k(), 3),
            opt(row.peak_mib(), 1),
            row.mismatches(),
            base_wall,
            base_rate,
            opt(speedup, 1),
        );
    }
    md.push('\n');
}

fn limit(md: &mut String, results: &Results) {
    let _ = writeln!(md, "## 2. Close to the loopback limit (all-ok fleet)\n");
    let _ = writeln!(
        md,
        "The client loop: raw tokio `TcpStream`, a fresh connection per request, \
         `GET /healthz-report` with `Connection: close`, read to EOF, the same {} in flight, the \
         same targets.\n",
        results.parallelism
    );
    let _ = writeln!(
        md,
        "| proxies | checker checks/s | client loop checks/s | ratio | checker CPU s/1,000 | client loop CPU s/1,000 | CPU ratio |"
    );
    let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|");
    for row in results.sweeps.iter().filter(|r| !r.client.is_empty()) {
        let rate_ratio = row.rate().zip(row.client_rate()).map(|(a, b)| a / b);
        let cpu_ratio = row
            .cpu_per_k()
            .zip(row.client_cpu_per_k())
            .map(|(a, b)| a / b);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.n,
            opt(row.rate(), 0),
            opt(row.client_rate(), 0),
            opt(rate_ratio, 2),
            opt(row.cpu_per_k(), 3),
            opt(row.client_cpu_per_k(), 3),
            opt(cpu_ratio, 2),
        );
    }
    md.push('\n');
}

fn reads(md: &mut String, results: &Results) {
    let _ = writeln!(md, "## 3. Reads\n");
    match &results.reads {
        Some(reads) => {
            let _ = writeln!(
                md,
                "Criterion (`proxyhealth-bench reads`), median time of one read, the lowest of three rounds. \
                 \"storing\": a background thread re-checks proxies in a loop, each re-check \
                 storing a new 10,000-proxy snapshot{}.\n",
                reads.stores_per_s.map_or(String::new(), |s| format!(
                    " ({s:.0} snapshots stored per second)"
                ))
            );
            let _ = writeln!(
                md,
                "| read | 100 proxies | 10,000 proxies | 10,000 while storing | storing / idle |"
            );
            let _ = writeln!(md, "|---|---:|---:|---:|---:|");
            for (group, label) in [
                ("status_map", "status map: `snapshot()` + `get(id)`"),
                ("host_list", "host list: `snapshot().hosts().len()`"),
            ] {
                let small = reads.ns(group, "n100_idle");
                let idle = reads.ns(group, "n10000_idle");
                let storing = reads.ns(group, "n10000_storing");
                let _ = writeln!(
                    md,
                    "| {label} | {} ns | {} ns | {} ns | {} |",
                    opt(small, 1),
                    opt(idle, 1),
                    opt(storing, 1),
                    opt(storing.zip(idle).map(|(s, i)| s / i), 2)
                );
            }
            md.push('\n');
        }
        None => {
            let _ = writeln!(md, "Criterion reads: not run.\n");
        }
    }
    match &results.regions {
        Some(r) => {
            let _ = writeln!(
                md,
                "`wrk -t2 -c4 --latency` against `proxyhealth-bench serve-regions` ({} proxies; the \
                 server and wrk share the 2 cores):\n",
                r.proxies
            );
            let _ = writeln!(md, "| endpoint | requests/s | p50 | p99 | errors |");
            let _ = writeln!(md, "|---|---:|---:|---:|---:|");
            for (name, w) in [
                (
                    format!("`GET /api/v2/regions` ({} regions)", r.proxies),
                    &r.regions,
                ),
                (
                    "`GET /healthz` (baseline: the framework alone)".to_owned(),
                    &r.healthz,
                ),
            ] {
                let _ = writeln!(
                    md,
                    "| {name} | {:.1} | {:.2} ms | {:.2} ms | {} |",
                    w.rps, w.p50_ms, w.p99_ms, w.errors
                );
            }
            md.push('\n');
        }
        None => {
            let _ = writeln!(md, "`GET /api/v2/regions`: not measured (see Runs).\n");
        }
    }
}

fn stores(md: &mut String, results: &Results) {
    let _ = writeln!(md, "## 4. Store listing\n");
    let _ = writeln!(
        md,
        "Median of 15 runs: `list_proxies()` against `SELECT * FROM workspace_proxies WHERE deleted = false` \
         of the same rows through the same driver (sqlx), rows fetched but not decoded.\n"
    );
    let _ = writeln!(
        md,
        "| backend | rows | `list_proxies()` | plain SELECT | ratio |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|");
    for row in &results.stores {
        let r = &row.report;
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} ms | {:.2} ms | {:.2} |",
            r.backend,
            r.rows,
            r.list_ms,
            r.select_ms,
            r.list_ms / r.select_ms.max(1e-9)
        );
    }
    md.push('\n');
}

fn targets(md: &mut String, results: &Results) {
    let _ = writeln!(md, "## Targets\n");
    let _ = writeln!(md, "| target | measured | |");
    let _ = writeln!(md, "|---|---|---|");
    let largest = results.sweeps.iter().map(|r| r.n).max().unwrap_or(0);
    let find = |mix: &str| {
        results
            .sweeps
            .iter()
            .find(|r| r.n == largest && r.mix == mix)
    };
    let bad = find("bad-day");
    let bound = results.timeout_s + 1.0;
    let bad_wall = bad.and_then(SweepRow::wall);
    let _ = writeln!(
        md,
        "| {largest} proxies, bad day: one sweep within timeout + 1 s ({bound:.0} s) | {} s | {} |",
        opt(bad_wall, 2),
        verdict(bad_wall.map(|w| w <= bound))
    );
    let ok = find("ok");
    let ratio = ok.and_then(|r| r.rate().zip(r.client_rate()).map(|(a, b)| a / b));
    let _ = writeln!(
        md,
        "| {largest} proxies, all ok: ≥ {LIMIT_TARGET} of the client loop's checks/s | {} | {} |",
        opt(ratio, 2),
        verdict(ratio.map(|r| r >= LIMIT_TARGET))
    );
    let peak = [ok, bad]
        .into_iter()
        .flatten()
        .filter_map(SweepRow::peak_mib)
        .reduce(f64::max);
    let _ = writeln!(
        md,
        "| peak checker memory at {largest} proxies < {MEMORY_TARGET_MIB:.0} MiB | {} MiB | {} |",
        opt(peak, 1),
        verdict(peak.map(|p| p < MEMORY_TARGET_MIB))
    );
    let cpu_ratio = ok.and_then(|r| r.cpu_per_k().zip(r.client_cpu_per_k()).map(|(a, b)| a / b));
    let _ = writeln!(
        md,
        "| CPU per 1,000 checks as low as the connections allow (ratio to the client loop, all ok, {largest}) | {}× | reported (no fixed bound) |",
        opt(cpu_ratio, 2)
    );
    if let Some(reads) = &results.reads {
        for group in ["status_map", "host_list"] {
            let small = reads.ns(group, "n100_idle");
            let idle = reads.ns(group, "n10000_idle");
            let storing = reads.ns(group, "n10000_storing");
            let flat = small.zip(idle).map(|(s, i)| i <= s * READ_SLACK);
            let calm = storing.zip(idle).map(|(s, i)| s <= i * READ_SLACK);
            let _ = writeln!(
                md,
                "| {group} read: no lock, no work proportional to N (100 vs 10,000), no slower while storing (≤ {READ_SLACK}×) | {} → {} ns; storing {} ns | {} |",
                opt(small, 1),
                opt(idle, 1),
                opt(storing, 1),
                verdict(flat.zip(calm).map(|(a, b)| a && b))
            );
        }
    }
    crate::report_replicas::targets(md, results.replicas.as_ref());
    crate::report_fleets::targets(md, results);
    if let Some(row) = results.check_cli.as_ref().and_then(|r| r.table_at(10_000)) {
        let peak = row.peak_mib();
        let _ = writeln!(
            md,
            "| `proxyhealth check` of 10000 healthy proxies: peak memory at most {:.0} MiB (section 9) | {peak:.1} MiB | {} |",
            crate::check_cli::TARGET_MIB_AT_10K,
            verdict(Some(peak <= crate::check_cli::TARGET_MIB_AT_10K))
        );
    }
    crate::report_registration::targets(md, &results.registration);
    crate::report_vantages::targets(md, results.vantages.as_ref());
    if let Some(row) = crate::report_dashboard::api_target(&results.api) {
        let _ = writeln!(md, "{row}");
    }
    md.push('\n');
}

fn growth(md: &mut String, results: &Results) {
    let _ = writeln!(md, "## Cost growth with N\n");
    for mix in ["ok", "bad-day"] {
        let rows: Vec<&SweepRow> = results.sweeps.iter().filter(|r| r.mix == mix).collect();
        if rows.is_empty() {
            continue;
        }
        let series = |f: &dyn Fn(&SweepRow) -> Option<f64>, digits: usize| {
            rows.iter()
                .map(|r| format!("{} → {}", r.n, opt(f(r), digits)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            md,
            "- {mix}: wall s {}; CPU s per 1,000 checks {}; peak MiB {}.",
            series(&SweepRow::wall, 3),
            series(&SweepRow::cpu_per_k, 3),
            series(&SweepRow::peak_mib, 1),
        );
    }
    if let Some(report) = &results.check_cli {
        let rows: Vec<_> = report.rows.iter().filter(|r| r.output == "table").collect();
        let series = |f: &dyn Fn(&crate::check_cli::CheckCliRow) -> f64, digits: usize| {
            rows.iter()
                .map(|r| format!("{} → {:.digits$}", r.proxies, f(r)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            md,
            "- `proxyhealth check`, healthy (section 9, the real binary): peak MiB {}; CPU µs per check {}.",
            series(&crate::check_cli::CheckCliRow::peak_mib, 1),
            series(&crate::check_cli::CheckCliRow::cpu_us_per_check, 0),
        );
    }
    md.push('\n');
}

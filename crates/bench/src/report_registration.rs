//! The registration section of the results page and its targets.

use crate::registration::RegistrationReport;
use crate::table::verdict;
use std::fmt::Write as _;

/// The heading the section starts with (`run --registration-only` replaces
/// the section under it in an existing file, see [`crate::splice`]).
pub const HEADING: &str = "## 11. Registration at fleet scale";
/// The 99th percentile a re-registration must stay under, from its planned send time.
pub const P99_TARGET_MS: f64 = 100.0;
/// The most the server's RSS may grow from the start to the end of the run
/// ("flat memory").
pub const RSS_GROWTH_MAX: f64 = 1.10;
/// How far the checks in the window may exceed what the interval alone gives
/// ("no burst of re-checks"; one re-check per registration would be +67 %
/// at 10 s intervals).
pub const CHECKS_SLACK: f64 = 0.05;

/// Writes the section: the requests, the memory and the checks per backend,
/// with the targets, or why it was not run.
pub fn section(md: &mut String, rows: &[RegistrationReport], skipped: Option<&str>) {
    let _ = writeln!(md, "{HEADING}\n");
    if let Some(why) = skipped {
        let _ = writeln!(md, "Not measured: {why}.\n");
        return;
    }
    let Some(first) = rows.first() else {
        let _ = writeln!(md, "Not measured (see Runs).\n");
        return;
    };
    let _ = writeln!(
        md,
        "`proxyhealth-bench registration` against the real `proxyhealth serve --interval {:.0}s`: \
         {} healthy simulated proxies (their own process, on loopback addresses) created through \
         the API and registered, each with its own token; once all are `ok`, each registers again \
         every {:.0} s with an unchanged body ({:.0} requests/s) for {:.0} s, while the server \
         sweeps (SQLite) or claims (PostgreSQL, one replica) the proxies as usual. Open loop: \
         every request is sent at its planned time whether or not the ones before it were \
         answered, and its latency runs from that planned time (a stall counts for every request \
         planned during it); one keep-alive client pool. Server, fleet, load generator and \
         PostgreSQL share the 2 cores. Reproduce: `scripts/bench --registration-only` (both \
         backends, this section only), or `proxyhealth-bench registration --db sqlite` / \
         `--db postgres://…` for one.\n",
        first.interval_s, first.proxies, first.every_s, first.planned_rate, first.seconds
    );
    let _ = writeln!(
        md,
        "| backend | proxies | setup | planned req/s | sent | ok | failed | achieved req/s | p50 | p99 | max |"
    );
    let _ = writeln!(
        md,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} s | {:.0} | {} | {} | {} | {:.1} | {:.2} ms | {:.2} ms | {:.1} ms |",
            r.backend,
            r.proxies,
            r.setup_s,
            r.planned_rate,
            r.sent,
            r.ok,
            r.failed,
            r.achieved_rate,
            r.p50_ms,
            r.p99_ms,
            r.max_ms
        );
    }
    md.push('\n');
    if !rows.iter().any(|r| r.backend == "postgres") {
        let _ = writeln!(
            md,
            "No PostgreSQL row: no server was given (PROXYHEALTH_TEST_PG_URL unset) or its run failed (see Runs).\n"
        );
    }
    for r in rows.iter().filter(|r| !r.failures.is_empty()) {
        let _ = writeln!(md, "- {} failures: {}", r.backend, r.failures.join("; "));
    }
    let _ = writeln!(
        md,
        "**Memory**: the server's RSS at the start of the re-registrations and at each quarter \
         of the run, each the highest read (every 250 ms) over one interval ({:.0} s, a whole \
         sweep cycle): the run's first for start, the one ending there for each quarter.\n",
        first.interval_s
    );
    let labels: Vec<&str> = first.rss_kib.iter().map(|(l, _)| l.as_str()).collect();
    let _ = writeln!(md, "| backend | {} | last / start |", labels.join(" | "));
    let _ = writeln!(md, "|---|{}---:|", "---:|".repeat(labels.len()));
    for r in rows {
        let cells: Vec<String> = r
            .rss_kib
            .iter()
            .map(|(_, kib)| format!("{:.1} MiB", *kib as f64 / 1024.0))
            .collect();
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            r.backend,
            cells.join(" | "),
            crate::table::opt(r.rss_growth, 3)
        );
    }
    md.push('\n');
    let _ = writeln!(
        md,
        "**Checks** the fleet received during the {:.0} s of re-registration (a whole number of \
         intervals, so as many sweeps or claims as the interval gives wherever they fall), \
         against proxies × window / interval; a re-check for every registration would add \
         {:.0}. The server's own count (`proxyhealth_checks_total`) over the same window beside \
         it.\n",
        first.seconds,
        first.planned_rate * first.seconds
    );
    let _ = writeln!(
        md,
        "| backend | checks received | by the interval alone | ratio | per proxy (min–max) | server's count |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {:.0} | {:.3} | {}–{} | {} |",
            r.backend,
            r.fleet_checks,
            r.interval_checks,
            r.checks_ratio(),
            r.min_per_proxy,
            r.max_per_proxy,
            r.server_checks
        );
    }
    md.push('\n');
    let _ = writeln!(md, "| target | measured | |");
    let _ = writeln!(md, "|---|---|---|");
    targets(md, rows);
    md.push('\n');
}

/// The registration rows of a targets table (the section's own and the page's).
pub fn targets(md: &mut String, rows: &[RegistrationReport]) {
    for r in rows {
        let _ = writeln!(
            md,
            "| {}: {} proxies re-registering every {:.0} s ({:.0}/s), p99 < {P99_TARGET_MS:.0} ms, no failure | p99 {:.2} ms, {} failed | {} |",
            r.backend,
            r.proxies,
            r.every_s,
            r.planned_rate,
            r.p99_ms,
            r.failed,
            verdict(Some(r.p99_ms < P99_TARGET_MS && r.failed == 0))
        );
        let _ = writeln!(
            md,
            "| {}: memory flat, RSS at the end ≤ {RSS_GROWTH_MAX:.2} × at the start | {} | {} |",
            r.backend,
            r.rss_growth.map_or("—".to_owned(), |g| format!("{g:.3}×")),
            verdict(r.rss_growth.map(|g| g <= RSS_GROWTH_MAX))
        );
        let _ = writeln!(
            md,
            "| {}: no burst of re-checks, checks ≤ {:.2} × the interval's | {:.3}× ({} of {:.0}) | {} |",
            r.backend,
            1.0 + CHECKS_SLACK,
            r.checks_ratio(),
            r.fleet_checks,
            r.interval_checks,
            verdict(Some(r.checks_ratio() <= 1.0 + CHECKS_SLACK))
        );
    }
}

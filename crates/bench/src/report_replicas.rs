//! The replicas section of the results page and its targets.

use crate::replicas::{ReplicasReport, Window};
use crate::table::opt;
use std::fmt::Write as _;

/// The most a result may take to reach every replica ("within about a second").
pub const PROPAGATION_TARGET_MS: f64 = 1000.0;
/// How far the cluster's checks per proxy per interval may be from one
/// replica's (the load must not grow with the replicas).
pub const CHECKS_SLACK: f64 = 0.1;

/// `a / b`, or `None` when `b` is zero or missing.
fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    a.zip(b).filter(|(_, b)| *b > 0.0).map(|(a, b)| a / b)
}

fn window_row(md: &mut String, label: &str, w: &Window, reference: Option<&Window>) {
    let claims = if w.claims.len() > 1 {
        let total: u64 = w.claims.iter().sum();
        w.claims
            .iter()
            .map(|c| format!("{:.0} %", *c as f64 * 100.0 / total.max(1) as f64))
            .collect::<Vec<_>>()
            .join(" / ")
    } else {
        "—".to_owned()
    };
    let versus = |f: &dyn Fn(&Window) -> Option<f64>| match reference {
        Some(r) => ratio(f(w), f(r)).map_or(String::new(), |x| format!(" ({x:.2}×)")),
        None => String::new(),
    };
    let _ = writeln!(
        md,
        "| {label} | {} | {:.1} | {:.3}{} | {}–{} | {} | {}{} | {} | {}{} | {:.0}{} |",
        w.replicas,
        w.intervals,
        w.per_proxy_per_interval,
        versus(&|w| Some(w.per_proxy_per_interval)),
        w.min_per_proxy,
        w.max_per_proxy,
        claims,
        opt(w.db.statements_per_s, 0),
        versus(&|w| w.db.statements_per_s),
        opt(w.db.mean_ms, 3),
        opt(w.db.exec_ms_per_s, 0),
        versus(&|w| w.db.exec_ms_per_s),
        w.db.transactions_per_s,
        versus(&|w| Some(w.db.transactions_per_s)),
    );
}

/// Section 5: the windows, the propagation time, and the busiest statements.
pub fn section(md: &mut String, report: Option<&ReplicasReport>, skipped: Option<&str>) {
    let _ = writeln!(md, "## 5. Replicas on one PostgreSQL\n");
    let Some(r) = report else {
        let _ = writeln!(
            md,
            "Not measured: {}.\n",
            skipped.unwrap_or("the stage failed (see Runs)")
        );
        return;
    };
    let _ = writeln!(
        md,
        "`proxyhealth-bench replicas`: {} healthy simulated proxies (their own process, counting \
         the requests each proxy gets) registered in a scratch database; `proxyhealth serve --db \
         postgres://…` replicas with `--interval {:.0}s --timeout {:.0}s`, on the same 2 cores as \
         the fleet and PostgreSQL. One replica first (its first pass of every proxy took {:.1} s), \
         then all of them after {} interval(s) of warm-up; database work from `{}`{}. Stage: \
         {:.0} s.\n",
        r.proxies,
        r.interval_s,
        r.timeout_s,
        r.first_pass_s,
        r.warmup_intervals,
        r.counter,
        if r.counter == "pg_stat_statements" {
            ""
        } else {
            " (transactions only: the server does not preload pg_stat_statements)"
        },
        r.total_s,
    );
    let _ = writeln!(
        md,
        "| window | replicas | intervals | checks per proxy per interval | checks of one proxy (min–max) | \
         claims by replica | statements/s | ms per statement | DB exec ms/s | transactions/s |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|");
    window_row(md, "reference: one replica", &r.single, None);
    window_row(md, "cluster", &r.cluster, Some(&r.single));
    md.push('\n');
    let p = &r.propagation;
    let _ = writeln!(
        md,
        "Time from a result to all {} replicas serving it: **p50 {:.1} ms, p99 {:.1} ms** (p90 \
         {:.1} ms, max {:.1} ms; {} samples, {} above a second, {} missed). The first replica serves \
         it at p50 {:.1} ms; the bench's own notification arrives at p50 {:.1} ms (the write's \
         commit). Writes rejected by fencing: {}; take-overs: {}.\n",
        r.cluster.replicas,
        p.p50_ms,
        p.p99_ms,
        p.p90_ms,
        p.max_ms,
        p.samples,
        p.over_1s,
        p.missed,
        p.first_p50_ms,
        p.notice_p50_ms,
        r.rejected,
        r.takeovers,
    );
    if !r.disagreeing.is_empty() {
        let _ = writeln!(
            md,
            "Replicas not showing every proxy `ok` at the end: {}.\n",
            r.disagreeing.join("; ")
        );
    }
    if !r.cluster.db.top.is_empty() {
        let _ = writeln!(
            md,
            "Statements of the cluster window by execution time (`pg_stat_statements`):\n"
        );
        let _ = writeln!(md, "| calls/s | ms per call | exec ms/s | statement |");
        let _ = writeln!(md, "|---:|---:|---:|---|");
        for s in &r.cluster.db.top {
            let _ = writeln!(
                md,
                "| {:.1} | {:.3} | {:.1} | `{}` |",
                s.calls_per_s,
                s.mean_ms,
                s.ms_per_s,
                s.query.replace('|', "\\|").replace('`', "'")
            );
        }
        md.push('\n');
    }
}

/// The rows of the Targets table.
pub fn targets(md: &mut String, report: Option<&ReplicasReport>) {
    let Some(r) = report else {
        return;
    };
    let verdict = |met: bool| if met { "**met**" } else { "**missed**" };
    let c = &r.cluster;
    let versus_one = ratio(
        Some(c.per_proxy_per_interval),
        Some(r.single.per_proxy_per_interval),
    );
    let _ = writeln!(
        md,
        "| {} replicas, {} proxies: the probe load of one replica (checks per proxy per interval within 1 ± {CHECKS_SLACK} of one replica's), not {}× | {:.3} against {:.3}: {}× | {} |",
        c.replicas,
        r.proxies,
        c.replicas,
        c.per_proxy_per_interval,
        r.single.per_proxy_per_interval,
        opt(versus_one, 2),
        verdict(versus_one.is_some_and(|x| (x - 1.0).abs() <= CHECKS_SLACK))
    );
    let _ = writeln!(
        md,
        "| every replica serves a result within about a second (p99 ≤ {PROPAGATION_TARGET_MS:.0} ms) | p50 {:.1} ms, p99 {:.1} ms | {} |",
        r.propagation.p50_ms,
        r.propagation.p99_ms,
        verdict(
            r.propagation.samples > 0
                && r.propagation.missed == 0
                && r.propagation.p99_ms <= PROPAGATION_TARGET_MS
        )
    );
    let _ = writeln!(
        md,
        "| database statements per second with {} replicas | {} | reported (projection in docs/replicas.md) |",
        c.replicas,
        opt(c.db.statements_per_s.or(Some(c.db.transactions_per_s)), 0)
    );
}

/// The section and its rows of the Targets table, for a run of `replicas` by
/// hand (`run` writes them into the whole page instead).
pub fn by_hand(report: &ReplicasReport) -> String {
    let mut md = String::new();
    section(&mut md, Some(report), None);
    md.push_str("| target | measured | |\n|---|---|---|\n");
    targets(&mut md, Some(report));
    md
}

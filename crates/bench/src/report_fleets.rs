//! The fleets' sections of bench/RESULTS.md: a bad day on both fleets, and HTTPS.

use crate::fleets::{BadDayRow, HttpsRow};
use crate::results::Results;
use crate::sweep::SweepReport;
use crate::table::{median, opt, verdict};
use std::fmt::Write as _;

/// How far past the timeout a bad-day sweep may end: a bad day is bounded by
/// one timeout (the hung proxies' checks all end there), plus the time to
/// start and finish the sweep around them.
pub const BAD_DAY_SLACK_S: f64 = 0.5;

fn walls(reports: &[SweepReport], f: impl Fn(&SweepReport) -> Option<f64>) -> Vec<f64> {
    reports.iter().filter_map(f).collect()
}

/// `median (min–max)` of `values`, seconds.
fn spread(values: &[f64]) -> String {
    let lo = values.iter().copied().reduce(f64::min);
    let hi = values.iter().copied().reduce(f64::max);
    match (median(values.to_vec()), lo, hi) {
        (Some(m), Some(lo), Some(hi)) => format!("{m:.2} s ({lo:.2}–{hi:.2})"),
        _ => "—".to_owned(),
    }
}

impl BadDayRow {
    /// Median wall seconds of the first sweeps.
    fn cold_wall(&self) -> Option<f64> {
        median(walls(&self.cold, |r| Some(r.wall_s)))
    }

    /// Median wall seconds of the next sweeps.
    fn warm_wall(&self) -> Option<f64> {
        median(walls(&self.warm, |r| Some(r.wall_s)))
    }
}

impl HttpsRow {
    fn rate(&self) -> Option<f64> {
        median(
            self.checker
                .iter()
                .map(|r| r.proxies as f64 / r.wall_s)
                .collect(),
        )
    }

    fn cpu_ms(&self) -> Option<f64> {
        median(
            self.checker
                .iter()
                .map(|r| r.cpu_s * 1000.0 / r.proxies.max(1) as f64)
                .collect(),
        )
    }

    fn client_rate(&self) -> Option<f64> {
        median(
            self.client
                .iter()
                .map(|r| r.requests as f64 / r.wall_s)
                .collect(),
        )
    }

    fn client_cpu_ms(&self) -> Option<f64> {
        median(
            self.client
                .iter()
                .map(|r| r.cpu_s * 1000.0 / r.requests.max(1) as f64)
                .collect(),
        )
    }
}

/// Sections 6 and 7.
pub fn sections(md: &mut String, results: &Results) {
    let bound = results.timeout_s + BAD_DAY_SLACK_S;
    let _ = writeln!(md, "## 6. A bad day on both fleets\n");
    if results.bad_days.is_empty() {
        let _ = writeln!(md, "Not run.\n");
    } else {
        let _ = writeln!(
            md,
            "`proxyhealth-bench fleet --mix bad-day`: 2% hang, 2% slow (2 s), 3% errors, 2% 500, \
             1% refused, the rest ok, in its own process beside the checker. The lean fleet is the \
             simulator (bare hyper, static answers); the costly one (`--stack costly`) serves \
             through a general-purpose stack with real work per request (see the notes), so its CPU \
             per request is close to a real server's. \"First sweep\": a fresh engine, nothing \
             known, checks started in list order. \"Next sweep\": the same engine's second sweep, \
             checks started longest-expected-first from the first (each a fresh checker process, \
             {} runs). Bound: timeout + {BAD_DAY_SLACK_S} s = {bound:.1} s.\n",
            results
                .bad_days
                .first()
                .map_or(0, |r| r.cold.len().max(r.warm.len()))
        );
        let _ = writeln!(
            md,
            "| fleet | proxies | fleet CPU per request | first sweep | next sweep | checker CPU s per 1,000 checks (next) | mismatches |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
        let lean_cpu = results
            .bad_days
            .iter()
            .find(|r| r.stack == "lean")
            .and_then(|r| r.fleet_cpu_per_request);
        for row in &results.bad_days {
            let ratio = row
                .fleet_cpu_per_request
                .zip(lean_cpu)
                .filter(|_| row.stack != "lean")
                .map(|(c, l)| format!(" ({:.1}× lean)", c / l))
                .unwrap_or_default();
            let cpu_k = median(
                row.warm
                    .iter()
                    .map(|r| r.cpu_s * 1000.0 / r.proxies.max(1) as f64)
                    .collect(),
            );
            let mismatches: usize = row.cold.iter().chain(&row.warm).map(|r| r.mismatches).sum();
            let _ = writeln!(
                md,
                "| {} | {} | {} µs{ratio} | {} | {} | {} | {mismatches} |",
                row.stack,
                row.n,
                opt(row.fleet_cpu_per_request.map(|c| c * 1e6), 1),
                spread(&walls(&row.cold, |r| Some(r.wall_s))),
                spread(&walls(&row.warm, |r| Some(r.wall_s))),
                opt(cpu_k, 3),
            );
        }
        md.push('\n');
    }

    let _ = writeln!(md, "## 7. HTTPS, a fresh handshake per check\n");
    if results.https.is_empty() {
        let _ = writeln!(md, "Not run.\n");
    } else {
        let _ = writeln!(
            md,
            "All-ok lean fleet over TLS (`fleet --tls`: a self-made ECDSA P-256 certificate, TLS \
             1.3, no session tickets). The checker (`tls_insecure`, the certificate is self-made) \
             against a bare TLS client loop (`client-loop` on rustls with the checker's provider: \
             a fresh TCP connection and a full handshake per request, no resumption, no \
             verification, `Connection: close`, the same {} in flight), alternated, medians. CPU \
             per check is the process's own; the fleet's handshakes are its own process's CPU.\n",
            results.parallelism
        );
        let _ = writeln!(
            md,
            "| proxies | checker checks/s | TLS loop checks/s | ratio | checker CPU ms/check | TLS loop CPU ms/check | CPU ratio | fleet CPU ms/request | mismatches |"
        );
        let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for row in &results.https {
            let ratio = row.rate().zip(row.client_rate()).map(|(a, b)| a / b);
            let cpu_ratio = row.cpu_ms().zip(row.client_cpu_ms()).map(|(a, b)| a / b);
            let mismatches: usize = row.checker.iter().map(|r| r.mismatches).sum();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {mismatches} |",
                row.n,
                opt(row.rate(), 0),
                opt(row.client_rate(), 0),
                opt(ratio, 2),
                opt(row.cpu_ms(), 3),
                opt(row.client_cpu_ms(), 3),
                opt(cpu_ratio, 2),
                opt(row.fleet_cpu_per_request.map(|c| c * 1e3), 3),
            );
        }
        md.push('\n');
    }
    for skipped in &results.fleets_skipped {
        let _ = writeln!(md, "- {skipped}");
    }
    if !results.fleets_skipped.is_empty() {
        md.push('\n');
    }
}

/// The fleets' lines of the targets table.
pub fn targets(md: &mut String, results: &Results) {
    let bound = results.timeout_s + BAD_DAY_SLACK_S;
    for row in &results.bad_days {
        let warm = row.warm_wall();
        let _ = writeln!(
            md,
            "| {} proxies, bad day, {} fleet: a sweep within timeout + {BAD_DAY_SLACK_S} s ({bound:.1} s), next sweep (first sweep: {} s) | {} s | {} |",
            row.n,
            row.stack,
            opt(row.cold_wall(), 2),
            opt(warm, 2),
            verdict(warm.map(|w| w <= bound))
        );
        // A first sweep knows nothing of the proxies: `proxyhealth check`, and a
        // service's sweep right after it starts, are bound by this one.
        let cold = row.cold_wall();
        let _ = writeln!(
            md,
            "| {} proxies, bad day, {} fleet: the first sweep (and `proxyhealth check`) within timeout + {BAD_DAY_SLACK_S} s ({bound:.1} s) | {} s | {} |",
            row.n,
            row.stack,
            opt(cold, 2),
            verdict(cold.map(|c| c <= bound))
        );
    }
    for row in &results.https {
        let ratio = row.rate().zip(row.client_rate()).map(|(a, b)| a / b);
        let cpu_ratio = row.cpu_ms().zip(row.client_cpu_ms()).map(|(a, b)| a / b);
        let _ = writeln!(
            md,
            "| {} proxies over HTTPS, a fresh handshake per check: checks/s and CPU per check against a bare TLS loop | {}× the rate, {}× the CPU | reported (no fixed bound) |",
            row.n,
            opt(ratio, 2),
            opt(cpu_ratio, 2)
        );
    }
}

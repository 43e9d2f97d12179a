//! Section 9 of the results page: the dashboard in a real Chromium against
//! 10,000 registered proxies, and the API at 10,000 and 100,000, against the
//! targets (first view under 1 s, search, filter and sort under 100 ms, no
//! main-thread task over 100 ms while updates arrive, updates that grow with
//! what changed).

use crate::api_rows::ApiReport;
use crate::dashboard_bench::DashboardReport;
use crate::table::verdict;
use std::fmt::Write as _;

/// The heading of the section.
pub const HEADING: &str = "## 10. Dashboard and API at fleet scale";

/// Writes the section.
pub fn section(
    md: &mut String,
    dashboard: Option<&DashboardReport>,
    api: &[ApiReport],
    skipped: Option<&str>,
) {
    let _ = writeln!(md, "{HEADING}\n");
    if let Some(why) = skipped {
        let _ = writeln!(md, "Not measured: {why}.\n");
        return;
    }
    if let Some(d) = dashboard {
        let _ = writeln!(
            md,
            "Headless Chromium (the dashboard signed in) against `serve` on SQLite with {} registered \
             proxies of a bad-day fleet, a sweep every {:.0} s. Times from the page's own clock \
             (`performance.now()`); search, filter and sort timed from the user's action to the \
             layout after it; long tasks from a `longtask` observer; update bytes from a stream of \
             the same view (`/api/v2/proxyhealth/events?view=proxies`).\n",
            d.proxies, d.interval_s
        );
        let _ = writeln!(md, "| Measure | Figure | Target | |\n|---|---|---|---|");
        let _ = writeln!(
            md,
            "| First view (first rows painted) | {:.0} ms | < 1,000 ms | {} |",
            d.first_view_ms,
            verdict(Some(d.first_view_ms < 1000.0))
        );
        let _ = writeln!(
            md,
            "| Whole fleet read into the page (a page of 1,000 at a time) | {:.0} ms | | |",
            d.model_ms
        );
        for (what, ms) in &d.interactions {
            let _ = writeln!(
                md,
                "| {what} | {ms:.1} ms | < 100 ms | {} |",
                verdict(Some(*ms < 100.0))
            );
        }
        let _ = writeln!(
            md,
            "| Longest main-thread task while {} updates arrived | {:.0} ms | < 100 ms | {} |",
            d.updates,
            d.longest_task_ms,
            verdict(Some(d.longest_task_ms < 100.0))
        );
        let sizes: Vec<String> = d.update_bytes.iter().map(|b| format!("{b}")).collect();
        let biggest = d.update_bytes.iter().copied().max().unwrap_or(0);
        let _ = writeln!(
            md,
            "| Bytes per update (each sweep) | {} (the whole list, read at each update before: {}) | grows with what changed | {} |",
            sizes.join(", "),
            d.whole_list_bytes,
            verdict(Some(biggest * 10 < d.whole_list_bytes))
        );
        let _ = writeln!(
            md,
            "| Service CPU per sweep: the page alone; with {} more streams | {:.0} ms; {:.0} ms | | |",
            d.extra_streams,
            d.cpu_base_s * 1000.0,
            d.cpu_with_streams_s * 1000.0
        );
        let _ = writeln!(
            md,
            "| Service CPU per connected dashboard per sweep | {:.2} ms | bounded (a sweep's change is worked out once, then copied to each stream) | |",
            d.cpu_per_dashboard_ms()
        );
        md.push('\n');
    }
    api_part(md, api);
}

/// How the API part of the section begins (`run --api-only` replaces the
/// section from there on).
pub const API_PART: &str = "The API on SQLite";

/// The requests whose answer the target bounds: a page, a filter, a sort
/// and a name search (not the whole list, whose size is the fleet's).
const TARGETED: &[&str] = &[
    "list, first page of 100",
    "list, a page far in, by latency",
    "list, status filter",
    "list, name search",
    "list, a page of 1000 (the dashboard's read)",
];

/// The API's target: a page, a filter, a sort and a search under 100 ms.
const API_TARGET_MS: f64 = 100.0;

/// The first words of the API's row in the Targets table.
pub const API_TARGET_ROW: &str = "| the API at ";

/// The API's row of the Targets table, for the largest fleet measured: the
/// slowest of the targeted requests against 100 ms; `None` without a run.
pub fn api_target(api: &[ApiReport]) -> Option<String> {
    let largest = api.iter().max_by_key(|a| a.proxies)?;
    let slowest = largest
        .requests
        .iter()
        .filter(|r| TARGETED.contains(&r.what.as_str()))
        .max_by(|a, b| a.ms.total_cmp(&b.ms))?;
    Some(format!(
        "{API_TARGET_ROW}{} proxies: a page, a status filter, a sort and a name search each under {API_TARGET_MS:.0} ms | slowest {:.1} ms ({}) | {} |",
        largest.proxies,
        slowest.ms,
        slowest.what,
        verdict(Some(slowest.ms < API_TARGET_MS))
    ))
}

/// The API part of the section: each request at each size.
pub fn api_part(md: &mut String, api: &[ApiReport]) {
    if !api.is_empty() {
        let _ = writeln!(
            md,
            "{API_PART} with refused proxies (no sweep loop; one sweep before): the median of \
             5 requests each, and the body's bytes.\n"
        );
        let _ = write!(md, "| Request |");
        for a in api {
            let _ = write!(md, " {} proxies |", a.proxies);
        }
        let _ = write!(md, "\n|---|");
        for _ in api {
            md.push_str("---|");
        }
        md.push('\n');
        if let Some(first) = api.first() {
            for (i, request) in first.requests.iter().enumerate() {
                let _ = write!(md, "| {} |", request.what);
                for a in api {
                    match a.requests.get(i) {
                        Some(r) => {
                            let _ = write!(md, " {:.1} ms, {} |", r.ms, bytes(r.bytes));
                        }
                        None => md.push_str(" — |"),
                    }
                }
                md.push('\n');
            }
        }
        let _ = write!(
            md,
            "| events `view=proxies`: first event; a sweep's change |"
        );
        for a in api {
            let _ = write!(
                md,
                " {:.1} ms; {} |",
                a.stream_first_ms,
                bytes(a.stream_delta_bytes)
            );
        }
        let _ = write!(md, "\n| filling the store (create and register each) |");
        for a in api {
            let _ = write!(md, " {:.0} s |", a.fill_s);
        }
        let _ = write!(md, "\n| load average (1 min) before; after |");
        for a in api {
            let _ = write!(md, " {:.2}; {:.2} |", a.loadavg.0, a.loadavg.1);
        }
        md.push_str("\n\n");
    }
}

fn bytes(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

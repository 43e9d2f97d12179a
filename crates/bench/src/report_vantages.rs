//! The vantages section of the results page and its targets.

use crate::table::{opt, verdict};
use crate::vantages::VantagesReport;
use std::fmt::Write as _;

/// The heading the section starts with (`run --vantages-only` replaces the
/// section under it in an existing file, see [`crate::splice`]).
pub const HEADING: &str = "## 12. Vantages";
/// The most the service's CPU per 1,000 results from agents may be, as a
/// share of its CPU per 1,000 checks of its own.
pub const CPU_RATIO_MAX: f64 = 0.25;
/// The most an agent's peak memory may be, MiB.
pub const AGENT_PEAK_MIB: f64 = 40.0;
/// The 99th percentile of the time from an agent's check to its result
/// being served must stay under this, ms.
pub const LAG_P99_MS: f64 = 1000.0;

/// Writes the section: the service's CPU in both phases, the agents, the
/// time from check to served, with the targets, or why it was not run.
pub fn section(md: &mut String, report: Option<&VantagesReport>, skipped: Option<&str>) {
    let _ = writeln!(md, "{HEADING}\n");
    if let Some(why) = skipped {
        let _ = writeln!(md, "Not measured: {why}.\n");
        return;
    }
    let Some(r) = report else {
        let _ = writeln!(md, "Not measured (see Runs).\n");
        return;
    };
    let _ = writeln!(
        md,
        "`proxyhealth-bench vantages`: {} healthy simulated proxies (their own process, on \
         loopback addresses) created and registered through the API of the real `proxyhealth \
         serve --interval {:.0}s` on SQLite; then two vantages made through the API and a real \
         `proxyhealth agent` for each with its token, bound to 127.0.0.2 and 127.0.0.3 \
         (`--source-address`): three vantages check every proxy every interval. The service's \
         CPU is read from `/proc/PID/stat` over two phases of {:.0} s (whole intervals): own \
         checks only (before the agents start), then with both agents running (after their \
         first round and one more interval); the CPU the agents' results cost is phase 2's \
         less its own checks at phase 1's CPU per check (a phase can hold one sweep more than \
         the other). Between them, after the agents' first round and one more interval, {} \
         proxies are polled (`GET /api/v2/workspaceproxies/{{id}}`) every {:.0} ms for {:.0} s, \
         apart from phase 2: each newer `checked_at` of an agent's \
         vantage is timed from that check (the agent's clock, the same machine's) to the first \
         answer that shows it, so the poll period adds up to {:.0} ms (an upper bound). Each of \
         an agent's results carries the start of its own check as `checked_at` and is sent \
         during the round, in a batch that leaves when 500 results wait or its oldest has \
         waited 200 ms; the service publishes the batches that arrive within 100 ms at once \
         (one snapshot, without waiting for history when only readings changed) and keeps \
         them in one transaction while it publishes the next, so this time is the check \
         itself, the wait for a batch and one trip through the service. The polling runs \
         before phase 2 because every check opens a connection and, where netfilter tracks \
         loopback connections, each holds an entry for two minutes after it closes: three \
         checkers of 10,000 proxies every 10 s outgrow a default table about a minute after \
         the agents start, and then the kernel drops SYNs and a check waits 1 s or 3 s for its \
         connection (the host's doing, not the agent's nor the service's; the SYNs resent \
         meanwhile are counted below). The phases' difference charges to the \
         agents' results everything that runs slower while three checkers share the fleet and \
         the cores (the service's own sweep included), so on a loaded machine it is an upper \
         bound. Service, agents, fleet and poller share the 2 cores; the load average (1 min) \
         was {:.2} at the start and {:.2} at the end. Reproduce: `scripts/bench \
         --vantages-only` (this section only) or `proxyhealth-bench vantages`.\n",
        r.proxies,
        r.interval_s,
        r.own.seconds,
        r.sample,
        r.poll_ms,
        r.latency_s,
        r.poll_ms,
        r.loadavg.0,
        r.loadavg.1
    );
    let _ = writeln!(
        md,
        "| phase | seconds | service CPU | own checks | results accepted | refused | service CPU per 1,000 |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        md,
        "| 1. own checks only | {:.1} | {:.2} s | {} | {} | {} | {} s per own check |",
        r.own.seconds,
        r.own.cpu_s,
        r.own.own_checks,
        r.own.accepted,
        r.own.refused,
        opt(r.own_cpu_per_k(), 4)
    );
    let _ = writeln!(
        md,
        "| 2. with both agents | {:.1} | {:.2} s | {} | {} | {} | {} s more per agent result |",
        r.with_agents.seconds,
        r.with_agents.cpu_s,
        r.with_agents.own_checks,
        r.with_agents.accepted,
        r.with_agents.refused,
        opt(r.agent_cpu_per_k(), 4)
    );
    md.push('\n');
    let _ = writeln!(
        md,
        "| agent | source | peak memory (VmHWM) | CPU over the run | results accepted |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|");
    for a in &r.agents {
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} MiB | {:.2} s | {} |",
            a.vantage,
            a.source,
            a.peak_kib as f64 / 1024.0,
            a.cpu_s,
            a.accepted
        );
    }
    md.push('\n');
    let _ = writeln!(
        md,
        "Check to served: {} newer agent readings seen; p50 {} ms, p99 {} ms, max {} ms; SYNs \
         the host resent meanwhile: {}{}.\n",
        r.observed,
        opt(r.p50_ms, 0),
        opt(r.p99_ms, 0),
        opt(r.max_ms, 0),
        r.syn_retrans,
        r.conntrack
            .map_or_else(String::new, |(start, end, max)| format!(
                " (connection tracking: {start} → {end} of {max} entries)"
            ))
    );
    let _ = writeln!(md, "| target | measured | |");
    let _ = writeln!(md, "|---|---|---|");
    targets(md, report);
    md.push('\n');
}

/// The vantages rows of a targets table (the section's own and the page's).
pub fn targets(md: &mut String, report: Option<&VantagesReport>) {
    let Some(r) = report else {
        return;
    };
    let _ = writeln!(
        md,
        "| vantages: service CPU per 1,000 agent results ≤ {CPU_RATIO_MAX} × per 1,000 own checks | {} s vs {} s: {}× | {} |",
        opt(r.agent_cpu_per_k(), 4),
        opt(r.own_cpu_per_k(), 4),
        opt(r.cpu_ratio(), 3),
        verdict(r.cpu_ratio().map(|ratio| ratio <= CPU_RATIO_MAX))
    );
    let peak = r.agent_peak_kib().map(|kib| kib as f64 / 1024.0);
    let _ = writeln!(
        md,
        "| vantages: each agent's peak memory ≤ {AGENT_PEAK_MIB:.0} MiB ({} proxies) | {} MiB (the larger) | {} |",
        r.proxies,
        opt(peak, 1),
        verdict(peak.map(|mib| mib <= AGENT_PEAK_MIB))
    );
    let _ = writeln!(
        md,
        "| vantages: agent's check to result served, p99 < {LAG_P99_MS:.0} ms | p99 {} ms ({} seen, poll {:.0} ms) | {} |",
        opt(r.p99_ms, 0),
        r.observed,
        r.poll_ms,
        verdict(r.p99_ms.map(|p99| p99 < LAG_P99_MS))
    );
}

//! `proxyhealth-bench vantages`: the service with two agents beside its own
//! checks. Prints one JSON line.
//!
//! `count` healthy simulated proxies (the fleet in its own process) are
//! created and registered through the API of the real `proxyhealth serve` on
//! SQLite, as the registration row does; then two vantages are made
//! (`POST /api/v2/proxyhealth/vantages`) and a real `proxyhealth agent` runs
//! for each with its token, its checks bound to its own loopback address
//! (127.0.0.2, 127.0.0.3), so three vantages check every proxy every interval.
//!
//! Measured, in three phases of the same whole number of intervals (phase
//! 3 runs before phase 2, see `measure`):
//! 1. own checks only (no agent yet): the service's CPU (`/proc/PID/stat`)
//!    and its checks (`proxyhealth_checks_total`);
//! 2. both agents running: the service's CPU again, its checks, and the
//!    results it accepted from the agents
//!    (`proxyhealth_agent_results_total{outcome="accepted"}`); the CPU above
//!    phase 1's is what the agents' results cost it;
//! 3. the time from an agent's check to its result being served: a sample of
//!    proxies polled (`GET /api/v2/workspaceproxies/{id}`) every `poll`, a
//!    newer `checked_at` of an agent's vantage counted at the answer that
//!    first shows it (served - checked). Polling makes it an upper bound by
//!    at most one poll period; it runs apart from phase 2 so its requests
//!    cost nothing there, and before it, while the host's connection
//!    tracking has room (the SYNs the host resent meanwhile are counted). An agent stamps each check with its own start and
//!    sends it during the round in a small batch, so this is the check, the
//!    wait for its batch and one trip through the service.
//!
//! Then each agent's peak memory (`VmHWM`) and CPU. Everything is stopped
//! whatever happened.

use crate::child::Service;
use crate::fleet::FleetReady;
use anyhow::{Context, bail};
use proxyhealth_api::ApiClient;
use proxyhealth_engine::proxy_metrics::LAST_SWEEP_METRIC;
use proxyhealth_load::serve::{ServeSpec, Server};
use proxyhealth_load::setup::Wanted;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::process::{Child, Command};
use uuid::Uuid;

/// The admin token of the server under test (loopback only, thrown away).
const ADMIN_TOKEN: &str = "proxyhealth-bench-vantages-admin-token";
/// The agents' vantages and the loopback address each one's checks come from.
const AGENTS: [(&str, &str); 2] = [("bench-a", "127.0.0.2"), ("bench-b", "127.0.0.3")];
/// Clock ticks per second of `/proc/PID/stat` (`USER_HZ`).
const USER_HZ: f64 = 100.0;

/// The options of `vantages`.
#[derive(Debug, Clone, clap::Args)]
pub struct VantagesArgs {
    /// Proxies in the fleet.
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
    /// The server's `--interval` (the time between sweeps, the agents' too).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// The length of each phase (a whole number of `--interval`s).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub phase: Duration,
    /// Proxies polled for the time from an agent's check to its result served.
    #[arg(long, default_value_t = 40)]
    pub sample: usize,
    /// How often each sampled proxy is polled.
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    pub poll: Duration,
    /// The `proxyhealth` binary (default: next to this one).
    #[arg(long)]
    pub proxyhealth: Option<PathBuf>,
    /// Where the fleet's targets, the database file and the logs go
    /// (default: a temp dir).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

/// The service's CPU and counters over one phase.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Phase {
    /// Seconds the phase lasted.
    pub seconds: f64,
    /// CPU seconds (user + system) the service used.
    pub cpu_s: f64,
    /// Checks the service made itself (`proxyhealth_checks_total`).
    pub own_checks: u64,
    /// Results it accepted from agents.
    pub accepted: u64,
    /// Results it refused from agents (any reason).
    pub refused: u64,
}

/// One agent's use of the machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentUsage {
    /// Its vantage.
    pub vantage: String,
    /// The address its checks came from.
    pub source: String,
    /// Peak resident memory (`VmHWM`), KiB.
    pub peak_kib: u64,
    /// CPU seconds it used from its start to the end of the run.
    pub cpu_s: f64,
    /// Results of its vantage the service accepted over the run.
    pub accepted: u64,
}

/// What `vantages` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VantagesReport {
    /// Proxies in the fleet.
    pub proxies: usize,
    /// The service's interval, seconds.
    pub interval_s: f64,
    /// Seconds to create and register every proxy and see them all `ok`.
    pub setup_s: f64,
    /// Phase 1: the service's own checks only.
    pub own: Phase,
    /// Phase 2: with both agents sending.
    pub with_agents: Phase,
    /// The agents.
    pub agents: Vec<AgentUsage>,
    /// Proxies polled in phase 3.
    pub sample: usize,
    /// Milliseconds between two polls of one proxy.
    pub poll_ms: f64,
    /// Seconds phase 3 lasted.
    pub latency_s: f64,
    /// Newer agent readings seen in phase 3.
    pub observed: usize,
    /// Check to served, median, ms.
    pub p50_ms: Option<f64>,
    /// Check to served, 99th percentile, ms.
    pub p99_ms: Option<f64>,
    /// Check to served, longest, ms.
    pub max_ms: Option<f64>,
    /// SYNs the host's TCP resent during phase 3 (every process's, from
    /// `/proc/net/netstat`): each is a check that waited 1 s or more for its
    /// connection, as when the connection-tracking table is full.
    #[serde(default)]
    pub syn_retrans: u64,
    /// The connection-tracking table in phase 3: entries at its start, at
    /// its end, and the table's size; `None` without connection tracking.
    #[serde(default)]
    pub conntrack: Option<(u64, u64, u64)>,
    /// The machine's load average (1 min) at the start and at the end.
    pub loadavg: (f64, f64),
    /// Seconds the stage took.
    pub total_s: f64,
}

impl VantagesReport {
    /// The service's CPU seconds per 1,000 checks of its own (phase 1).
    pub fn own_cpu_per_k(&self) -> Option<f64> {
        (self.own.own_checks > 0).then(|| self.own.cpu_s / self.own.own_checks as f64 * 1000.0)
    }

    /// The service's extra CPU seconds per 1,000 results accepted from
    /// agents: phase 2's CPU less what its own checks cost at phase 1's
    /// rate. A phase is a whole number of intervals, but a sweep that
    /// starts just inside it and one that ends just after it can make
    /// phase 2 hold one sweep more than phase 1; charging that sweep to
    /// the agents would overstate them by a whole sweep's cost.
    pub fn agent_cpu_per_k(&self) -> Option<f64> {
        let own_rate = if self.own.own_checks > 0 {
            self.own.cpu_s / self.own.own_checks as f64
        } else {
            0.0
        };
        (self.with_agents.accepted > 0).then(|| {
            let own_cost = own_rate * self.with_agents.own_checks as f64;
            (self.with_agents.cpu_s - own_cost).max(0.0) / self.with_agents.accepted as f64 * 1000.0
        })
    }

    /// [`Self::agent_cpu_per_k`] over [`Self::own_cpu_per_k`].
    pub fn cpu_ratio(&self) -> Option<f64> {
        match (self.agent_cpu_per_k(), self.own_cpu_per_k()) {
            (Some(agent), Some(own)) if own > 0.0 => Some(agent / own),
            _ => None,
        }
    }

    /// The most peak memory of one agent, KiB.
    pub fn agent_peak_kib(&self) -> Option<u64> {
        self.agents.iter().map(|a| a.peak_kib).max()
    }
}

/// Runs the stage and prints its report as one JSON line.
pub async fn run(args: VantagesArgs) -> anyhow::Result<()> {
    if args.interval.as_millis() == 0
        || !args
            .phase
            .as_millis()
            .is_multiple_of(args.interval.as_millis())
    {
        bail!(
            "--phase {:?} is not a whole number of --interval {:?}",
            args.phase,
            args.interval
        );
    }
    let _ = proxyhealth_sim::raise_fd_limit();
    let started = Instant::now();
    let load_start = loadavg();
    let binary = crate::child::proxyhealth_binary(args.proxyhealth.as_deref())?;
    let scratch = tempfile::Builder::new()
        .prefix("proxyhealth-bench-vantages")
        .tempdir()?;
    let work_dir = args
        .work_dir
        .clone()
        .unwrap_or_else(|| scratch.path().to_owned());
    std::fs::create_dir_all(&work_dir)?;
    let db = work_dir.join("vantages.db");
    let _ = std::fs::remove_file(&db);
    let spec = ServeSpec::sqlite(&db, args.interval, ADMIN_TOKEN, &work_dir.join("serve.log"));

    let targets = work_dir.join("targets-vantages.tsv");
    // three checkers (the service and two agents) connect at once
    let fleet_args = vec![
        "fleet".to_owned(),
        "--count".to_owned(),
        args.count.to_string(),
        "--targets".to_owned(),
        targets.display().to_string(),
        "--max-connections".to_owned(),
        (3 * proxyhealth_engine::options::DEFAULT_PARALLELISM + 100).to_string(),
    ];
    let (fleet, ready) = Service::start::<FleetReady>(&fleet_args, Duration::from_secs(120))
        .await
        .context("start the fleet")?;
    eprintln!("   fleet: {}", ready.summary);
    let result = match Server::start(&binary, &spec) {
        Ok(server) => {
            let measured = measure(&args, &binary, &server, &targets, &work_dir).await;
            drop(server);
            measured
                .with_context(|| format!("server log: {}", crate::replica_proc::tail(&spec.log)))
        }
        Err(err) => Err(anyhow::Error::new(err)),
    };
    let stopped = fleet.stop().await;
    let mut report = result?;
    stopped?;
    report.loadavg = (load_start, loadavg());
    report.total_s = started.elapsed().as_secs_f64();
    eprintln!(
        "   service CPU: {} s per 1,000 own checks, {} s per 1,000 agent results (ratio {}); \
         agents' peak {} KiB; check to served p50 {} ms, p99 {} ms ({} seen)",
        crate::table::opt(report.own_cpu_per_k(), 4),
        crate::table::opt(report.agent_cpu_per_k(), 4),
        crate::table::opt(report.cpu_ratio(), 3),
        report.agent_peak_kib().unwrap_or(0),
        crate::table::opt(report.p50_ms, 0),
        crate::table::opt(report.p99_ms, 0),
        report.observed
    );
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// A running `proxyhealth agent`; killed when dropped.
struct AgentProc {
    vantage: String,
    source: String,
    child: Child,
    log: PathBuf,
}

impl AgentProc {
    /// Starts `bin agent` for `vantage` with `token`, its checks from `source`.
    fn start(
        bin: &Path,
        server: &str,
        (vantage, source): (&str, &str),
        token: &str,
        work_dir: &Path,
    ) -> anyhow::Result<AgentProc> {
        let log = work_dir.join(format!("agent-{vantage}.log"));
        let file = std::fs::File::create(&log).context("create an agent's log")?;
        let child = Command::new(bin)
            .args(["agent", "--server", server, "--source-address", source])
            .env("PROXYHEALTH_AGENT_TOKEN", token)
            .env_remove("PROXYHEALTH_CONFIG")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {} agent", bin.display()))?;
        Ok(AgentProc {
            vantage: vantage.to_owned(),
            source: source.to_owned(),
            child,
            log,
        })
    }

    /// Fails when the agent has exited.
    fn alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "agent {} exited with {status}: {}",
                self.vantage,
                crate::replica_proc::tail(&self.log)
            );
        }
        Ok(())
    }

    fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the agent has exited")
    }
}

/// Sets the proxies up, runs the three phases and reads the agents.
async fn measure(
    args: &VantagesArgs,
    binary: &Path,
    server: &Server,
    targets: &Path,
    work_dir: &Path,
) -> anyhow::Result<VantagesReport> {
    let wanted: Vec<Wanted> = crate::targets::read_targets(targets)?
        .into_iter()
        .enumerate()
        .map(|(i, target)| Wanted {
            name: format!("van-{i:05}"),
            url: target.url,
        })
        .collect();
    let (admin, _proxies, members, setup_s) =
        crate::registration::set_up_fleet(server, ADMIN_TOKEN, &wanted).await?;
    eprintln!(
        "   {} proxies created, registered and ok in {setup_s:.1} s",
        members.len()
    );
    let scraper = proxyhealth_api::http::client();
    let pid = server.pid();
    // one interval for the setup's own work to settle
    tokio::time::sleep(args.interval).await;
    eprintln!("   phase 1: own checks only, {:?}", args.phase);
    let own = phase(&scraper, &server.url, pid, args.phase, args.interval).await?;

    let mut agents = Vec::new();
    for agent in AGENTS {
        let made = admin.create_vantage(agent.0).await?.value;
        agents.push(AgentProc::start(
            binary,
            &server.url,
            agent,
            &made.agent_token,
            work_dir,
        )?);
    }
    // the agents' first round in, and one interval more to settle
    let warm = Instant::now();
    loop {
        for agent in &mut agents {
            agent.alive()?;
        }
        let text = metrics(&scraper, &server.url).await?;
        let rounds = AGENTS
            .iter()
            .all(|(vantage, _)| accepted(&text, Some(vantage)) >= members.len() as u64);
        if rounds {
            break;
        }
        if warm.elapsed() > args.interval * 6 {
            bail!(
                "the agents' first results did not all arrive within {:?}",
                args.interval * 6
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(args.interval).await;
    // Measured first while the agents run: every check opens a connection,
    // and where netfilter tracks loopback connections each one holds an
    // entry for two minutes after it closes. Three checkers of 10,000
    // proxies every 10 s make more than a default table (262,144) holds
    // for two minutes, so it fills about a minute after the agents start;
    // then the kernel drops SYNs and a check waits 1 s or 3 s for its
    // connection: the host's doing, not the agent's nor the service's. The
    // SYNs resent on the host during the phase are counted, so a run the
    // table still spoiled says so.
    eprintln!(
        "   phase 3: {} proxies polled every {:?} for {:?}",
        args.sample, args.poll, args.phase
    );
    let step = (members.len() / args.sample.max(1)).max(1);
    let mut ids = Vec::new();
    for proxy in wanted.iter().step_by(step).take(args.sample) {
        ids.push(admin.proxy(&proxy.name).await?.value.region.id);
    }
    let conntrack_start = crate::conntrack::usage();
    let syn_before = syn_retransmits();
    let latency_started = Instant::now();
    let mut lags = poll_readings(&admin, &ids, args.poll, args.phase).await?;
    let latency_s = latency_started.elapsed().as_secs_f64();
    let syn_retrans = syn_retransmits().saturating_sub(syn_before);
    let conntrack = match (conntrack_start, crate::conntrack::usage()) {
        (Some((start, max)), Some((end, _))) => Some((start, end, max)),
        _ => None,
    };
    for agent in &mut agents {
        agent.alive()?;
    }
    eprintln!("   phase 2: with both agents, {:?}", args.phase);
    let with_agents = phase(&scraper, &server.url, pid, args.phase, args.interval).await?;
    for agent in &mut agents {
        agent.alive()?;
    }
    let text = metrics(&scraper, &server.url).await?;
    let mut usage = Vec::new();
    for agent in &agents {
        let pid = agent.pid()?;
        usage.push(AgentUsage {
            vantage: agent.vantage.clone(),
            source: agent.source.clone(),
            peak_kib: status_kib(pid, "VmHWM:")?,
            cpu_s: cpu_seconds(pid)?,
            accepted: accepted(&text, Some(&agent.vantage)),
        });
    }
    drop(agents);
    lags.sort_by(f64::total_cmp);
    let pick =
        |q: f64| (!lags.is_empty()).then(|| lags[((lags.len() - 1) as f64 * q).round() as usize]);
    Ok(VantagesReport {
        proxies: members.len(),
        interval_s: args.interval.as_secs_f64(),
        setup_s,
        own,
        with_agents,
        agents: usage,
        sample: ids.len(),
        poll_ms: args.poll.as_secs_f64() * 1000.0,
        latency_s,
        observed: lags.len(),
        p50_ms: pick(0.50),
        p99_ms: pick(0.99),
        max_ms: lags.last().copied(),
        syn_retrans,
        conntrack,
        loadavg: (0.0, 0.0),
        total_s: 0.0,
    })
}

/// How long after a sweep has finished its history is surely written: a
/// phase starts that long after a sweep's end, so it holds its sweeps'
/// whole cost and none of another's.
const AFTER_SWEEP: Duration = Duration::from_secs(2);

/// Waits until the service's next sweep has finished, then [`AFTER_SWEEP`].
/// A phase is a whole number of intervals, and one that starts at the same
/// point between two sweeps holds the whole cost of as many sweeps as
/// another: started anywhere, it could hold the end of a sweep (the
/// merge, its history written) that it did not count, or count checks
/// whose cost fell before it, enough to move an agent result's share by a
/// third at 10,000 proxies.
async fn after_next_sweep(
    scraper: &reqwest::Client,
    base: &str,
    interval: Duration,
) -> anyhow::Result<()> {
    // the gauge's one series, in whole seconds: sweeps end further apart
    let last = |text: &str| crate::registration::counter_sum(text, LAST_SWEEP_METRIC);
    let first = last(&metrics(scraper, base).await?);
    let waited = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if last(&metrics(scraper, base).await?) != first {
            break;
        }
        if waited.elapsed() > interval * 3 {
            bail!("no sweep finished within {:?}", interval * 3);
        }
    }
    tokio::time::sleep(AFTER_SWEEP).await;
    Ok(())
}

/// The service's CPU and counters over `length`, from just after a sweep.
async fn phase(
    scraper: &reqwest::Client,
    base: &str,
    pid: u32,
    length: Duration,
    interval: Duration,
) -> anyhow::Result<Phase> {
    after_next_sweep(scraper, base, interval).await?;
    eprintln!("     measuring from just after a sweep");
    let before = metrics(scraper, base).await?;
    let cpu_before = cpu_seconds(pid)?;
    let started = Instant::now();
    tokio::time::sleep(length).await;
    let cpu_after = cpu_seconds(pid)?;
    let seconds = started.elapsed().as_secs_f64();
    let after = metrics(scraper, base).await?;
    let count = |text: &str| {
        (
            crate::registration::counter_sum(text, "proxyhealth_checks_total"),
            accepted(text, None),
            agent_results(text, None) - accepted(text, None),
        )
    };
    let (own0, acc0, ref0) = count(&before);
    let (own1, acc1, ref1) = count(&after);
    Ok(Phase {
        seconds,
        cpu_s: cpu_after - cpu_before,
        own_checks: own1.saturating_sub(own0),
        accepted: acc1.saturating_sub(acc0),
        refused: ref1.saturating_sub(ref0),
    })
}

/// Polls each of `ids` every `poll` for `length`; gives, for every newer
/// `checked_at` of an agent's vantage, the milliseconds from it to the
/// answer that first showed it (the first answer per proxy and vantage only
/// sets where to start from).
async fn poll_readings(
    admin: &ApiClient,
    ids: &[Uuid],
    poll: Duration,
    length: Duration,
) -> anyhow::Result<Vec<f64>> {
    let until = tokio::time::Instant::now() + length;
    let tasks = ids.iter().map(|id| {
        let id = id.to_string();
        async move {
            let mut last: HashMap<String, OffsetDateTime> = HashMap::new();
            let mut lags = Vec::new();
            let mut tick = tokio::time::interval(poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while tokio::time::Instant::now() < until {
                tick.tick().await;
                let proxy = admin.proxy(&id).await?.value;
                let served = OffsetDateTime::now_utc();
                for reading in proxy.vantages {
                    if !AGENTS.iter().any(|(name, _)| *name == reading.vantage) {
                        continue;
                    }
                    match last.insert(reading.vantage.clone(), reading.checked_at) {
                        Some(before) if reading.checked_at > before => {
                            lags.push((served - reading.checked_at).as_seconds_f64() * 1000.0);
                        }
                        _ => {}
                    }
                }
            }
            anyhow::Ok(lags)
        }
    });
    let mut lags = Vec::new();
    for result in futures::future::join_all(tasks).await {
        lags.extend(result?);
    }
    Ok(lags)
}

/// The server's metrics page.
async fn metrics(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    crate::scrape::metrics_text(client, base, ADMIN_TOKEN).await
}

/// Results accepted from agents (of `vantage`, or of all).
fn accepted(text: &str, vantage: Option<&str>) -> u64 {
    agent_results_where(text, vantage, Some("accepted"))
}

/// Results sent by agents, whatever their outcome (of `vantage`, or of all).
fn agent_results(text: &str, vantage: Option<&str>) -> u64 {
    agent_results_where(text, vantage, None)
}

/// The sum of `proxyhealth_agent_results_total` over the series with the
/// given labels.
fn agent_results_where(text: &str, vantage: Option<&str>, outcome: Option<&str>) -> u64 {
    let wants = |series: &str, label: &str, value: Option<&str>| {
        value.is_none_or(|value| series.contains(&format!("{label}=\"{value}\"")))
    };
    text.lines()
        .filter(|line| line.starts_with("proxyhealth_agent_results_total{"))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            (wants(series, "vantage", vantage) && wants(series, "outcome", outcome))
                .then(|| value.trim().parse::<f64>().ok())?
        })
        .sum::<f64>() as u64
}

/// utime + stime of process `pid`, seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // the command name is in parentheses and may hold spaces
    let rest = stat
        .rfind(')')
        .map(|at| &stat[at + 1..])
        .context("/proc/PID/stat without a name")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i)
            .context("/proc/PID/stat too short")?
            .parse::<f64>()?)
    };
    Ok((tick(11)? + tick(12)?) / USER_HZ)
}

/// A `kB` field of `/proc/PID/status`.
fn status_kib(pid: u32, name: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .with_context(|| format!("no {name} in /proc/{pid}/status"))
}

/// SYN retransmissions of the host's TCP so far (`TCPSynRetrans` of
/// `/proc/net/netstat`; 0 when unreadable).
fn syn_retransmits() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/net/netstat") else {
        return 0;
    };
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        if !names.starts_with("TcpExt:") {
            continue;
        }
        let found = names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(name, _)| *name == "TCPSynRetrans");
        return found.and_then(|(_, value)| value.parse().ok()).unwrap_or(0);
    }
    0
}

/// The machine's load average over the last minute (0 when unreadable).
fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_results_are_summed_by_vantage_and_outcome() {
        let text = "# TYPE proxyhealth_agent_results_total counter\n\
                    proxyhealth_agent_results_total{outcome=\"accepted\",vantage=\"bench-a\"} 30000\n\
                    proxyhealth_agent_results_total{outcome=\"accepted\",vantage=\"bench-b\"} 29000\n\
                    proxyhealth_agent_results_total{outcome=\"older\",vantage=\"bench-b\"} 3\n";
        assert_eq!(accepted(text, None), 59_000);
        assert_eq!(accepted(text, Some("bench-b")), 29_000);
        assert_eq!(agent_results(text, None), 59_003);
        assert_eq!(accepted(text, Some("bench-c")), 0);
    }

    /// A report of 10,000 proxies whose first phase spent 3.0 s on 30,000
    /// own checks and whose second spent `cpu_s` on `own_checks` own checks
    /// and 60,000 agent results.
    fn two_phases(cpu_s: f64, own_checks: u64) -> VantagesReport {
        VantagesReport {
            proxies: 10_000,
            interval_s: 10.0,
            setup_s: 0.0,
            own: Phase {
                seconds: 30.0,
                cpu_s: 3.0,
                own_checks: 30_000,
                ..Phase::default()
            },
            with_agents: Phase {
                seconds: 30.0,
                cpu_s,
                own_checks,
                accepted: 60_000,
                refused: 0,
            },
            agents: Vec::new(),
            sample: 0,
            poll_ms: 100.0,
            latency_s: 0.0,
            observed: 0,
            p50_ms: None,
            p99_ms: None,
            max_ms: None,
            syn_retrans: 0,
            conntrack: None,
            loadavg: (0.0, 0.0),
            total_s: 0.0,
        }
    }

    #[test]
    fn the_extra_cpu_is_counted_per_thousand_results() {
        let report = two_phases(4.2, 30_000);
        assert!((report.own_cpu_per_k().unwrap_or(0.0) - 0.1).abs() < 1e-9);
        assert!((report.agent_cpu_per_k().unwrap_or(0.0) - 0.02).abs() < 1e-9);
        assert!((report.cpu_ratio().unwrap_or(0.0) - 0.2).abs() < 1e-9);
    }

    #[test]
    fn an_extra_own_sweep_in_phase_two_is_not_charged_to_the_agents() {
        // 40,000 own checks at 0.1 ms each are 4.0 s; the agents' 60,000 cost 1.2 s
        let report = two_phases(5.2, 40_000);
        assert!((report.agent_cpu_per_k().unwrap_or(0.0) - 0.02).abs() < 1e-9);
    }
}

//! `proxyhealth agent`: probes from another place for one vantage, with no
//! database and only outbound connections: it fetches its assignment (the
//! proxies and the service's probe settings), checks them on the service's
//! interval with the engine's streaming sweep (the pipeline `serve` and
//! `check` run), and sends each result back during the round, in small
//! batches stamped check by check, until SIGINT or SIGTERM, or until the
//! service refuses its token.
//!
//! - [`probing`]: the probe settings as the engine's options, the assigned
//!   proxies as rows, a check as the result the service takes;
//! - [`pending`]: the results not yet taken, the newest per proxy;
//! - [`calls`]: the thread the calls to the service run on;
//! - [`link`]: the calls to the service, outages and refusals;
//! - [`round`]: one round of checks, its results sent as they come.

mod calls;
mod link;
mod pending;
mod probing;
mod round;

use crate::cli::AgentArgs;
use crate::exit::usage;
use crate::shutdown::Signals;
use anyhow::Context as _;
use link::Link;
use pending::Pending;
use probing::{ProbePlan, proxy_row, rows_match};
use proxyhealth_api::wire::AgentAssignment;
use proxyhealth_api::{AgentIdentity, ApiClient};
use proxyhealth_core::{Proxy, Status, redact_url};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, sleep_until};
use uuid::Uuid;

/// How long one call to the service may take: short, so a service that
/// hangs delays the next sweep by little.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the agent until a signal (`Ok`) or until the service refuses it.
pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    let signals = Signals::install()?;
    crate::limits::raise_open_files();
    let id = Uuid::new_v4().to_string();
    let api = client(&args)?;
    tracing::info!(
        server = %redact_url(args.server.as_str()),
        agent = %id,
        source_address = %args
            .source_address
            .map_or_else(|| "the system's choice".to_owned(), |ip| ip.to_string()),
        version = env!("CARGO_PKG_VERSION"),
        "proxyhealth agent starting"
    );
    let identity = AgentIdentity {
        token: args.token,
        id,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let mut agent = Agent {
        link: Link::new(api, identity).context("start the thread of the calls to the service")?,
        pending: Pending::default(),
        plan: None,
        source: args.source_address,
        rows: None,
        seen: HashMap::new(),
    };
    let outcome = tokio::select! {
        outcome = agent.run() => outcome,
        name = signals.nth(1) => {
            tracing::info!(signal = name, "stopping");
            Ok(())
        }
    };
    if outcome.is_ok() {
        tracing::info!("stopped");
    }
    outcome
}

/// The client of the service: its URL, the private CA of `--server-ca-file`.
fn client(args: &AgentArgs) -> anyhow::Result<ApiClient> {
    if args.token.trim().is_empty() {
        return Err(usage(
            "--token: empty; give the vantage's agent token (`vantages create` prints it) with \
             --token or PROXYHEALTH_AGENT_TOKEN",
        ));
    }
    let mut builder = ApiClient::builder(args.server.as_str()).timeout(CALL_TIMEOUT);
    if let Some(path) = &args.server_ca_file {
        let pem = std::fs::read(path).map_err(|err| {
            usage(format!(
                "--server-ca-file {}: cannot read the file: {err}",
                path.display()
            ))
        })?;
        builder = builder.trust_ca_pem(pem);
    }
    builder.build().map_err(|err| match &args.server_ca_file {
        Some(path) => usage(format!("--server-ca-file {}: {err}", path.display())),
        None => usage(format!("--server {}: {err}", args.server)),
    })
}

/// The agent's state between sweeps.
struct Agent {
    link: Link,
    pending: Pending,
    /// How to probe, from the newest assignment.
    plan: Option<ProbePlan>,
    /// `--source-address`.
    source: Option<IpAddr>,
    /// The proxies of the newest assignment as the rows every sweep checks,
    /// made when the assignment changes (not per sweep), and the only copy
    /// the agent keeps of them; `None` before the first.
    rows: Option<Arc<[Proxy]>>,
    /// Each assigned proxy's status in the previous sweep, to log changes.
    seen: HashMap<Uuid, Status>,
}

impl Agent {
    /// Fetches the assignment, checks every proxy sending the results as
    /// they come, waits for the interval (trying again to send in an
    /// outage), and again; ends only when the service refuses the agent.
    async fn run(&mut self) -> anyhow::Result<()> {
        let first = self.first_assignment().await?;
        let mut interval = self.adopt(first)?;
        loop {
            let started = Instant::now();
            self.sweep().await?;
            self.wait_sending(started + interval).await?;
            // in an outage the last assignment's rows and settings stay
            if let Some(newer) = self.link.assignment(self.pending.len()).await? {
                interval = self.adopt(newer)?;
            }
        }
    }

    /// The first assignment, waiting through an outage.
    async fn first_assignment(&mut self) -> anyhow::Result<AgentAssignment> {
        loop {
            if let Some(assignment) = self.link.assignment(0).await? {
                return Ok(assignment);
            }
            let retry = self
                .link
                .retry_at()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            sleep_until(retry).await;
        }
    }

    /// Takes `assignment`'s probe settings and proxies (each only when it
    /// changed; the assignment itself is not kept); gives the time to the
    /// next sweep.
    fn adopt(&mut self, assignment: AgentAssignment) -> anyhow::Result<Duration> {
        let plan = match self.plan.take() {
            Some(plan) if plan.settings == assignment.probe => plan,
            previous => {
                let plan = ProbePlan::new(assignment.probe, self.source)?;
                tracing::info!(
                    vantage = %assignment.vantage,
                    interval = %humantime::format_duration(plan.interval()),
                    timeout = %humantime::format_duration(plan.options.timeout),
                    first = previous.is_none(),
                    "probe settings from the service"
                );
                plan
            }
        };
        let interval = plan.interval();
        self.plan = Some(plan);
        if self
            .rows
            .as_ref()
            .is_none_or(|rows| !rows_match(rows, &assignment.proxies))
        {
            tracing::info!(
                vantage = %assignment.vantage,
                proxies = assignment.proxies.len(),
                agents = assignment.agents,
                "assignment"
            );
            let assigned: HashSet<Uuid> = assignment.proxies.iter().map(|p| p.id).collect();
            self.seen.retain(|id, _| assigned.contains(id));
            self.pending.retain_assigned(&assigned);
            self.rows = Some(assignment.proxies.iter().map(proxy_row).collect());
        }
        Ok(interval)
    }

    /// Checks every assigned proxy once, sending the results as they come
    /// (what the service did not take yet stays in `pending`). Fails only
    /// when the service refuses the agent.
    async fn sweep(&mut self) -> anyhow::Result<()> {
        let Agent {
            link,
            pending,
            plan: Some(plan),
            rows: Some(rows),
            seen,
            ..
        } = self
        else {
            return Ok(());
        };
        let started = Instant::now();
        let mut counts = [0_usize; 3];
        round::run(Arc::clone(rows), &plan.options, link, pending, |name, result| {
            counts[match result.status {
                Status::Ok => 0,
                Status::Unhealthy => 1,
                _ => 2,
            }] += 1;
            match seen.insert(result.proxy_id, result.status) {
                // The first check of a proxy is no change (and a fleet's
                // first sweep would log a line per proxy).
                None => {}
                Some(previous) if previous == result.status => {}
                Some(previous) => tracing::info!(
                    proxy = name,
                    proxy_id = %result.proxy_id,
                    from = %previous,
                    to = %result.status,
                    error = result.report.errors.first().map(String::as_str).unwrap_or_default(),
                    "proxy status changed (as seen from this vantage)"
                ),
            }
        })
        .await?;
        tracing::debug!(
            ok = counts[0],
            unhealthy = counts[1],
            unreachable = counts[2],
            took = ?started.elapsed(),
            waiting = pending.len(),
            "sweep done"
        );
        Ok(())
    }

    /// Waits until `until`, trying again to send what waits while the
    /// service is away, each try after a longer pause.
    async fn wait_sending(&mut self, until: Instant) -> anyhow::Result<()> {
        while !self.pending.is_empty() {
            let Some(retry) = self.link.retry_at() else {
                break;
            };
            if retry >= until {
                break;
            }
            sleep_until(retry).await;
            self.link.flush(&mut self.pending).await?;
        }
        sleep_until(until).await;
        Ok(())
    }
}

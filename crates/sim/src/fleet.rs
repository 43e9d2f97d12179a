//! A fleet of simulated proxies on distinct loopback addresses sharing one port.

use crate::error::SimError;
use crate::fds::{ensure_fds, fds_needed};
use crate::kind::Kind;
use crate::proxy::SimProxy;
use crate::serve::bind;
use crate::spec::{FleetSpec, Planned, Shard};
use crate::stats::Stats;
use proxyhealth_core::Status;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How many ports [`Fleet::start`] tries before giving up when binds collide.
const PORT_ATTEMPTS: u32 = 16;

/// How long [`Fleet::shutdown`] waits for connections to close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// One member of a fleet as it was started: where it is and what a checker should find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetProxy {
    /// Its number in the whole fleet (all shards), which fixes its address.
    pub index: usize,
    /// The base URL to register, like `http://127.1.0.7:41234`.
    pub url: String,
    /// The address (listening, or free when refused).
    pub addr: SocketAddr,
    /// The kind it started as ([`Fleet::proxy`] gives the live kind).
    pub kind: Kind,
    /// The status a checker should give it on its first check.
    pub expected: Status,
}

/// The first line of a targets file: what its columns are.
pub const TARGETS_HEADER: &str = "# url\tname\tkind\texpected status (proxyhealth sim; \
     `proxyhealth check --targets FILE` reads the url and the name)\n";

impl FleetProxy {
    /// Its name in a targets file: its kind and its number in the whole fleet
    /// (`hang-17`), so unique across shards and telling what it simulates.
    pub fn name(&self) -> String {
        format!("{}-{}", self.kind.name(), self.index)
    }
}

/// Many simulated proxies in one process, one accept loop each, all on one port.
///
/// Dropping the fleet stops every proxy; [`Fleet::shutdown`] also waits until they are closed.
#[derive(Debug)]
pub struct Fleet {
    proxies: Vec<FleetProxy>,
    members: Vec<SimProxy>,
    port: u16,
    shard: Shard,
    total: usize,
    stats: Arc<Stats>,
    root: CancellationToken,
    fds_needed: u64,
    fd_limit: u64,
}

impl Fleet {
    /// Plans the fleet (or the spec's shard), checks the file-descriptor budget (raising the
    /// soft limit to the hard one if needed), binds every listening proxy on one common port
    /// and starts serving.
    ///
    /// Without a fixed port, the port is the one the system gives the first address; if a
    /// later address already has it in use, everything is released and another port tried
    /// (up to 16 times, then [`SimError::NoCommonPort`]).
    pub async fn start(spec: FleetSpec) -> Result<Fleet, SimError> {
        let plan = spec.plan()?;
        let listeners = plan.iter().filter(|p| p.kind.listens()).count();
        let needed = fds_needed(listeners, spec.connection_budget());
        let fd_limit = ensure_fds(needed)?;
        let (port, mut bound) = bind_all(&plan, spec.fixed_port()).await?;

        let root = CancellationToken::new();
        let stats = Arc::new(Stats::default());
        let mut proxies = Vec::with_capacity(plan.len());
        let mut members = Vec::with_capacity(plan.len());
        for (planned, listener) in plan.iter().zip(bound.drain(..)) {
            let addr = SocketAddr::from((planned.ip, port));
            let member = SimProxy::start(
                addr,
                listener,
                planned.kind,
                root.child_token(),
                Some(Arc::clone(&stats)),
                spec.serving_of().clone(),
            );
            proxies.push(FleetProxy {
                index: planned.index,
                url: member.url().to_owned(),
                addr,
                kind: planned.kind,
                expected: planned.kind.expected_status(),
            });
            members.push(member);
        }
        Ok(Fleet {
            proxies,
            members,
            port,
            shard: spec.shard_of(),
            total: spec.total(),
            stats,
            root,
            fds_needed: needed,
            fd_limit,
        })
    }

    /// The members of this process, in global order.
    pub fn proxies(&self) -> &[FleetProxy] {
        &self.proxies
    }

    /// The live handle of the `i`-th member of [`Fleet::proxies`] (to change its kind or
    /// read its counters).
    pub fn proxy(&self, i: usize) -> Option<&SimProxy> {
        self.members.get(i)
    }

    /// The members of this process.
    pub fn len(&self) -> usize {
        self.proxies.len()
    }

    /// Whether this process serves no proxy (a shard can be empty).
    pub fn is_empty(&self) -> bool {
        self.proxies.is_empty()
    }

    /// The port every member uses.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shard this process serves.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// The size of the whole fleet, all shards together.
    pub fn fleet_total(&self) -> usize {
        self.total
    }

    /// Members per kind name (`ok`, `hang`, …), kinds with none left out.
    pub fn totals(&self) -> BTreeMap<&'static str, usize> {
        let mut totals = BTreeMap::new();
        for proxy in &self.proxies {
            *totals.entry(proxy.kind.name()).or_insert(0) += 1;
        }
        totals
    }

    /// Members per expected status, in [`Status::ALL`] order (zeros included).
    pub fn expected_totals(&self) -> Vec<(Status, usize)> {
        Status::ALL
            .into_iter()
            .map(|status| {
                let n = self.proxies.iter().filter(|p| p.expected == status).count();
                (status, n)
            })
            .collect()
    }

    /// `/healthz-report` requests received by all members so far.
    pub fn requests(&self) -> u64 {
        self.stats.requests()
    }

    /// Requests in flight over the whole fleet now.
    pub fn in_flight(&self) -> u64 {
        self.stats.in_flight()
    }

    /// The highest fleet-wide in-flight count seen (a checker's parallelism bound).
    pub fn max_in_flight(&self) -> u64 {
        self.stats.max_in_flight()
    }

    /// Sets [`Fleet::max_in_flight`] back to the current in-flight count.
    pub fn reset_max_in_flight(&self) {
        self.stats.reset_max_in_flight();
    }

    /// The file descriptors budgeted when starting, and the limit in force.
    pub fn fd_budget(&self) -> (u64, u64) {
        (self.fds_needed, self.fd_limit)
    }

    /// The targets file, in the format `proxyhealth check --targets` reads: a
    /// `#` comment naming the columns, then one line per member,
    /// `<url>\t<name>\t<kind name>\t<expected status>`, where the name
    /// ([`FleetProxy::name`]) is unique in the whole fleet and `check` ignores
    /// the last two columns.
    pub fn targets_text(&self) -> String {
        let mut text = String::with_capacity(self.proxies.len() * 56 + TARGETS_HEADER.len());
        text.push_str(TARGETS_HEADER);
        for p in &self.proxies {
            let _ = writeln!(
                text,
                "{}\t{}\t{}\t{}",
                p.url,
                p.name(),
                p.kind.name(),
                p.expected
            );
        }
        text
    }

    /// Writes [`Fleet::targets_text`] to `path`.
    pub fn write_targets(&self, path: &Path) -> Result<(), SimError> {
        write(path, &self.targets_text())
    }

    /// Writes the members' URLs only, one a line (a plain `--targets` list).
    pub fn write_url_list(&self, path: &Path) -> Result<(), SimError> {
        let mut text = String::with_capacity(self.proxies.len() * 28);
        for p in &self.proxies {
            let _ = writeln!(text, "{}", p.url);
        }
        write(path, &text)
    }

    /// One line describing the fleet: members, shard, port, kinds and the descriptor budget.
    pub fn summary(&self) -> String {
        let kinds: Vec<String> = self
            .totals()
            .into_iter()
            .map(|(name, n)| format!("{name}={n}"))
            .collect();
        let listeners = self.proxies.iter().filter(|p| p.kind.listens()).count();
        format!(
            "{} proxies (shard {} of a fleet of {}) on port {}: {}; {} listener fds, budget {} of limit {}",
            self.proxies.len(),
            self.shard,
            self.total,
            self.port,
            kinds.join(" "),
            listeners,
            self.fds_needed,
            self.fd_limit,
        )
    }

    /// Stops every member and waits (a few seconds at most) until all are closed.
    pub async fn shutdown(self) {
        self.root.cancel();
        let closed = futures::future::join_all(self.members.iter().map(SimProxy::closed));
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, closed).await;
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.root.cancel();
    }
}

/// Binds every listening member of `plan` on one port; returns the port and, per member,
/// its listener (`None` for refused ones).
async fn bind_all(
    plan: &[Planned],
    fixed: Option<u16>,
) -> Result<(u16, Vec<Option<TcpListener>>), SimError> {
    let first_ip = plan
        .iter()
        .find(|p| p.kind.listens())
        .or(plan.first())
        .map_or(Ipv4Addr::new(127, 1, 0, 1), |p| p.ip);
    let mut last_conflict = SocketAddr::from((first_ip, fixed.unwrap_or(0)));
    for _ in 0..PORT_ATTEMPTS {
        let port = match fixed {
            Some(port) => port,
            None => pick_port(first_ip).await?,
        };
        match bind_on(plan, port).await {
            Ok(bound) => return Ok((port, bound)),
            Err((addr, source)) if source.kind() == io::ErrorKind::AddrInUse && fixed.is_none() => {
                tracing::debug!(%addr, "port taken on a fleet address; trying another port");
                last_conflict = addr;
            }
            Err((addr, source)) => return Err(SimError::Bind { addr, source }),
        }
    }
    Err(SimError::NoCommonPort {
        listeners: plan.iter().filter(|p| p.kind.listens()).count(),
        attempts: PORT_ATTEMPTS,
        last_conflict,
    })
}

/// A port the system considers free on `ip` (bound with port 0, then released).
async fn pick_port(ip: Ipv4Addr) -> Result<u16, SimError> {
    let addr = SocketAddr::from((ip, 0));
    let probe = bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })?;
    probe
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| SimError::Bind { addr, source })
}

/// Binds each listening member on `port`; on the first failure everything bound is released.
async fn bind_on(
    plan: &[Planned],
    port: u16,
) -> Result<Vec<Option<TcpListener>>, (SocketAddr, io::Error)> {
    let mut bound = Vec::with_capacity(plan.len());
    for planned in plan {
        if !planned.kind.listens() {
            bound.push(None);
            continue;
        }
        let addr = SocketAddr::from((planned.ip, port));
        bound.push(Some(bind(addr).await.map_err(|e| (addr, e))?));
    }
    Ok(bound)
}

/// Writes a whole file, naming it in the error.
fn write(path: &Path, text: &str) -> Result<(), SimError> {
    std::fs::write(path, text).map_err(|source| SimError::Write {
        path: path.to_owned(),
        source,
    })
}

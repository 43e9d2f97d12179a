//! `proxyhealth-bench fleet`: a simulated fleet in its own process, so that the
//! checker's CPU and memory are measured without it. Prints one `ready` JSON line,
//! answers `stats` on stdin with the requests received so far, `mark` (remember
//! every proxy's count now) and `spread` (requests per proxy since the mark), and
//! stops when its stdin closes (so it never outlives the run that started it).

use anyhow::Context;
use proxyhealth_sim::{Fleet, FleetSpec, Kind, Serving, SimTls, Stack};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// How long `slow` proxies of the bad-day mix wait before answering.
pub const SLOW: Duration = Duration::from_secs(2);

/// The fleet's mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MixArg {
    /// Every proxy healthy.
    Ok,
    /// A bad day, the mix the performance targets are stated for: 2% hang,
    /// 2% slow at 2 s, 3% errors, 2% 500, 1% refused, the rest ok.
    BadDay,
}

impl MixArg {
    /// The name in tables and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            MixArg::Ok => "ok",
            MixArg::BadDay => "bad-day",
        }
    }

    /// The fleet spec of `count` proxies in this mix.
    pub fn spec(self, count: usize) -> anyhow::Result<FleetSpec> {
        Ok(match self {
            MixArg::Ok => FleetSpec::uniform(Kind::Ok, count),
            MixArg::BadDay => FleetSpec::mix(
                count,
                &[
                    (Kind::Hang, 2.0),
                    (Kind::Slow(SLOW), 2.0),
                    (Kind::Errors, 3.0),
                    (Kind::ServerError, 2.0),
                    (Kind::Refused, 1.0),
                ],
                Kind::Ok,
            )?,
        })
    }
}

/// The fleet's server stack (`proxyhealth_sim::Stack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StackArg {
    /// Bare hyper and static answers: the least CPU per request.
    Lean,
    /// A general-purpose stack and real work per request, close to a real server's CPU.
    Costly,
}

impl StackArg {
    /// The name in tables and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            StackArg::Lean => "lean",
            StackArg::Costly => "costly",
        }
    }
}

/// The options of `fleet`.
#[derive(Debug, Clone, clap::Args)]
pub struct FleetArgs {
    /// Proxies in the fleet.
    #[arg(long)]
    pub count: usize,
    /// Which kinds, in which shares.
    #[arg(long, value_enum, default_value = "ok")]
    pub mix: MixArg,
    /// Where to write the targets file.
    #[arg(long)]
    pub targets: PathBuf,
    /// Connections at once to budget file descriptors for.
    #[arg(long, default_value_t = 1100)]
    pub max_connections: usize,
    /// The server stack every proxy serves with.
    #[arg(long, value_enum, default_value = "lean")]
    pub stack: StackArg,
    /// Extra SHA-256 rounds per request of the costly stack (its calibration).
    #[arg(long, default_value_t = proxyhealth_sim::DEFAULT_COSTLY_WORK)]
    pub work: u32,
    /// Serve HTTPS with a self-made certificate (a fresh handshake per connection).
    #[arg(long)]
    pub tls: bool,
}

/// The `ready` line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetReady {
    /// Proxies started (refused ones included).
    pub proxies: usize,
    /// Proxies with a listener (all but the refused ones).
    pub listening: usize,
    /// The fleet's summary line.
    pub summary: String,
}

/// The answer to `stats`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetStats {
    /// `/healthz-report` requests received so far.
    pub requests: u64,
    /// CPU seconds (user + system) the fleet process has used so far.
    #[serde(default)]
    pub cpu_s: f64,
}

/// The answer to `spread`: how the requests since the last `mark` (or the
/// start) fell on the proxies.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetSpread {
    /// Requests received by the whole fleet since the mark.
    pub requests: u64,
    /// The fewest requests one proxy received since the mark.
    pub min: u64,
    /// The most requests one proxy received since the mark.
    pub max: u64,
    /// Proxies that received no request since the mark.
    pub untouched: usize,
}

/// Every proxy's request count now, in fleet order.
fn counts(fleet: &Fleet) -> Vec<u64> {
    (0..fleet.len())
        .map(|i| fleet.proxy(i).map_or(0, |proxy| proxy.requests()))
        .collect()
}

/// The requests per proxy since `mark`.
fn spread(fleet: &Fleet, mark: &[u64]) -> FleetSpread {
    let now = counts(fleet);
    let deltas: Vec<u64> = now
        .iter()
        .enumerate()
        .map(|(i, n)| n.saturating_sub(mark.get(i).copied().unwrap_or(0)))
        .collect();
    FleetSpread {
        requests: deltas.iter().sum(),
        min: deltas.iter().copied().min().unwrap_or(0),
        max: deltas.iter().copied().max().unwrap_or(0),
        untouched: deltas.iter().filter(|d| **d == 0).count(),
    }
}

/// Starts the fleet and serves until stdin closes.
pub async fn run(args: FleetArgs) -> anyhow::Result<()> {
    let _ = proxyhealth_sim::raise_fd_limit();
    let serving = Serving {
        stack: match args.stack {
            StackArg::Lean => Stack::Lean,
            StackArg::Costly => Stack::Costly { work: args.work },
        },
        tls: if args.tls {
            Some(SimTls::self_signed()?)
        } else {
            None
        },
    };
    let spec = args
        .mix
        .spec(args.count)?
        .max_connections(args.max_connections)
        .serving(serving);
    let fleet = Fleet::start(spec).await.context("start the fleet")?;
    fleet.write_targets(&args.targets)?;
    let ready = FleetReady {
        proxies: fleet.len(),
        listening: fleet.proxies().iter().filter(|p| p.kind.listens()).count(),
        summary: fleet.summary(),
    };
    println!("{}", serde_json::to_string(&ready)?);
    let mut lines = crate::stdin::lines();
    let mut mark = vec![0; fleet.len()];
    while let Some(line) = lines.recv().await {
        match line.trim() {
            "stats" => {
                let stats = FleetStats {
                    requests: fleet.requests(),
                    cpu_s: crate::procstat::cpu_seconds(),
                };
                println!("{}", serde_json::to_string(&stats)?);
            }
            "mark" => {
                mark = counts(&fleet);
                let stats = FleetStats {
                    requests: mark.iter().sum(),
                    cpu_s: crate::procstat::cpu_seconds(),
                };
                println!("{}", serde_json::to_string(&stats)?);
            }
            "spread" => println!("{}", serde_json::to_string(&spread(&fleet, &mark))?),
            _ => {}
        }
    }
    fleet.shutdown().await;
    Ok(())
}

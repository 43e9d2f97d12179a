//! `proxyhealth-bench fleet`: a simulated fleet in its own process, so that the
//! checker's CPU and memory are measured without it. Prints one `ready` JSON line,
//! answers `stats` on stdin with the requests received so far, and stops when its
//! stdin closes (so it never outlives the run that started it).

use anyhow::Context;
use proxyhealth_sim::{Fleet, FleetSpec, Kind};
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
    /// Issue 6's bad day: 2% hang, 2% slow at 2 s, 3% errors, 2% 500, 1% refused, the rest ok.
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
}

/// Starts the fleet and serves until stdin closes.
pub async fn run(args: FleetArgs) -> anyhow::Result<()> {
    let _ = proxyhealth_sim::raise_fd_limit();
    let spec = args
        .mix
        .spec(args.count)?
        .max_connections(args.max_connections);
    let fleet = Fleet::start(spec).await.context("start the fleet")?;
    fleet.write_targets(&args.targets)?;
    let ready = FleetReady {
        proxies: fleet.len(),
        listening: fleet.proxies().iter().filter(|p| p.kind.listens()).count(),
        summary: fleet.summary(),
    };
    println!("{}", serde_json::to_string(&ready)?);
    let mut lines = crate::stdin::lines();
    while let Some(line) = lines.recv().await {
        if line.trim() == "stats" {
            let stats = FleetStats {
                requests: fleet.requests(),
            };
            println!("{}", serde_json::to_string(&stats)?);
        }
    }
    fleet.shutdown().await;
    Ok(())
}

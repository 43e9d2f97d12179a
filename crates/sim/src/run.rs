//! The `proxyhealth sim` entry point: start a fleet, write its targets, serve until Ctrl-C.

use crate::error::SimError;
use crate::fleet::Fleet;
use crate::kind::DEFAULT_SLOW;
use crate::spec::{Mix, Shard};
use std::path::PathBuf;
use std::time::Duration;

/// The options of `proxyhealth sim` (the binary parses them; this crate only uses them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimArgs {
    /// Proxies in the whole fleet (all shards together).
    pub count: usize,
    /// Which kinds, in which shares.
    pub mix: Mix,
    /// How long `slow` proxies wait before answering.
    pub slow: Duration,
    /// The part of the fleet this process serves.
    pub shard: Shard,
    /// Where to write the targets file (`<url>\t<name>\t<kind>\t<expected status>`
    /// per line after a `#` comment; see [`crate::Fleet::targets_text`]).
    pub targets: PathBuf,
    /// Where to also write the plain URL list, if anywhere.
    pub url_list: Option<PathBuf>,
    /// A fixed port for every proxy (needed when shards must agree on it); `None` picks one.
    pub port: Option<u16>,
    /// Connections at once to budget file descriptors for.
    pub max_connections: usize,
}

impl Default for SimArgs {
    /// 1,000 healthy proxies, slow ones taking 2 s, the whole fleet in this process,
    /// targets in `sim-targets.tsv`.
    fn default() -> Self {
        SimArgs {
            count: 1_000,
            mix: Mix::Ok,
            slow: DEFAULT_SLOW,
            shard: Shard::WHOLE,
            targets: PathBuf::from("sim-targets.tsv"),
            url_list: None,
            port: None,
            max_connections: crate::spec::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Starts the fleet `args` describes, writes its targets file (and URL list), prints one
/// summary line to stdout and serves until Ctrl-C, then stops every proxy.
pub async fn run_sim(args: SimArgs) -> Result<(), SimError> {
    let mut spec = args
        .mix
        .spec(args.count, args.slow)?
        .shard(args.shard.index, args.shard.count)
        .max_connections(args.max_connections);
    if let Some(port) = args.port {
        spec = spec.port(port);
    }
    let fleet = Fleet::start(spec).await?;
    fleet.write_targets(&args.targets)?;
    if let Some(path) = &args.url_list {
        fleet.write_url_list(path)?;
    }
    println!(
        "proxyhealth sim ({} mix): {}; targets in {}; Ctrl-C to stop",
        args.mix,
        fleet.summary(),
        args.targets.display()
    );
    let waited = tokio::signal::ctrl_c().await;
    fleet.shutdown().await;
    waited.map_err(SimError::Signal)
}

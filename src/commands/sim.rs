//! `proxyhealth sim`: a simulated fleet on loopback, served until Ctrl-C.

use crate::cli::{SimArgs, SimMix};
use crate::limits;
use proxyhealth_sim::{Mix, SimArgs as RunArgs, run_sim};

/// Starts the fleet and serves it until Ctrl-C.
pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    limits::raise_open_files();
    let defaults = RunArgs::default();
    let run_args = RunArgs {
        count: args.count,
        mix: match args.mix {
            SimMix::Ok => Mix::Ok,
            SimMix::BadDay => Mix::BadDay,
        },
        slow: args.slow_delay,
        shard: args.shard.unwrap_or(defaults.shard),
        targets: args.out.unwrap_or(defaults.targets),
        url_list: args.url_list,
        port: args.port,
        ..defaults
    };
    run_sim(run_args).await?;
    Ok(())
}

//! The `proxyhealth` command: the command line, the runtime and the
//! subcommands, as a library so that a build compiles it beside the crates
//! it uses (the server's code generation runs while this is checked) and the
//! binary (`src/main.rs`) is only its entry point and allocator: code in a
//! binary crate starts only once every library it links is complete.

mod agent;
mod allocator;
mod cli;
mod commands;
mod config;
mod demo;
mod exit;
mod limits;
mod logging;
mod output;
mod readiness;
mod shutdown;
mod targets;

use clap::Parser;
use std::process::ExitCode;
use std::time::Duration;

/// How long tasks still running after a command returns may take to stop.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(1);

/// The runtime's worker threads for `command`; `None` for one per core.
/// An agent's work is waiting on sockets at a rate one thread keeps up with
/// (10,000 proxies every 10 s take under a tenth of a core), and with one
/// thread each allocation is freed by the thread that made it, so the
/// allocator keeps one thread's pages instead of each thread's share of
/// every sweep: the agent's peak memory, its resource target, falls by
/// about a sixth (bench/RESULTS.md, section 12). Its calls to the service
/// run on a thread of their own (`agent::calls`), which allocates little.
fn worker_threads(command: &cli::Command) -> Option<usize> {
    match command {
        cli::Command::Agent(_) => Some(1),
        _ => None,
    }
}

/// Parses the command line, runs the subcommand on a multi-threaded runtime
/// and returns the process's exit code.
pub fn run() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.command {
        // `serve` picks its log format from its configuration.
        cli::Command::Serve(_) => {}
        // The demo's dashboard shows every status change; the terminal keeps its banner.
        cli::Command::Demo(_) => logging::init(config::LogFormat::Human, "error"),
        // `check` prints its results and nothing else unless asked (`-v`):
        // a library's log line (a TLS verifier's error, say) is no result.
        // Its peak memory is what operators see: freed memory goes back at
        // once (set here, before the runtime's threads start).
        cli::Command::Check(ref args) => {
            allocator::purge_freed_memory_at_once();
            logging::init(config::LogFormat::Human, logging::verbosity(args.verbose));
        }
        // A long-running process, like `serve`: its log is what it says.
        cli::Command::Agent(_) => logging::init(config::LogFormat::Human, "info"),
        // The others log only warnings, since their result is what they print.
        _ => logging::init(config::LogFormat::Human, "warn"),
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = worker_threads(&cli.command) {
        builder.worker_threads(threads);
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let outcome = runtime.block_on(commands::dispatch(cli.command));
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    match outcome {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(args: &[&str]) -> cli::Command {
        cli::Cli::try_parse_from(args)
            .expect("a command line")
            .command
    }

    #[test]
    fn the_agent_runs_on_one_worker_thread_and_serve_on_every_core() {
        let agent = command(&[
            "proxyhealth",
            "agent",
            "--server",
            "http://127.0.0.1:1",
            "--token",
            "t",
        ]);
        assert_eq!(worker_threads(&agent), Some(1));
        assert_eq!(worker_threads(&command(&["proxyhealth", "serve"])), None);
    }
}

//! One module per subcommand; each takes its parsed flags and does the work.

pub mod agent;
pub mod check;
pub mod demo;
pub mod healthcheck;
pub mod notify;
pub mod proxies;
pub mod replicas;
pub mod serve;
pub mod sim;
pub mod store;
pub mod tokens;
pub mod vantages;

use crate::cli::Command;
use std::process::ExitCode;

/// Runs a subcommand and returns its exit code (errors are turned into codes by the caller).
pub async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Proxies(command) => proxies::run(command).await.map(|()| ExitCode::SUCCESS),
        Command::Replicas(args) => replicas::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Check(args) => check::run(args).await,
        Command::Notify(command) => notify::run(command).await,
        Command::Vantages(command) => vantages::run(command).await.map(|()| ExitCode::SUCCESS),
        Command::Tokens(command) => tokens::run(command).await.map(|()| ExitCode::SUCCESS),
        Command::Audit(args) => tokens::audit(args).await.map(|()| ExitCode::SUCCESS),
        Command::Agent(args) => agent::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Sim(args) => sim::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Healthcheck(args) => healthcheck::run(args).await,
        Command::Demo(args) => demo::run(args).await.map(|()| ExitCode::SUCCESS),
    }
}

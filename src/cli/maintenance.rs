//! `maintenance`' subcommands and their flags.

use clap::{ArgGroup, Args, Subcommand};

use super::ServerConnection;

/// `proxyhealth maintenance …`: windows when proxies are down on purpose
/// (probes go on; no notification, no lost uptime, no alert).
#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// List every maintenance window, with where it is now.
    List(MaintenanceListArgs),
    /// Create a maintenance window for one proxy or every proxy.
    Create(MaintenanceCreateArgs),
    /// End a window now: an occurrence under way ends, a window not started
    /// yet is cancelled, no later occurrence happens.
    End(MaintenanceEndArgs),
}

/// `maintenance list`.
#[derive(Debug, Args)]
pub struct MaintenanceListArgs {
    /// The server.
    #[command(flatten)]
    pub conn: ServerConnection,
}

/// `maintenance create`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("scope").required(true).args(["proxy", "all"])))]
pub struct MaintenanceCreateArgs {
    /// The proxy the window covers (its name or id)
    #[arg(long, value_name = "NAME")]
    pub proxy: Option<String>,
    /// Cover every proxy
    #[arg(long)]
    pub all: bool,
    /// When it starts: an RFC 3339 time (2026-12-01T02:00:00Z)
    #[arg(long, value_name = "TIME")]
    pub start: String,
    /// When it ends: an RFC 3339 time after --start
    #[arg(long, value_name = "TIME")]
    pub end: String,
    /// Repeat [start, end) every 7 days, counted in UTC (at most 7 days long)
    #[arg(long)]
    pub weekly: bool,
    /// Why (1 to 500 characters), shown on the proxy while in the window
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// The server.
    #[command(flatten)]
    pub conn: ServerConnection,
}

/// `maintenance end ID`.
#[derive(Debug, Args)]
pub struct MaintenanceEndArgs {
    /// The window's id (`maintenance list` shows it)
    #[arg(value_name = "ID")]
    pub id: String,
    /// The server.
    #[command(flatten)]
    pub conn: ServerConnection,
}

//! The command line: subcommands and their flags (parsing only; the work is in
//! [`crate::commands`]).

use crate::config::{
    CheckLayer, ConfigFlag, NotifyLayer, OidcLayer, ProbeLayer, ServerLayer, StoreLayer,
};
use crate::output::OutputFormat;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

mod agent;
mod maintenance;
mod tokens;
mod vantages;
pub use agent::AgentArgs;
pub use maintenance::{
    MaintenanceCommand, MaintenanceCreateArgs, MaintenanceEndArgs, MaintenanceListArgs,
};
pub use tokens::{AuditArgs, TokenCreateArgs, TokenNameArgs, TokensCommand, TokensListArgs};
pub use vantages::{VantageNameArgs, VantagesCommand, VantagesListArgs};

/// Health checker for a fleet of regional reverse proxies (Coder workspace proxies).
#[derive(Debug, Parser)]
#[command(name = "proxyhealth", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
// parsed once at start: the size of the largest (`serve`'s flags) costs nothing
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the health checker: the sweep loop, the HTTP API and the dashboard.
    Serve(ServeArgs),
    /// Manage proxies on a running server.
    #[command(subcommand, visible_alias = "proxy")]
    Proxies(ProxiesCommand),
    /// Show the replicas of a running server: liveness, heartbeat age, version,
    /// address, view generation and lag; proxies the replicas disagree about;
    /// stale proxies.
    Replicas(ConnectionOnly),
    /// Check every proxy once, without a server, and print the results.
    ///
    /// Exits 0 when every proxy is ok, 1 when any is not, 2 on a usage or
    /// configuration error, and 2 when there is nothing to check (an empty
    /// targets file or store) unless --allow-empty is given.
    Check(CheckArgs),
    /// Notifications on status changes.
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Manage vantages (places probes come from) and their agent tokens on a
    /// running server.
    #[command(subcommand, visible_alias = "vantage")]
    Vantages(VantagesCommand),
    /// Manage maintenance windows on a running server: proxies down on
    /// purpose, probed and shown but neither notified nor alerted, their
    /// checks counting for no uptime.
    #[command(subcommand)]
    Maintenance(MaintenanceCommand),
    /// Manage the personal tokens people act with, each with a role (viewer,
    /// operator, admin), on a running server.
    #[command(subcommand, visible_alias = "token")]
    Tokens(TokensCommand),
    /// Show the audit log of a running server: what people did through the
    /// API, newest first (admin).
    Audit(AuditArgs),
    /// Probe the proxies from another place, for one vantage: fetch the
    /// assignment from the service, check its proxies on the service's
    /// interval, send the results back; no database, only outbound
    /// connections.
    ///
    /// While the service cannot be reached it keeps probing and keeps the
    /// newest result per proxy, sent when the service answers again. Exits 1
    /// when the service refuses the token (its vantage deleted, the token
    /// rotated), saying why; SIGINT or SIGTERM stop it (exit 0).
    Agent(AgentArgs),
    /// Ask a running server whether it is healthy (`GET /healthz`), for a
    /// container's HEALTHCHECK or a probe: prints `ok` and exits 0, or prints
    /// what is wrong and exits 1.
    ///
    /// Finds the server where `serve` would listen with the same
    /// configuration (--config, --listen, PROXYHEALTH_LISTEN; every interface
    /// is reached on loopback) unless --url says where, and sends the admin
    /// token when one is configured (needed with --public-reads=false).
    Healthcheck(HealthcheckArgs),
    /// Run a simulated fleet of proxies on loopback (for tests and benchmarks).
    Sim(SimArgs),
    /// Run a self-contained demonstration (server plus simulated fleet).
    Demo(crate::demo::DemoArgs),
}

/// `serve`'s flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The configuration file.
    #[command(flatten)]
    pub config: ConfigFlag,
    /// Where proxies are stored.
    #[command(flatten)]
    pub store: StoreLayer,
    /// How proxies are checked.
    #[command(flatten)]
    pub probe: ProbeLayer,
    /// The server's own settings.
    #[command(flatten)]
    pub server: ServerLayer,
    /// Notifications on status changes.
    #[command(flatten)]
    pub notify: NotifyLayer,
    /// Dashboard sign-in with OpenID Connect.
    #[command(flatten)]
    pub oidc: OidcLayer,
}

/// `healthcheck`'s flags: where the server is, or the settings `serve` reads
/// to find it.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The server's base URL [default: http://ADDR, from the address `serve`
    /// listens on]
    #[arg(long, value_name = "URL")]
    pub url: Option<url::Url>,
    /// The configuration file.
    #[command(flatten)]
    pub config: ConfigFlag,
    /// The server's own settings (its listen address and admin token).
    #[command(flatten)]
    pub server: ServerLayer,
}

/// `notify` subcommands.
#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test notification to every configured target and print, per
    /// target, what came back.
    ///
    /// Exits 0 when every target answered with a 2xx, 1 when any did not, 2
    /// on a usage or configuration error (no target configured, say).
    Test(NotifyTestArgs),
}

/// `notify test`'s flags: the configuration file and the notification
/// settings, as `serve` reads them.
#[derive(Debug, Args)]
pub struct NotifyTestArgs {
    /// The configuration file.
    #[command(flatten)]
    pub config: ConfigFlag,
    /// Notifications on status changes.
    #[command(flatten)]
    pub notify: NotifyLayer,
}

/// `check`'s flags.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Check the URLs in this file instead of the store: one URL per line, an
    /// optional name after a tab (more tab-separated columns are ignored),
    /// blank lines and `#` comments ignored; `-` reads stdin
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Show log lines on stderr (of proxyhealth and its libraries); stdout
    /// keeps the results alone: -v warnings and errors (each proxy that is not
    /// ok, with why), -vv also info (every proxy checked and the sweep's
    /// summary), -vvv debug, -vvvv trace. Without it `check` prints its
    /// results and nothing else (`RUST_LOG` still applies when set)
    #[arg(long, short, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The configuration file.
    #[command(flatten)]
    pub config: ConfigFlag,
    /// Where proxies are stored.
    #[command(flatten)]
    pub store: StoreLayer,
    /// How proxies are checked.
    #[command(flatten)]
    pub probe: ProbeLayer,
    /// `check`'s own settings.
    #[command(flatten)]
    pub check: CheckLayer,
}

/// How to reach a running server; shared by the `proxies` subcommands and `replicas`.
#[derive(Debug, Clone, Args)]
pub struct ServerConnection {
    /// The server's base URL
    #[arg(
        long,
        env = "PROXYHEALTH_URL",
        value_name = "URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: url::Url,
    /// The server's admin token, or a personal token (the variable is
    /// better: a flag shows in the process list)
    #[arg(
        long,
        env = "PROXYHEALTH_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Output format
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// `proxies` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProxiesCommand {
    /// Create a proxy and print its token (shown only this once).
    Create(CreateArgs),
    /// List every proxy with its status, errors and warnings; or, with any
    /// of --status, --name, --sort, --offset, --limit, one page of the
    /// proxies that match
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Show one proxy.
    Show(TargetArgs),
    /// Change a proxy's name, display name or icon.
    Edit(EditArgs),
    /// Delete a proxy.
    #[command(visible_alias = "rm")]
    Delete(DeleteArgs),
    /// Mint a new token for a proxy; the old one stops working.
    RegenerateToken(RegenerateArgs),
    /// Show a proxy's history: uptime over a window, a compact timeline of
    /// its hours, and its incidents with their first error.
    History(HistoryArgs),
}

/// `proxies history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The proxy's name or id
    #[arg(value_name = "NAME|ID")]
    pub proxy: String,
    /// The window: 24h, 7d, 30d or 90d
    #[arg(long, value_name = "WINDOW", default_value_t = proxyhealth_api::wire::HistoryWindow::Day)]
    pub window: proxyhealth_api::wire::HistoryWindow,
    /// The server.
    #[command(flatten)]
    pub conn: ServerConnection,
}

/// Only the connection flags.
#[derive(Debug, Args)]
pub struct ConnectionOnly {
    /// The server.
    #[command(flatten)]
    pub conn: ServerConnection,
}

/// `proxies list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The server.
    #[command(flatten)]
    pub conn: ServerConnection,
    /// Only proxies in these statuses (ok, unhealthy, unreachable,
    /// unregistered, unknown), separated by commas
    #[arg(long, value_name = "STATUS,...", value_delimiter = ',')]
    pub status: Vec<proxyhealth_core::Status>,
    /// Only proxies whose name or display name holds this text, in any case
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,
    /// Sort by name, status, latency or changed (when the status last
    /// changed); a leading - sorts descending (-latency: slowest first)
    #[arg(long, value_name = "KEY", allow_hyphen_values = true)]
    pub sort: Option<String>,
    /// Skip this many matching proxies
    #[arg(long, value_name = "N")]
    pub offset: Option<usize>,
    /// At most this many proxies, 1 to 1000
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub limit: Option<u16>,
}

impl ListArgs {
    /// The page asked for; `None` for the whole list (no filter, sort or page).
    pub fn query(&self) -> Option<proxyhealth_api::ProxyListQuery> {
        let paged = !self.status.is_empty()
            || self.name.is_some()
            || self.sort.is_some()
            || self.offset.is_some()
            || self.limit.is_some();
        paged.then(|| proxyhealth_api::ProxyListQuery {
            statuses: self.status.clone(),
            name: self.name.clone(),
            sort: self.sort.clone(),
            offset: self.offset.unwrap_or(0),
            limit: self.limit.map_or(100, usize::from),
        })
    }
}

/// A proxy name for `--name`, refused here by the rule the server applies
/// ([`proxyhealth_core::validate::validate_name`]) before anything is sent.
fn proxy_name(value: &str) -> Result<String, String> {
    proxyhealth_core::validate::validate_name(value)
        .map(|()| value.to_owned())
        .map_err(|err| err.detail)
}

/// `proxies create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Unique name: letters, digits and single hyphens between them
    /// (eu-west-1), at most 32 characters; not primary, me, refresh or a UUID.
    /// Unique and looked up regardless of case
    #[arg(long, value_parser = proxy_name)]
    pub name: String,
    /// Human-readable name [default: the name]
    #[arg(long)]
    pub display_name: Option<String>,
    /// Icon: a URL or an /emojis/... path [default: none]
    #[arg(long)]
    pub icon: Option<String>,
    /// Print only the proxy token (with -o json: {"proxy_token": "…"})
    #[arg(long)]
    pub only_token: bool,
    /// The server.
    #[command(flatten)]
    pub conn: ServerConnection,
}

/// A subcommand acting on one proxy.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The proxy's name or id
    #[arg(value_name = "NAME|ID")]
    pub proxy: String,
    /// The server.
    #[command(flatten)]
    pub conn: ServerConnection,
}

/// `proxies regenerate-token`.
#[derive(Debug, Args)]
pub struct RegenerateArgs {
    /// The proxy's name or id
    #[arg(value_name = "NAME|ID")]
    pub proxy: String,
    /// Print only the new proxy token (with -o json: {"proxy_token": "…"})
    #[arg(long)]
    pub only_token: bool,
    /// The server.
    #[command(flatten)]
    pub conn: ServerConnection,
}

/// `proxies edit`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("change").required(true).multiple(true).args(["name", "display_name", "icon"]))]
pub struct EditArgs {
    /// The proxy's name or id
    #[arg(value_name = "NAME|ID")]
    pub proxy: String,
    /// New name, by the rule of `proxies create --name`
    #[arg(long, value_parser = proxy_name)]
    pub name: Option<String>,
    /// New display name
    #[arg(long)]
    pub display_name: Option<String>,
    /// New icon
    #[arg(long)]
    pub icon: Option<String>,
    /// The server.
    #[command(flatten)]
    pub conn: ServerConnection,
}

/// `proxies delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The proxy's name or id
    #[arg(value_name = "NAME|ID")]
    pub proxy: String,
    /// Delete without asking (required when stdin is not a terminal)
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
    /// The server.
    #[command(flatten)]
    pub conn: ServerConnection,
}

/// The mix of kinds a simulated fleet is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SimMix {
    /// Every proxy healthy.
    Ok,
    /// A realistic bad day: mostly healthy, some errors, hangs, refusals.
    BadDay,
}

/// `sim`'s flags.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Number of simulated proxies
    #[arg(long, default_value_t = 100)]
    pub count: usize,
    /// Which kinds of proxies the fleet is made of: ok (all healthy) or bad-day
    /// (mostly healthy; some hang, are slow, fail or refuse)
    #[arg(long, value_enum, default_value_t = SimMix::Ok)]
    pub mix: SimMix,
    /// Delay of the `slow` proxies
    #[arg(long, value_name = "DURATION", value_parser = crate::config::units::parse_duration, default_value = "2s")]
    pub slow_delay: Duration,
    /// Serve only shard I of N of the fleet (0-based, e.g. 0/4), to spread a large
    /// fleet over processes (give every shard the same --port) [default: 0/1]
    #[arg(long, value_name = "I/N")]
    pub shard: Option<proxyhealth_sim::Shard>,
    /// Where to write the targets file: URL, name (kind-number, unique), kind
    /// and expected status per line, tab separated, after a `#` comment;
    /// `check --targets` reads it, with those names [default: sim-targets.tsv]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also write a plain list of URLs, one a line [default: none]
    #[arg(long, value_name = "FILE")]
    pub url_list: Option<PathBuf>,
    /// One port for every proxy (each on its own 127.x address) [default: a free port]
    #[arg(long)]
    pub port: Option<u16>,
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use crate::config::units::{format_duration, parse_duration};
    use clap::CommandFactory;

    /// The default a flag's help shows: clap's own `default_value`, or the
    /// `[default: …]` the configuration groups append (up to a comma, after
    /// which some explain it: `0s, notify at once`).
    fn shown_default(arg: &clap::Arg) -> Option<String> {
        if let Some(value) = arg.get_default_values().first() {
            return Some(value.to_string_lossy().into_owned());
        }
        let help = arg.get_help()?.to_string();
        let (_, rest) = help.rsplit_once("[default: ")?;
        let value = rest.trim_end_matches(']');
        Some(value.split(',').next().unwrap_or(value).to_owned())
    }

    /// Every argument of every (sub)command, named `command --flag`.
    fn every_arg(command: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
        for arg in command.get_arguments() {
            out.push((format!("{path} --{}", arg.get_id()), arg.clone()));
        }
        for sub in command.get_subcommands() {
            every_arg(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_duration_default_in_the_help_is_written_as_its_flag_reads_it() {
        let mut args = Vec::new();
        every_arg(&Cli::command(), "proxyhealth", &mut args);
        let durations: Vec<_> = args
            .iter()
            .filter(|(_, arg)| {
                arg.get_value_names()
                    .is_some_and(|names| names.iter().any(|n| n.as_str() == "DURATION"))
            })
            .collect();
        assert!(durations.len() >= 11, "{} duration flags", durations.len());
        for (name, arg) in durations {
            let default = shown_default(arg).unwrap_or_else(|| panic!("{name}: no default"));
            if default == "off" {
                continue; // no duration at all: the setting is off unless given
            }
            let parsed = parse_duration(&default)
                .unwrap_or_else(|err| panic!("{name}: [default: {default}] does not parse: {err}"));
            assert_eq!(
                format_duration(parsed),
                default,
                "{name}: the default is written in the largest exact unit"
            );
        }
    }
}

//! `tokens`' and `audit`'s subcommands and their flags.

use clap::{Args, Subcommand};
use proxyhealth_core::access::Role;
use std::time::Duration;

use super::ServerConnection;
use crate::config::layer::HelpDefault;
use crate::config::units::parse_positive_duration;

/// `proxyhealth tokens …`: the personal tokens people act with, each with a
/// role (viewer, operator, admin).
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a personal token and print it (shown only this once).
    Create(TokenCreateArgs),
    /// List every personal token: name, role, created, expires, last used,
    /// revoked (never a token's value).
    List(TokensListArgs),
    /// Revoke a personal token: it is refused from the next request on.
    Revoke(TokenNameArgs),
}

/// `tokens create`.
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// The token's name: letters, digits and single hyphens between them
    /// (ci-bot), at most 32 characters; unique regardless of case
    #[arg(long, value_name = "NAME", value_parser = super::proxy_name)]
    pub name: String,
    /// What the token may do: viewer (read what the dashboard shows),
    /// operator (also check now, maintenance windows) or admin (also
    /// proxies, vantages, tokens, the audit log)
    #[arg(long, value_name = "ROLE")]
    pub role: Role,
    /// How long until the token stops working (90d, 12h); without it the
    /// token never expires
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = parse_positive_duration,
        help_default = "off"
    )]
    pub expires: Option<Duration>,
    /// The server.
    #[command(flatten)]
    pub conn: ServerConnection,
}

/// `tokens list`.
#[derive(Debug, Args)]
pub struct TokensListArgs {
    /// The server.
    #[command(flatten)]
    pub conn: ServerConnection,
}

/// A token's name and the server.
#[derive(Debug, Args)]
pub struct TokenNameArgs {
    /// The token's name (any case)
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The server.
    #[command(flatten)]
    pub conn: ServerConnection,
}

/// `audit`: the audit log of a running server, newest first.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this actor's entries (`admin token`, `token ci`, an email)
    #[arg(long, value_name = "ACTOR")]
    pub actor: Option<String>,
    /// Only this action's entries (proxy.create, token.revoke, ...)
    #[arg(long, value_name = "ACTION")]
    pub action: Option<String>,
    /// Only entries at or after this RFC 3339 time (2026-12-01T00:00:00Z)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only entries older than this id (the previous page's last)
    #[arg(long, value_name = "ID")]
    pub before: Option<i64>,
    /// At most this many entries, 1 to 1000
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// The server.
    #[command(flatten)]
    pub conn: ServerConnection,
}

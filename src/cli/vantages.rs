//! `vantages`' subcommands and their flags.

use clap::{Args, Subcommand};

use super::ServerConnection;

/// `proxyhealth vantages …`: the places probes come from besides the
/// service's own replicas, and their agents' tokens.
#[derive(Debug, Subcommand)]
pub enum VantagesCommand {
    /// List every vantage (never a token).
    List(VantagesListArgs),
    /// Create a vantage and print its agent token (shown only this once).
    Create(VantageNameArgs),
    /// Delete a vantage; its agent token is refused from then on.
    Delete(VantageNameArgs),
    /// Mint a new agent token for a vantage (shown only this once); the old
    /// one is refused from then on.
    RotateToken(VantageNameArgs),
}

/// `vantages list`.
#[derive(Debug, Args)]
pub struct VantagesListArgs {
    /// The server.
    #[command(flatten)]
    pub conn: ServerConnection,
}

/// A vantage's name and the server.
#[derive(Debug, Args)]
pub struct VantageNameArgs {
    /// The vantage's name: letters, digits and single hyphens between them
    /// (eu-west), at most 32 characters; unique regardless of case
    #[arg(value_name = "NAME", value_parser = super::proxy_name)]
    pub name: String,
    /// The server.
    #[command(flatten)]
    pub conn: ServerConnection,
}

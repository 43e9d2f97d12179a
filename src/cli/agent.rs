//! `agent`'s flags.

use clap::Args;
use std::net::IpAddr;
use std::path::PathBuf;

/// `proxyhealth agent`: probe from another place for one vantage, with
/// nothing but outbound connections to the service and to the proxies.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The service's base URL, with its scheme (`https://` or `http://`), host and port
    #[arg(long, value_name = "URL")]
    pub server: url::Url,
    /// The vantage's agent token, as `vantages create` printed it (the
    /// variable is better: a flag shows in the process list)
    #[arg(
        long,
        env = "PROXYHEALTH_AGENT_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: String,
    /// Make every check's connection from this local address (IPv4 or IPv6);
    /// a proxy of the other family is then unreachable [default: the
    /// system picks]
    #[arg(long, value_name = "IP")]
    pub source_address: Option<IpAddr>,
    /// Also trust the CA certificates in this PEM file for the service's
    /// HTTPS (a private CA), besides the system's roots [default: none]
    #[arg(long, value_name = "PEM")]
    pub server_ca_file: Option<PathBuf>,
}

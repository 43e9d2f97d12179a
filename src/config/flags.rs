//! The command-line flags (and their `PROXYHEALTH_*` variables) that configure the
//! engine, the store and the server.
//!
//! Every flag is optional here, so that a value the user did not give can still
//! come from the configuration file; the defaults are applied in
//! `resolve_serve` and `resolve_check` (in the parent module) and written in each flag's help.

use super::LogFormat;
use super::units::{parse_positive_byte_size, parse_positive_duration};
use clap::Args;
use clap::builder::BoolishValueParser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The optional configuration file.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigFlag {
    /// TOML configuration file; flags and PROXYHEALTH_* variables override its
    /// keys (see proxyhealth.example.toml) [default: none]
    #[arg(long, env = "PROXYHEALTH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Where the proxies are stored.
#[derive(Debug, Clone, Default, Args)]
pub struct StoreFlags {
    /// The store: sqlite://PATH, a bare file path, postgres://..., or memory:
    /// [default: the SQLite file proxyhealth.db in the user's data directory]
    #[arg(long, env = "PROXYHEALTH_DB", value_name = "SPEC")]
    pub db: Option<String>,

    /// Attach read-only to an existing Coder database (--db postgres://...):
    /// check Coder's proxies without writing to its tables [default: false]
    #[arg(
        long,
        env = "PROXYHEALTH_CODER",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new()
    )]
    pub coder: Option<bool>,
}

/// How each proxy is checked; shared by `serve` and `check`.
#[derive(Debug, Clone, Default, Args)]
pub struct ProbeFlags {
    /// Bound on one check, from connecting to the last byte of the report [default: 5s]
    #[arg(long, env = "PROXYHEALTH_TIMEOUT", value_name = "DURATION", value_parser = parse_positive_duration)]
    pub timeout: Option<Duration>,

    /// Checks in flight at once [default: 1024]
    #[arg(long, env = "PROXYHEALTH_PARALLELISM", value_name = "N", value_parser = parse_positive_usize)]
    pub parallelism: Option<usize>,

    /// Most bytes read from one report: bytes, or with a unit (512KiB, 1MiB) [default: 1MiB]
    #[arg(long, env = "PROXYHEALTH_BODY_CAP", value_name = "SIZE", value_parser = parse_positive_byte_size)]
    pub body_cap: Option<u64>,

    /// Follow redirects that stay on the same host (up to 10) instead of
    /// reporting them as unhealthy [default: false]
    #[arg(
        long,
        env = "PROXYHEALTH_FOLLOW_REDIRECTS",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new()
    )]
    pub follow_redirects: Option<bool>,

    /// Accept TLS certificates that do not verify; for test fleets only [default: false]
    #[arg(
        long,
        env = "PROXYHEALTH_TLS_INSECURE",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new()
    )]
    pub tls_insecure: Option<bool>,
}

/// The settings only a long-running server has.
#[derive(Debug, Clone, Default, Args)]
pub struct ServerFlags {
    /// Address to listen on; port 0 picks a free port (the address is printed)
    /// [default: 127.0.0.1:8080]
    #[arg(long, env = "PROXYHEALTH_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Time between sweeps; the first sweep runs at start [default: 1m]
    #[arg(long, env = "PROXYHEALTH_INTERVAL", value_name = "DURATION", value_parser = parse_positive_duration)]
    pub interval: Option<Duration>,

    /// Good results in a row before a failing proxy shows `ok` again [default: 1, no damping]
    #[arg(long, env = "PROXYHEALTH_RISE", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rise: Option<u32>,

    /// Bad results in a row before an `ok` proxy shows its failure [default: 1, no damping]
    #[arg(long, env = "PROXYHEALTH_FALL", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub fall: Option<u32>,

    /// The admin token for the API; when unset, one is generated at the first
    /// start and printed once [default: generated]
    #[arg(
        long,
        env = "PROXYHEALTH_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,

    /// Log format on stderr; RUST_LOG sets the level [default: human]
    #[arg(
        long,
        env = "PROXYHEALTH_LOG_FORMAT",
        value_name = "FORMAT",
        value_enum
    )]
    pub log_format: Option<LogFormat>,
}

fn parse_positive_usize(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(err) => Err(format!("{err} (expected a whole number)")),
    }
}

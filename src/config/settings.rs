//! What configuration resolves to: the settings `serve` and `check` run with,
//! and the types and defaults of the few settings that are this binary's own.

use proxyhealth_engine::EngineOptions;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// How log lines are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "human" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "unknown log format {other:?}: expected human or json"
            )),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Human => "human",
            LogFormat::Json => "json",
        })
    }
}

/// Where the proxies are read from. `Default` is the default SQLite file, not
/// attached to Coder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreSettings {
    /// The store spec given to `open_store`; `None` means the default SQLite file.
    pub db: Option<String>,
    /// Attach read-only to a Coder database.
    pub coder: bool,
    /// Attached to Coder: the schema of that database where proxyhealth keeps
    /// its own coordination state, so attached replicas coordinate.
    pub coordination_schema: Option<String>,
}

/// Everything `serve` runs with.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The store.
    pub store: StoreSettings,
    /// The engine's settings.
    pub engine: EngineOptions,
    /// The admin token from configuration, if any.
    pub admin_token: Option<String>,
    /// How logs are written.
    pub log_format: LogFormat,
    /// Whether a second replica confirms a failing check of an `ok` proxy.
    pub second_opinion: bool,
    /// Whether the summary, events, regions, `/healthz` and `/metrics` answer
    /// without a token.
    pub public_reads: bool,
    /// Notifications on status changes.
    pub notify: proxyhealth_notify::NotifySettings,
    /// How long persisted history is kept.
    pub history_retention: std::time::Duration,
    /// How long the audit log is kept (`audit_retention`).
    pub audit_retention: std::time::Duration,
}

/// Everything `check` runs with.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    /// The store (unused with `--targets`).
    pub store: StoreSettings,
    /// The engine's settings (the interval and hysteresis do not apply to one sweep).
    pub engine: EngineOptions,
    /// Whether nothing to check (no proxy in the targets file or the store)
    /// passes; by default it is an error, so an empty list never passes a CI job.
    pub allow_empty: bool,
}

//! Configuration: flags, `PROXYHEALTH_*` variables, an optional TOML file, and
//! defaults, merged in that order of precedence.
//!
//! clap merges flags over variables; [`resolve_serve`] and [`resolve_check`] then
//! fill what is still unset from the file, and the rest from the defaults.

pub mod file;
pub mod flags;
pub mod units;

use crate::exit::usage;
use file::FileConfig;
use flags::{ConfigFlag, ProbeFlags, ServerFlags, StoreFlags};
use proxyhealth_core::Hysteresis;
use proxyhealth_engine::{EngineOptions, RedirectPolicy};
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

/// Where the proxies are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// The store spec given to `open_store`; `None` means the default SQLite file.
    pub db: Option<String>,
    /// Attach read-only to a Coder database.
    pub coder: bool,
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
}

/// Everything `check` runs with.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    /// The store (unused with `--targets`).
    pub store: StoreSettings,
    /// The engine's settings (the interval and hysteresis do not apply to one sweep).
    pub engine: EngineOptions,
}

fn load_file(config: &ConfigFlag) -> anyhow::Result<FileConfig> {
    match &config.config {
        Some(path) => FileConfig::load(path),
        None => Ok(FileConfig::default()),
    }
}

fn store_settings(flags: &StoreFlags, file: &FileConfig) -> StoreSettings {
    StoreSettings {
        db: flags.db.clone().or_else(|| file.db.clone()),
        coder: flags.coder.or(file.coder).unwrap_or(false),
    }
}

fn engine_options(flags: &ProbeFlags, file: &FileConfig) -> EngineOptions {
    let defaults = EngineOptions::default();
    let follow = flags
        .follow_redirects
        .or(file.follow_redirects)
        .unwrap_or(false);
    EngineOptions {
        timeout: flags.timeout.or(file.timeout).unwrap_or(defaults.timeout),
        parallelism: flags
            .parallelism
            .or(file.parallelism)
            .unwrap_or(defaults.parallelism),
        body_cap: flags
            .body_cap
            .or(file.body_cap)
            .unwrap_or(defaults.body_cap),
        redirects: if follow {
            RedirectPolicy::SameHost
        } else {
            RedirectPolicy::None
        },
        tls_insecure: flags.tls_insecure.or(file.tls_insecure).unwrap_or(false),
        ..defaults
    }
}

/// Merges `serve`'s flags (with their variables) over the file over the defaults.
pub fn resolve_serve(
    config: &ConfigFlag,
    store: &StoreFlags,
    probe: &ProbeFlags,
    server: &ServerFlags,
) -> anyhow::Result<ServeSettings> {
    let file = load_file(config)?;
    let mut engine = engine_options(probe, &file);
    if let Some(interval) = server.interval.or(file.interval) {
        engine.interval = interval;
    }
    engine.hysteresis = Hysteresis {
        rise: server.rise.or(file.rise).unwrap_or(1),
        fall: server.fall.or(file.fall).unwrap_or(1),
    };
    let listen = match server.listen.or(file.listen) {
        Some(listen) => listen,
        None => DEFAULT_LISTEN
            .parse()
            .map_err(|err| usage(format!("default listen address: {err}")))?,
    };
    let admin_token = server
        .admin_token
        .clone()
        .or_else(|| file.admin_token.clone())
        .filter(|token| !token.is_empty());
    Ok(ServeSettings {
        listen,
        store: store_settings(store, &file),
        engine,
        admin_token,
        log_format: server.log_format.or(file.log_format).unwrap_or_default(),
    })
}

/// Merges `check`'s flags (with their variables) over the file over the defaults.
pub fn resolve_check(
    config: &ConfigFlag,
    store: &StoreFlags,
    probe: &ProbeFlags,
) -> anyhow::Result<CheckSettings> {
    let file = load_file(config)?;
    Ok(CheckSettings {
        store: store_settings(store, &file),
        engine: engine_options(probe, &file),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_flag_beats_the_file_and_the_file_beats_the_default() {
        let file = FileConfig::parse("timeout = \"2s\"\nparallelism = 7").expect("valid");
        let flags = ProbeFlags {
            timeout: Some(Duration::from_secs(9)),
            ..ProbeFlags::default()
        };
        let options = engine_options(&flags, &file);
        assert_eq!(options.timeout, Duration::from_secs(9));
        assert_eq!(options.parallelism, 7);
        assert_eq!(options.body_cap, EngineOptions::default().body_cap);
        assert_eq!(options.redirects, RedirectPolicy::None);
    }
}

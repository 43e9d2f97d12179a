//! Logging setup: `tracing` to stderr, human or JSON, with `RUST_LOG` filtering.

use crate::config::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `default_level` applies when `RUST_LOG` is
/// unset (or unreadable): `info` for the server, `warn` for one-shot commands
/// whose output is their stdout.
pub fn init(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // A second install (never expected) would fail; logging then goes nowhere,
    // which is no reason to stop the command.
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The log level `-v` repeated `count` times asks for: none at all without
/// it, then warnings, info, debug and trace.
pub fn verbosity(count: u8) -> &'static str {
    match count {
        0 => "off",
        1 => "warn",
        2 => "info",
        3 => "debug",
        _ => "trace",
    }
}

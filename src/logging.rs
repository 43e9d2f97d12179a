//! Logging setup: `tracing` to stderr, human or JSON, with `RUST_LOG` filtering.
//!
//! `RUST_LOG` holds comma-separated `level` and `target=level` directives
//! (`tracing_subscriber::filter::Targets`): the filters this service's logs
//! need, without `EnvFilter`'s span and field matching and the regular
//! expression engine that comes with it (a cold build's worth of seconds).

use crate::config::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Installs the global subscriber. `default_level` applies when `RUST_LOG` is
/// unset (or unreadable): `info` for the server, `warn` for one-shot commands
/// whose output is their stdout.
pub fn init(format: LogFormat, default_level: &str) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .or_else(|| default_level.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    // the fmt subscriber stops at info unless told otherwise; `RUST_LOG`'s
    // targets decide instead, so `debug` and `trace` directives show
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // A second install (never expected) would fail; logging then goes nowhere,
    // which is no reason to stop the command.
    let _ = match format {
        LogFormat::Human => builder.finish().with(filter).try_init(),
        LogFormat::Json => builder.json().finish().with(filter).try_init(),
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

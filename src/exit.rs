//! Exit codes, and the error that marks a usage or configuration mistake.
//!
//! The binary exits 0 on success, 1 on a failure at run time (a server error, an
//! unhealthy proxy in `check`), and 2 on a usage or configuration error, the code
//! clap already uses for a bad command line, so scripts can tell "fix the command"
//! from "the fleet is sick". `check` with nothing to check (an empty targets file
//! or store) exits 2 too, unless `--allow-empty` accepts it: the list it was
//! pointed at is what needs fixing, and no fleet was found sick. So does a
//! command sent to a server without the admin token it asks for (a missing
//! option, found out by the server).

use std::fmt;
use std::process::ExitCode;

/// A usage or configuration mistake: the process exits with code 2 and prints the
/// message, which names the flag, variable or file key and the value at fault.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Builds an [`anyhow::Error`] that exits with code 2.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

/// An [`AppError`](proxyhealth_server::AppError) as the CLI reports it: a
/// mistake in the settings is a usage error (exit 2), anything else a failure at
/// run time (exit 1) printed with its causes.
pub fn app_error(err: proxyhealth_server::AppError) -> anyhow::Error {
    if err.is_settings() {
        usage(err.to_string())
    } else {
        anyhow::Error::new(err)
    }
}

/// Exit code for success.
pub const SUCCESS: u8 = 0;
/// Exit code for a failure at run time.
pub const FAILURE: u8 = 1;
/// Exit code for a usage or configuration error (and `check` with nothing to check).
pub const USAGE: u8 = 2;

/// Prints a command's error on stderr and picks the exit code for it.
pub fn report(err: &anyhow::Error) -> ExitCode {
    if err.downcast_ref::<UsageError>().is_some() {
        eprintln!("error: {err}");
        ExitCode::from(USAGE)
    } else {
        eprintln!("error: {err:#}");
        ExitCode::from(FAILURE)
    }
}

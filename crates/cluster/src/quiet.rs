//! One log line per outage: a loop that fails every second while the
//! database is away logs its first failure (as the caller decides), the
//! repeats at debug level, and one line when it works again.

use std::fmt::Display;

/// Whether a recurring operation is failing, to log transitions only.
#[derive(Debug, Default)]
pub(crate) struct Quiet {
    failing: bool,
}

impl Quiet {
    /// Records a failure; `true` when it is the first in a row (log it).
    pub(crate) fn failed(&mut self) -> bool {
        !std::mem::replace(&mut self.failing, true)
    }

    /// Records a success; `true` when it ends a run of failures (say so).
    pub(crate) fn worked(&mut self) -> bool {
        std::mem::take(&mut self.failing)
    }

    /// Records a failure of `what` and logs it: a warning the first time in
    /// a row, debug after.
    pub(crate) fn warn(&mut self, what: &str, error: &dyn Display) {
        if self.failed() {
            tracing::warn!(error = %error, "{what} failed");
        } else {
            tracing::debug!(error = %error, "{what} failed again");
        }
    }

    /// Records a success of `what`: one line when it follows failures.
    pub(crate) fn ok(&mut self, what: &str) {
        if self.worked() {
            tracing::info!("{what} works again");
        }
    }
}

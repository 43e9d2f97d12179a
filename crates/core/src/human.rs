//! How long something lasted, as people read it: in notifications' summaries
//! and the CLI's incidents, one way; and an error with its causes on one
//! line, as logs and refusals show it.

use std::time::Duration;

/// `err` and each of its sources, `: `-joined (`connecting: refused`): the
/// whole story on one line, where `Display` alone often says only the top.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A duration to the second (`3h 2m 5s`), cut down, never rounded up; below a
/// second, to the millisecond (`22ms`), so a short wait never reads as a
/// second it did not take.
pub fn duration(lasted: Duration) -> String {
    let shown = if lasted < Duration::from_secs(1) {
        Duration::from_millis(u64::try_from(lasted.as_millis()).unwrap_or(0))
    } else {
        Duration::from_secs(lasted.as_secs())
    };
    humantime::format_duration(shown).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("connecting")]
    struct Connecting(#[source] std::io::Error);

    #[test]
    fn an_error_chain_names_each_cause_after_the_error() {
        let err = Connecting(std::io::Error::other("connection refused"));
        assert_eq!(error_chain(&err), "connecting: connection refused");
    }

    #[test]
    fn seconds_are_cut_and_less_than_a_second_reads_in_milliseconds() {
        assert_eq!(duration(Duration::from_millis(22)), "22ms");
        assert_eq!(duration(Duration::from_micros(22_900)), "22ms");
        assert_eq!(duration(Duration::from_micros(400)), "0s");
        assert_eq!(duration(Duration::from_millis(1_999)), "1s");
        assert_eq!(duration(Duration::from_secs(3725)), "1h 2m 5s");
    }
}

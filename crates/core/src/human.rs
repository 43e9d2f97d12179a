//! How long something lasted, as people read it: in notifications' summaries
//! and the CLI's incidents, one way.

use std::time::Duration;

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

    #[test]
    fn seconds_are_cut_and_less_than_a_second_reads_in_milliseconds() {
        assert_eq!(duration(Duration::from_millis(22)), "22ms");
        assert_eq!(duration(Duration::from_micros(22_900)), "22ms");
        assert_eq!(duration(Duration::from_micros(400)), "0s");
        assert_eq!(duration(Duration::from_millis(1_999)), "1s");
        assert_eq!(duration(Duration::from_secs(3725)), "1h 2m 5s");
    }
}

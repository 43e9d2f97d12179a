//! What the checker adds to a proxy's report on its own: warnings for a TLS
//! certificate close to its expiry and for a slow answer, and the words for a
//! certificate that is refused because of its dates.
//!
//! Pure functions of the dates, durations and thresholds they are given (the
//! engine passes the time of the check), so every text is tested here without
//! a clock or a server. Warnings never change a status: the engine appends them
//! to the report of a check that is already judged.

use crate::outcome::humanize;
use std::time::Duration;
use time::OffsetDateTime;
use time::macros::format_description;

/// Seconds in a day, for whole days left.
const DAY_SECONDS: i64 = 86_400;

/// Whole days from `at` until `not_after`, rounded down: 2 days and 23 hours
/// left is 2; negative once the certificate has expired (a certificate that
/// expired 2 hours ago has -1, one that expired 3 days and an hour ago -4).
pub fn days_left(not_after: OffsetDateTime, at: OffsetDateTime) -> i64 {
    (not_after - at).whole_seconds().div_euclid(DAY_SECONDS)
}

/// A certificate date as the messages write it: `2026-12-04 13:05 UTC`.
pub fn certificate_date(at: OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    utc.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute] UTC"
    ))
    .unwrap_or_else(|_| utc.to_string())
}

/// `in 3 days`, `in 1 day`, `in less than a day`.
fn from_now(days: i64) -> String {
    match days {
        ..=0 => "in less than a day".to_owned(),
        1 => "in 1 day".to_owned(),
        n => format!("in {n} days"),
    }
}

/// `3 days ago`, `1 day ago`, `less than a day ago`.
fn ago(days: i64) -> String {
    match days {
        ..=0 => "less than a day ago".to_owned(),
        1 => "1 day ago".to_owned(),
        n => format!("{n} days ago"),
    }
}

/// The warning for a certificate that expires within `threshold` of `at`, or
/// `None` when it expires later (or the threshold is zero: no warning). A
/// certificate that has already expired gets no warning here: the handshake
/// refuses it, and [`expired`] says why.
pub fn expiry_warning(
    not_after: OffsetDateTime,
    at: OffsetDateTime,
    threshold: Duration,
) -> Option<String> {
    if threshold.is_zero() || not_after <= at {
        return None;
    }
    let left = not_after - at;
    if left.whole_seconds() > i64::try_from(threshold.as_secs()).unwrap_or(i64::MAX) {
        return None;
    }
    Some(format!(
        "the proxy's TLS certificate expires on {} ({}; warning at {} before expiry)",
        certificate_date(not_after),
        from_now(days_left(not_after, at)),
        threshold_words(threshold)
    ))
}

/// A warning threshold as days when it is whole days (`14 days`), otherwise
/// as operators write durations (`36h` is `129600s`, so hours are written out).
fn threshold_words(threshold: Duration) -> String {
    let seconds = threshold.as_secs();
    let whole_seconds = threshold.subsec_nanos() == 0;
    if whole_seconds && seconds.is_multiple_of(DAY_SECONDS.unsigned_abs()) {
        match seconds / DAY_SECONDS.unsigned_abs() {
            1 => "1 day".to_owned(),
            n => format!("{n} days"),
        }
    } else if whole_seconds && seconds.is_multiple_of(3600) {
        format!("{}h", seconds / 3600)
    } else {
        humanize(threshold)
    }
}

/// Why a certificate that expired on `not_after` is refused at `at`.
pub fn expired(not_after: OffsetDateTime, at: OffsetDateTime) -> String {
    format!(
        "the proxy's TLS certificate expired on {} ({})",
        certificate_date(not_after),
        ago((at - not_after).whole_seconds().div_euclid(DAY_SECONDS))
    )
}

/// Why a certificate that becomes valid on `not_before` is refused at `at`.
pub fn not_yet_valid(not_before: OffsetDateTime, at: OffsetDateTime) -> String {
    format!(
        "the proxy's TLS certificate is not valid yet: it becomes valid on {} ({}); \
         check the certificate's dates and this machine's clock",
        certificate_date(not_before),
        from_now(days_left(not_before, at))
    )
}

/// The warning for a proxy that answered correctly in `latency`, slower than
/// `threshold`, or `None` when it was not slower.
pub fn latency_warning(latency: Duration, threshold: Duration) -> Option<String> {
    (latency > threshold).then(|| {
        format!(
            "the proxy is slow: it answered in {}, above the latency warning threshold of {}",
            humanize(round_to_millis(latency)),
            humanize(threshold)
        )
    })
}

/// A latency rounded to whole milliseconds, for reading.
fn round_to_millis(latency: Duration) -> Duration {
    let millis = (latency.as_micros() + 500) / 1000;
    Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const AT: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);

    #[test]
    fn days_left_are_whole_days_rounded_down() {
        assert_eq!(days_left(datetime!(2026-12-04 12:00 UTC), AT), 3);
        assert_eq!(days_left(datetime!(2026-12-04 11:59 UTC), AT), 2);
        assert_eq!(days_left(datetime!(2026-12-01 13:00 UTC), AT), 0);
        assert_eq!(days_left(datetime!(2026-12-01 10:00 UTC), AT), -1);
        assert_eq!(days_left(datetime!(2026-11-28 11:00 UTC), AT), -4);
    }

    #[test]
    fn a_certificate_within_the_threshold_warns_with_its_date_and_days_left() {
        let warning = expiry_warning(
            datetime!(2026-12-04 13:05 UTC),
            AT,
            Duration::from_secs(14 * 86_400),
        );
        assert_eq!(
            warning.as_deref(),
            Some(
                "the proxy's TLS certificate expires on 2026-12-04 13:05 UTC (in 3 days; \
                 warning at 14 days before expiry)"
            )
        );
    }

    #[test]
    fn a_certificate_beyond_the_threshold_or_a_zero_threshold_gives_no_warning() {
        let far = datetime!(2027-03-01 12:00 UTC);
        assert_eq!(
            expiry_warning(far, AT, Duration::from_secs(14 * 86_400)),
            None
        );
        let near = datetime!(2026-12-02 12:00 UTC);
        assert_eq!(expiry_warning(near, AT, Duration::ZERO), None);
        assert_eq!(
            expiry_warning(near, AT, Duration::from_secs(36 * 3600))
                .map(|w| w.ends_with("(in 1 day; warning at 36h before expiry)")),
            Some(true)
        );
    }

    #[test]
    fn an_expired_certificate_says_when_and_how_long_ago() {
        assert_eq!(
            expired(datetime!(2026-11-28 11:00 UTC), AT),
            "the proxy's TLS certificate expired on 2026-11-28 11:00 UTC (3 days ago)"
        );
        assert_eq!(
            expired(datetime!(2026-12-01 10:00 UTC), AT),
            "the proxy's TLS certificate expired on 2026-12-01 10:00 UTC (less than a day ago)"
        );
    }

    #[test]
    fn a_certificate_not_valid_yet_says_when_it_will_be() {
        assert_eq!(
            not_yet_valid(datetime!(2026-12-06 12:30 UTC), AT),
            "the proxy's TLS certificate is not valid yet: it becomes valid on 2026-12-06 12:30 UTC \
             (in 5 days); check the certificate's dates and this machine's clock"
        );
    }

    #[test]
    fn a_slow_answer_warns_with_its_latency_and_the_threshold() {
        assert_eq!(
            latency_warning(Duration::from_micros(2_345_600), Duration::from_secs(2)).as_deref(),
            Some(
                "the proxy is slow: it answered in 2.346s, above the latency warning threshold of 2s"
            )
        );
        assert_eq!(
            latency_warning(Duration::from_millis(300), Duration::from_secs(2)),
            None
        );
    }
}

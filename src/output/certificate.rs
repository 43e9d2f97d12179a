//! A proxy's TLS certificate expiry as the tables show it.

use time::OffsetDateTime;
use time::macros::format_description;

/// The certificate cell: its expiry date and the whole days left
/// (`2026-12-04 (3 days left)`), `2026-11-28 (expired)`, or `-` when no
/// certificate was seen (an `http://` proxy, or a check that did not get as
/// far as the certificate).
pub fn cell(not_after: Option<OffsetDateTime>, days_left: Option<i64>) -> String {
    let Some(not_after) = not_after else {
        return "-".to_owned();
    };
    let date = not_after
        .to_offset(time::UtcOffset::UTC)
        .format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_default();
    match days_left {
        Some(days) if days < 0 => format!("{date} (expired)"),
        Some(1) => format!("{date} (1 day left)"),
        Some(days) => format!("{date} ({days} days left)"),
        None => date,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_cell_gives_the_date_and_the_days_left_or_says_expired() {
        let at = Some(datetime!(2026-12-04 13:05 UTC));
        assert_eq!(cell(at, Some(3)), "2026-12-04 (3 days left)");
        assert_eq!(cell(at, Some(1)), "2026-12-04 (1 day left)");
        assert_eq!(cell(at, Some(-4)), "2026-12-04 (expired)");
        assert_eq!(cell(None, None), "-");
    }
}

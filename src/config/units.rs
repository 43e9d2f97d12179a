//! Parsing of the value types the configuration accepts: durations, byte
//! sizes, counts and the TLS CA mode.
//!
//! Flags, environment variables and the TOML file all go through these functions,
//! so a value means the same thing wherever it is written.

use proxyhealth_engine::CaMode;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Parses a duration written for people: `1m`, `5s`, `250ms`, `1h 30m`.
///
/// A bare number is refused: `5` could mean seconds or milliseconds, and guessing
/// wrong silently is worse than asking for a unit.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration (expected e.g. 5s, 250ms, 1m)".to_owned());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{text:?} has no unit (write e.g. {text}s or {text}ms)"
        ));
    }
    humantime::parse_duration(text).map_err(|err| format!("{err} (expected e.g. 5s, 250ms, 1m)"))
}

/// The units [`format_duration`] writes, largest first, with their length.
const DURATION_UNITS: [(&str, Duration); 7] = [
    ("d", Duration::from_secs(86_400)),
    ("h", Duration::from_secs(3_600)),
    ("m", Duration::from_secs(60)),
    ("s", Duration::from_secs(1)),
    ("ms", Duration::from_millis(1)),
    ("us", Duration::from_micros(1)),
    ("ns", Duration::from_nanos(1)),
];

/// Writes a duration the way [`parse_duration`] reads it and people write it,
/// in the largest unit that divides it exactly: `90d`, `1h`, `30s`, `1500ms`,
/// `0s`. The defaults in `--help` are written this way, so each can be copied
/// back into its flag (humantime's own format gives `2months 29days 2h 52m 48s`
/// for 90 days, months of its own length).
pub fn format_duration(duration: Duration) -> String {
    if duration.is_zero() {
        return "0s".to_owned();
    }
    let nanos = duration.as_nanos();
    for (unit, length) in DURATION_UNITS {
        let length = length.as_nanos();
        if nanos.is_multiple_of(length) {
            return format!("{}{unit}", nanos / length);
        }
    }
    format!("{nanos}ns")
}

/// Parses a duration like [`parse_duration`] and refuses zero, for settings where
/// zero would mean "never wait" (a check timeout) or "spin" (a sweep interval).
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err("must be more than zero".to_owned());
    }
    Ok(duration)
}

/// Parses a TLS CA mode: `add` (with the system's roots) or `replace`
/// (instead of them).
pub fn parse_ca_mode(text: &str) -> Result<CaMode, String> {
    text.trim().parse()
}

/// Parses a whole number and refuses zero, for counts such as checks in flight.
pub fn parse_positive_usize(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(err) => Err(format!("{err} (expected a whole number)")),
    }
}

/// Parses a size like [`parse_byte_size`] and refuses zero.
pub fn parse_positive_byte_size(text: &str) -> Result<u64, String> {
    let size = parse_byte_size(text)?;
    if size == 0 {
        return Err("must be at least 1 byte".to_owned());
    }
    Ok(size)
}

/// Parses a size in bytes: `1048576`, `512KiB`, `1MiB`, `2GiB`, or with `KB`/`MB`/`GB`
/// (powers of 1000). Case-insensitive, spaces between number and unit allowed.
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(format!(
            "{text:?} is not a size (expected bytes, or e.g. 512KiB, 1MiB)"
        ));
    }
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{digits:?} is too large for a size"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit {other:?} (expected B, KiB, MiB, GiB, KB, MB or GB)"
            ));
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("{text:?} is too large for a size"))
}

/// Writes a byte size the way [`parse_byte_size`] reads it, in the largest binary
/// unit that divides it exactly (`1MiB`, `512KiB`, `1000`).
pub fn format_byte_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes}")
}

/// The port of a DNS server given without one.
const DNS_PORT: u16 = 53;

/// A DNS server: `IP:PORT`, or an IP alone for port 53 (`[::1]:5353` or `::1`).
pub fn parse_dns_server(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    text.parse::<SocketAddr>()
        .or_else(|_| {
            text.parse::<IpAddr>()
                .map(|ip| SocketAddr::new(ip, DNS_PORT))
        })
        .map_err(|_| format!("{text:?} is not an IP address or IP:PORT (e.g. 127.0.0.1:5353)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_bytes_and_binary_and_decimal_units() {
        assert_eq!(parse_byte_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_byte_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_byte_size("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_byte_size("512 kib"), Ok(512 * 1024));
        assert_eq!(parse_byte_size("2MB"), Ok(2_000_000));
    }

    #[test]
    fn a_size_with_an_unknown_unit_is_refused_naming_the_unit() {
        let err = parse_byte_size("3 parsecs").expect_err("must fail");
        assert!(err.contains("\"parsecs\""), "{err}");
        let err = parse_byte_size("lots").expect_err("must fail");
        assert!(err.contains("\"lots\""), "{err}");
    }

    #[test]
    fn a_dns_server_is_an_address_with_port_53_by_default() {
        assert_eq!(
            parse_dns_server("127.0.0.1:5353"),
            Ok("127.0.0.1:5353".parse().expect("addr"))
        );
        assert_eq!(
            parse_dns_server("127.0.0.1"),
            Ok("127.0.0.1:53".parse().expect("addr"))
        );
        assert_eq!(
            parse_dns_server("::1"),
            Ok("[::1]:53".parse().expect("addr"))
        );
        let err = parse_dns_server("dns.example").expect_err("a name is refused");
        assert!(err.contains("\"dns.example\""), "{err}");
    }

    #[test]
    fn a_size_that_overflows_is_refused() {
        assert!(parse_byte_size("99999999999999GiB").is_err());
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        let err = parse_duration("5").expect_err("must fail");
        assert!(err.contains("no unit"), "{err}");
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn durations_format_in_the_largest_exact_unit_and_parse_back() {
        let cases = [
            (Duration::from_secs(90 * 86_400), "90d"),
            (Duration::from_secs(14 * 86_400), "14d"),
            (Duration::from_secs(3_600), "1h"),
            (Duration::from_secs(90 * 60), "90m"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_millis(1_500), "1500ms"),
            (Duration::from_micros(7), "7us"),
            (Duration::from_nanos(1_000_001), "1000001ns"),
            (Duration::ZERO, "0s"),
        ];
        for (duration, text) in cases {
            assert_eq!(format_duration(duration), text);
            assert_eq!(parse_duration(text), Ok(duration), "{text} parses back");
        }
    }

    #[test]
    fn sizes_format_in_the_largest_exact_unit() {
        assert_eq!(format_byte_size(1 << 20), "1MiB");
        assert_eq!(format_byte_size(512 * 1024), "512KiB");
        assert_eq!(format_byte_size(1000), "1000");
    }
}

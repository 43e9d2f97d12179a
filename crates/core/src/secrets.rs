//! Keeping a proxy URL's password out of everything shown: the one place that
//! says how a URL with userinfo (`https://user:password@host`) is written for
//! people, logs, metrics and the API, and how messages that may quote it are
//! cleaned.
//!
//! The stored URL keeps its password (the checker sends it); only what is
//! shown is redacted. The convention is Prometheus's for its targets (Go's
//! `url.URL.Redacted`): the password, and only the password, becomes
//! [`REDACTED_PASSWORD`], so `https://user:xxxxx@host` still says which user
//! the checker logs in as and that a password is set.

use crate::HealthReport;
use std::borrow::Cow;
use std::ops::Range;

/// What a password is replaced with: Go's `url.URL.Redacted` and Prometheus's
/// targets write `xxxxx`.
pub const REDACTED_PASSWORD: &str = "xxxxx";

/// The URL with its password replaced by [`REDACTED_PASSWORD`]
/// (`https://user:password@host` gives `https://user:xxxxx@host`); a URL
/// without a password comes back unchanged.
///
/// Works on the text as written, so the rest of the URL is kept byte for byte
/// (no trailing `/` added, no case changed), and text that is not a valid URL
/// is still redacted when it has the shape `scheme://user:password@host…`.
pub fn redact_url(url: &str) -> Cow<'_, str> {
    match password_span(url) {
        Some(span) => {
            let mut out = String::with_capacity(url.len());
            out.push_str(&url[..span.start]);
            out.push_str(REDACTED_PASSWORD);
            out.push_str(&url[span.end..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(url),
    }
}

/// `text` with every appearance of the password of `url` replaced by
/// [`REDACTED_PASSWORD`], as written in the URL (percent-encoded) and decoded.
/// For messages that may quote the URL or the password (an error of a
/// library, a proxy's answer); `text` is unchanged when `url` has no password.
pub fn redact_in<'a>(text: &'a str, url: &str) -> Cow<'a, str> {
    let Some(span) = password_span(url) else {
        return Cow::Borrowed(text);
    };
    let raw = &url[span];
    if raw.is_empty() {
        return Cow::Borrowed(text);
    }
    let decoded = percent_decode(raw);
    let mut out = Cow::Borrowed(text);
    for needle in [Some(raw), decoded.as_deref()].into_iter().flatten() {
        if !needle.is_empty() && out.contains(needle) {
            out = Cow::Owned(out.replace(needle, REDACTED_PASSWORD));
        }
    }
    out
}

/// Redacts the password of `url` in every error and warning of `report`
/// (see [`redact_in`]): what a check found, before it is kept or shown.
pub fn redact_report(report: &mut HealthReport, url: &str) {
    if !has_password(url) {
        return;
    }
    for message in report.errors.iter_mut().chain(report.warnings.iter_mut()) {
        if let Cow::Owned(clean) = redact_in(message, url) {
            *message = clean;
        }
    }
}

/// Whether `url` carries a password (so what is shown of it must be redacted).
pub fn has_password(url: &str) -> bool {
    password_span(url).is_some()
}

/// Where the password of `url` is, as written: after the first `:` of the
/// userinfo, which ends at the last `@` of the authority (the part after
/// `://` up to the first `/`, `?`, `#` or `\`), as URL parsers read it.
fn password_span(url: &str) -> Option<Range<usize>> {
    let authority_start = url.find("://")? + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let userinfo_len = authority.rfind('@')?;
    let colon = authority[..userinfo_len].find(':')?;
    Some(authority_start + colon + 1..authority_start + userinfo_len)
}

/// The user name and password of `url` as a client sends them (percent-decoded,
/// as `reqwest` and Go do for Basic authentication); `None` without userinfo.
pub fn credentials(url: &url::Url) -> Option<(String, String)> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |raw: &str| percent_decode(raw).unwrap_or_else(|| raw.to_owned());
    Some((
        decode(url.username()),
        decode(url.password().unwrap_or_default()),
    ))
}

/// The percent-decoded text, when decoding changes it and gives UTF-8.
fn percent_decode(raw: &str) -> Option<String> {
    if !raw.contains('%') {
        return None;
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes.get(i), bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(b'%'), Some(&hi), Some(&lo)) if hex(hi).is_some() && hex(lo).is_some() => {
                let value = hex(hi).unwrap_or(0) * 16 + hex(lo).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 3;
            }
            (Some(&b), _, _) => {
                out.push(b);
                i += 1;
            }
            (None, _, _) => break,
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_replaced_as_prometheus_does() {
        assert_eq!(
            redact_url("https://user:s3cret@proxy.example.com"),
            "https://user:xxxxx@proxy.example.com"
        );
        assert_eq!(
            redact_url("http://user:s3cret@127.0.0.1:8080/healthz-report"),
            "http://user:xxxxx@127.0.0.1:8080/healthz-report"
        );
    }

    #[test]
    fn a_url_without_a_password_is_kept_byte_for_byte() {
        for url in [
            "https://proxy.example.com",
            "https://user@proxy.example.com/",
            "http://127.0.0.1:1/a@b",
            "",
            "not a url",
        ] {
            assert_eq!(redact_url(url), url);
            assert!(!has_password(url), "{url}");
        }
    }

    #[test]
    fn the_userinfo_ends_at_the_last_at_sign_of_the_authority() {
        assert_eq!(
            redact_url("https://u:p@ss@host/x@y"),
            "https://u:xxxxx@host/x@y"
        );
        assert_eq!(redact_url("https://u:p:q@host"), "https://u:xxxxx@host");
    }

    #[test]
    fn a_url_that_does_not_parse_is_still_redacted() {
        assert_eq!(redact_url("http://u:pw@[bad"), "http://u:xxxxx@[bad");
    }

    #[test]
    fn credentials_are_decoded_as_a_client_sends_them() {
        let url = url::Url::parse("https://op%20s:p%40ss@h").expect("a URL");
        assert_eq!(
            credentials(&url),
            Some(("op s".to_owned(), "p@ss".to_owned()))
        );
        let url = url::Url::parse("https://h").expect("a URL");
        assert_eq!(credentials(&url), None);
    }

    #[test]
    fn messages_lose_the_password_as_written_and_decoded() {
        let url = "https://ops:p%40ss%2Fw0rd@proxy.example.com";
        let message = "Get \"https://ops:p%40ss%2Fw0rd@proxy.example.com/healthz-report\": \
                       the proxy said: bad password p@ss/w0rd";
        let clean = redact_in(message, url);
        assert!(!clean.contains("p%40ss%2Fw0rd"), "{clean}");
        assert!(!clean.contains("p@ss/w0rd"), "{clean}");
        assert!(
            clean.contains("https://ops:xxxxx@proxy.example.com/healthz-report"),
            "{clean}"
        );
        assert_eq!(redact_in("nothing here", "https://h"), "nothing here");
    }
}

//! Rules for the values people and proxies send: names, URLs, wildcard hostnames.
//!
//! Stores and the API share them, so a rule is written once and every error names
//! the field it is about.

use url::Url;

/// The name reserved for the primary region.
pub const RESERVED_NAME: &str = "primary";
/// Names the API's routes take for themselves under `/api/v2/workspaceproxies/`
/// (`me/register`, `refresh`): a proxy with one of them could not be addressed
/// by name, so they are refused (case-insensitively).
pub const ROUTE_NAMES: [&str; 2] = ["me", "refresh"];
/// Longest proxy name, in characters (Coder's limit for names).
pub const MAX_NAME_CHARS: usize = 32;
/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 128;
/// Longest icon URL, in bytes.
pub const MAX_ICON_BYTES: usize = 2048;
/// Longest registered URL or wildcard hostname, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest reported version, in bytes.
pub const MAX_VERSION_BYTES: usize = 256;

/// A value that breaks a rule, with the field it was sent in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {detail}")]
pub struct FieldError {
    /// The field's name in the request body (`name`, `access_url`, …).
    pub field: &'static str,
    /// What is wrong, naming the value where that helps.
    pub detail: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: &'static str, detail: impl Into<String>) -> Self {
        FieldError {
            field,
            detail: detail.into(),
        }
    }
}

/// A proxy name, by Coder's rule for names (`NameValid`): 1 to
/// [`MAX_NAME_CHARS`] ASCII letters and digits, in groups joined by single
/// hyphens (`eu-west-1`; no leading, trailing or doubled hyphen). On top of
/// it: not `primary` (the primary region's), `me` or `refresh` (routes of the
/// API, [`ROUTE_NAMES`]) in any case, and not a UUID (the API reads a UUID in
/// a path as an id, so such a name would hide the proxy it is the id of, and
/// reach no proxy by name).
///
/// Names are unique and looked up regardless of case (`EU-West` is
/// `eu-west`); they are kept as written. The one place this rule is written:
/// the API, the stores and the CLI call it.
pub fn validate_name(name: &str) -> Result<(), FieldError> {
    if name.is_empty() {
        return Err(FieldError::new("name", "must not be empty"));
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(FieldError::new(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters, got {chars}"),
        ));
    }
    if !follows_name_pattern(name) {
        return Err(FieldError::new(
            "name",
            format!("{name:?} is not a valid name: {NAME_RULE}"),
        ));
    }
    if name.eq_ignore_ascii_case(RESERVED_NAME) {
        return Err(FieldError::new(
            "name",
            format!("the name {name:?} is reserved for the primary region"),
        ));
    }
    if ROUTE_NAMES
        .iter()
        .any(|taken| name.eq_ignore_ascii_case(taken))
    {
        return Err(FieldError::new(
            "name",
            format!("the name {name:?} is reserved: the API uses it as a route"),
        ));
    }
    if uuid::Uuid::parse_str(name).is_ok() {
        return Err(FieldError::new(
            "name",
            format!(
                "the name {name:?} reads as an id (a UUID): the API would take it for \
                 the id of a proxy, so no proxy could be reached by it"
            ),
        ));
    }
    Ok(())
}

/// The name rule in words, for errors and help texts.
pub const NAME_RULE: &str = "use letters, digits and single hyphens between them \
                             (eu-west-1), at most 32 characters";

/// Letters and digits in groups joined by single hyphens (Coder's
/// `^[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*$`).
fn follows_name_pattern(name: &str) -> bool {
    name.split('-')
        .all(|group| !group.is_empty() && group.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A display name: at most 128 characters (empty means "use the name").
pub fn validate_display_name(display_name: &str) -> Result<(), FieldError> {
    if display_name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(FieldError::new(
            "display_name",
            format!("must be at most {MAX_DISPLAY_NAME_CHARS} characters"),
        ));
    }
    Ok(())
}

/// An icon: at most 2048 bytes.
pub fn validate_icon(icon: &str) -> Result<(), FieldError> {
    if icon.len() > MAX_ICON_BYTES {
        return Err(FieldError::new(
            "icon",
            format!("must be at most {MAX_ICON_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// A registered access URL: `http` or `https`, a host, an empty path or `/`, and
/// no query or fragment (the seed let those through and then probed the wrong
/// path for ever). Credentials (`https://user:password@host`) are allowed: the
/// checker sends them, and everything shown redacts the password
/// ([`crate::secrets`]).
pub fn validate_access_url(raw: &str) -> Result<Url, FieldError> {
    const FIELD: &str = "access_url";
    if raw.len() > MAX_URL_BYTES {
        return Err(FieldError::new(
            FIELD,
            format!("must be at most {MAX_URL_BYTES} bytes"),
        ));
    }
    let url = Url::parse(raw).map_err(|err| {
        let shown = crate::secrets::redact_url(raw);
        FieldError::new(FIELD, format!("{shown:?} is not a URL: {err}"))
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(FieldError::new(
            FIELD,
            format!("scheme must be http or https, got {:?}", url.scheme()),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(FieldError::new(FIELD, "must have a host"));
    }
    if url.path() != "/" && !url.path().is_empty() {
        return Err(FieldError::new(
            FIELD,
            format!("path must be empty or /, got {:?}", url.path()),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(FieldError::new(
            FIELD,
            "must not have a query or a fragment",
        ));
    }
    Ok(url)
}

/// A wildcard app hostname such as `*.us.example.com` or `*--apps.example.com:8443`:
/// empty, or exactly one `*`, at the very start, in a pattern of at least two
/// valid labels without a scheme (Coder's `CompileHostnamePattern` rules).
pub fn validate_wildcard_hostname(pattern: &str) -> Result<(), FieldError> {
    const FIELD: &str = "wildcard_hostname";
    if pattern.is_empty() {
        return Ok(());
    }
    let fail = |why: &str| {
        Err(FieldError::new(
            FIELD,
            format!("{pattern:?} is not a valid pattern: {why}"),
        ))
    };
    let lower = pattern.to_ascii_lowercase();
    if pattern.len() > MAX_URL_BYTES {
        return fail("too long");
    }
    if lower.contains("http:") || lower.contains("https:") {
        return fail("it must not contain a scheme");
    }
    if lower.starts_with('.') || lower.ends_with('.') {
        return fail("it must not start or end with a period");
    }
    if !lower.contains('.') {
        return fail("it must contain at least two labels");
    }
    if lower.matches('*').count() != 1 || !lower.starts_with('*') {
        return fail("it must contain exactly one asterisk, at the beginning");
    }
    let host = match lower.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => host,
        Some(_) => return fail("the port is not a number from 0 to 65535"),
        None => lower.as_str(),
    };
    for (index, label) in host.split('.').enumerate() {
        let label = if index == 0 {
            format!("a{}", label.trim_start_matches('*'))
        } else {
            label.to_owned()
        };
        if !valid_label(&label) {
            return fail(&format!(
                "the label {label:?} is not a valid hostname label"
            ));
        }
    }
    Ok(())
}

fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// `derp_only` needs `derp_enabled`.
pub fn validate_derp_flags(derp_enabled: bool, derp_only: bool) -> Result<(), FieldError> {
    if derp_only && !derp_enabled {
        return Err(FieldError::new(
            "derp_only",
            "DerpOnly cannot be true when DerpEnabled is false.",
        ));
    }
    Ok(())
}

/// A reported version: at most 256 bytes.
pub fn validate_version(version: &str) -> Result<(), FieldError> {
    if version.len() > MAX_VERSION_BYTES {
        return Err(FieldError::new(
            "version",
            format!("must be at most {MAX_VERSION_BYTES} bytes"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_names_the_router_takes_are_reserved_in_any_case() {
        for name in ROUTE_NAMES.iter().copied().chain(["ME", "Refresh"]) {
            let err = super::validate_name(name).expect_err("reserved");
            assert_eq!(err.field, "name");
            assert!(err.detail.contains("reserved"), "{}", err.detail);
        }
        assert!(super::validate_name("merefresh").is_ok());
    }

    use super::*;

    #[test]
    fn coder_url_cases_hold() {
        assert!(validate_access_url("").is_err());
        assert!(validate_access_url("https://example.com").is_ok());
        assert!(validate_access_url("https://example.com/").is_ok());
        assert!(validate_access_url("example.com").is_err());
        let err = validate_access_url("ssh://example.com").expect_err("ssh");
        assert_eq!(
            err.to_string(),
            "access_url: scheme must be http or https, got \"ssh\""
        );
        let err = validate_access_url("https://example.com/test").expect_err("path");
        assert_eq!(
            err.to_string(),
            "access_url: path must be empty or /, got \"/test\""
        );
    }

    #[test]
    fn a_query_is_refused() {
        assert!(validate_access_url("https://p.example.com?x=1").is_err());
    }

    #[test]
    fn credentials_are_allowed_and_an_unparsable_url_is_named_without_its_password() {
        // a URL with userinfo may be registered (the checker sends it as
        // Basic authentication); its password is redacted wherever it is shown
        assert!(validate_access_url("https://u:p@p.example.com").is_ok());
        let err = validate_access_url("https://u:hunter2@p.example.com:99999")
            .expect_err("port out of range");
        assert!(!err.detail.contains("hunter2"), "{err}");
        assert!(err.detail.contains("u:xxxxx@"), "{err}");
    }

    #[test]
    fn wildcard_patterns_follow_coder_rules() {
        for ok in [
            "",
            "*.coder.com",
            "*--apps.coder.com",
            "*.us.coder.com:8443",
        ] {
            assert!(validate_wildcard_hostname(ok).is_ok(), "{ok}");
        }
        for bad in [
            "coder.com",
            "*",
            "apps.*.coder.com",
            "https://*.coder.com",
            "*.coder.com.",
            "**.coder.com",
            "*.c_d.com",
        ] {
            assert!(validate_wildcard_hostname(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn primary_is_reserved_in_any_case() {
        let err = validate_name("PriMary").expect_err("reserved");
        assert_eq!(err.field, "name");
    }

    #[test]
    fn names_are_letters_digits_and_single_hyphens_up_to_32() {
        for ok in [
            "eu-west",
            "EU-West-1",
            "a",
            "9",
            &"z".repeat(32),
            "me2",
            "refreshed",
        ] {
            assert_eq!(validate_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "bad name!",
            "a b/c",
            "x\u{0}y",
            " padded ",
            "Upper_Case",
            "refresh ",
            "-eu",
            "eu-",
            "eu--west",
            "é",
            "eu \"west\" 🇪🇺 '; DROP TABLE x;--",
        ] {
            let err = validate_name(bad).expect_err(bad);
            assert_eq!(err.field, "name");
            assert_eq!(
                err.detail,
                format!("{bad:?} is not a valid name: {NAME_RULE}")
            );
        }
        let err = validate_name(&"a".repeat(33)).expect_err("too long");
        assert_eq!(err.detail, "must be at most 32 characters, got 33");
        assert!(NAME_RULE.contains(&MAX_NAME_CHARS.to_string()));
        assert_eq!(
            validate_name("").expect_err("empty").detail,
            "must not be empty"
        );
    }

    #[test]
    fn a_name_that_reads_as_a_uuid_is_refused() {
        // 32 hex digits fit the pattern and the length; the hyphenated form
        // is longer than 32 anyway.
        let id = uuid::Uuid::new_v4();
        let err = validate_name(&id.simple().to_string()).expect_err("a UUID");
        assert!(err.detail.contains("reads as an id"), "{}", err.detail);
        assert!(validate_name(&id.hyphenated().to_string()).is_err());
    }

    #[test]
    fn derp_only_needs_derp() {
        assert!(validate_derp_flags(false, true).is_err());
        assert!(validate_derp_flags(true, true).is_ok());
    }
}

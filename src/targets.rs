//! Targets files for `check --targets` (the format README.md documents): one
//! proxy URL per line, with an optional name after a tab (further columns, like
//! the kind and expected status `proxyhealth sim` writes after its names, are
//! ignored); blank lines and `#` comments are ignored.

use proxyhealth_core::{Proxy, redact_url};
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// One line of a targets file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The proxy's URL (http or https, no path other than `/`).
    pub url: String,
    /// The name to show; the URL's `host:port` when the line gives none.
    pub name: String,
}

/// Parses a targets file; the error names the line number and the value.
///
/// A URL listed twice is refused: it would be checked twice, and its id (see
/// [`target_id`]) would stand for two rows.
pub fn parse(text: &str) -> Result<Vec<Target>, String> {
    let mut targets = Vec::new();
    let mut first_seen: HashMap<Uuid, usize> = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut columns = line.split('\t');
        let url_text = columns.next().unwrap_or_default().trim();
        let name = columns.next().map(str::trim).unwrap_or_default();
        let shown = redact_url(url_text);
        let url = url::Url::parse(url_text)
            .map_err(|err| format!("line {number}: {shown:?} is not a URL: {err}"))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(format!(
                "line {number}: {shown:?}: the scheme must be http or https"
            ));
        }
        let host = url.host_str().unwrap_or_default();
        let name = if name.is_empty() {
            match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            }
        } else {
            name.to_owned()
        };
        let target = Target {
            url: url_text.trim_end_matches('/').to_owned(),
            name,
        };
        if let Some(first) = first_seen.insert(target_id(&target), number) {
            return Err(format!(
                "line {number}: {:?} is already listed on line {first}",
                redact_url(&target.url)
            ));
        }
        targets.push(target);
    }
    Ok(targets)
}

/// A target's id, the same on every run and every machine: the UUID v5 (in
/// RFC 9562's URL namespace) of its URL as listed, without a trailing `/`
/// and with any password replaced by `xxxxx`, so the id gives nothing of the
/// password away. In Python: `uuid.uuid5(uuid.NAMESPACE_URL, url)`.
pub fn target_id(target: &Target) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, redact_url(&target.url).as_bytes())
}

/// A registered proxy row for a target, so the engine checks it like a stored
/// one; its id is [`target_id`].
pub fn to_proxy(target: &Target, region_id: i32) -> Proxy {
    let now = OffsetDateTime::now_utc();
    Proxy {
        id: target_id(target),
        name: target.name.clone(),
        display_name: target.name.clone(),
        icon: String::new(),
        url: target.url.clone(),
        wildcard_hostname: String::new(),
        created_at: now,
        updated_at: now,
        deleted: false,
        token_hashed_secret: Vec::new(),
        region_id,
        derp_enabled: true,
        derp_only: false,
        version: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_blank_lines_and_names_are_handled() {
        let text = "# fleet\n\nhttp://127.0.0.1:8001\thome\tok\n  http://127.0.0.1:8002/  \n";
        let targets = parse(text).expect("valid");
        assert_eq!(
            targets,
            vec![
                Target {
                    url: "http://127.0.0.1:8001".into(),
                    name: "home".into()
                },
                Target {
                    url: "http://127.0.0.1:8002".into(),
                    name: "127.0.0.1:8002".into()
                },
            ]
        );
    }

    #[test]
    fn a_bad_line_is_refused_with_its_number_and_value() {
        let err = parse("http://127.0.0.1:1\nnot a url\n").expect_err("must fail");
        assert!(
            err.starts_with("line 2:") && err.contains("\"not a url\""),
            "{err}"
        );
        let err = parse("ftp://127.0.0.1/\n").expect_err("must fail");
        assert!(err.contains("http or https"), "{err}");
    }

    #[test]
    fn a_url_listed_twice_is_refused_naming_both_lines() {
        let err =
            parse("http://u:secret@127.0.0.1:1\tone\n# x\nhttp://u:secret@127.0.0.1:1/\ttwo\n")
                .expect_err("must fail");
        assert_eq!(
            err,
            "line 3: \"http://u:xxxxx@127.0.0.1:1\" is already listed on line 1"
        );
    }

    #[test]
    fn a_targets_id_is_the_uuid_v5_of_its_url_without_the_password() {
        let target = Target {
            url: "https://user:secret@eu.example.com".into(),
            name: "eu".into(),
        };
        // uuid.uuid5(uuid.NAMESPACE_URL, "https://user:xxxxx@eu.example.com")
        assert_eq!(
            target_id(&target).to_string(),
            "7e91af74-241a-5911-9bfa-136e2b9889b9"
        );
    }
}

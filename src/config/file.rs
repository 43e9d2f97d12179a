//! The optional TOML configuration file.
//!
//! One flat table whose keys are the long flag names with `_` for `-`
//! (`body_cap`, `follow_redirects`, ...). Unknown keys are refused with the key
//! named, so a typo never silently falls back to a default.

use super::LogFormat;
use super::units::{parse_positive_byte_size, parse_positive_duration};
use crate::exit::usage;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// The keys a configuration file may hold, in the order `--help` lists them.
pub const KNOWN_KEYS: [&str; 13] = [
    "listen",
    "db",
    "coder",
    "interval",
    "timeout",
    "parallelism",
    "body_cap",
    "follow_redirects",
    "rise",
    "fall",
    "admin_token",
    "log_format",
    "tls_insecure",
];

/// What a configuration file sets; `None` for every key it leaves out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileConfig {
    /// `listen`: address to serve on.
    pub listen: Option<SocketAddr>,
    /// `db`: store location.
    pub db: Option<String>,
    /// `coder`: attach read-only to a Coder database.
    pub coder: Option<bool>,
    /// `interval`: time between sweeps.
    pub interval: Option<Duration>,
    /// `timeout`: bound on one check.
    pub timeout: Option<Duration>,
    /// `parallelism`: checks in flight at once.
    pub parallelism: Option<usize>,
    /// `body_cap`: most bytes read from a report.
    pub body_cap: Option<u64>,
    /// `follow_redirects`: follow same-host redirects.
    pub follow_redirects: Option<bool>,
    /// `rise`: good results in a row before a bad proxy shows `ok`.
    pub rise: Option<u32>,
    /// `fall`: bad results in a row before an `ok` proxy shows bad.
    pub fall: Option<u32>,
    /// `admin_token`: the admin token.
    pub admin_token: Option<String>,
    /// `log_format`: `human` or `json`.
    pub log_format: Option<LogFormat>,
    /// `tls_insecure`: accept unverified certificates.
    pub tls_insecure: Option<bool>,
}

impl FileConfig {
    /// Reads and checks a configuration file. Every error is a usage error that
    /// names the file, and the key and value at fault.
    pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| usage(format!("cannot read config file {}: {err}", path.display())))?;
        FileConfig::parse(&text)
            .map_err(|message| usage(format!("config file {}: {message}", path.display())))
    }

    /// Parses the text of a configuration file; the error names the key and value.
    pub fn parse(text: &str) -> Result<FileConfig, String> {
        let table: toml::Table = toml::from_str(text).map_err(|err| err.to_string())?;
        let mut config = FileConfig::default();
        for (key, value) in &table {
            match key.as_str() {
                "listen" => {
                    config.listen = Some(parse_str(key, value, |s| {
                        s.parse::<SocketAddr>()
                            .map_err(|err| format!("{err} (expected e.g. 127.0.0.1:8080)"))
                    })?)
                }
                "db" => config.db = Some(string(key, value)?),
                "coder" => config.coder = Some(boolean(key, value)?),
                "interval" => {
                    config.interval = Some(parse_str(key, value, parse_positive_duration)?)
                }
                "timeout" => config.timeout = Some(parse_str(key, value, parse_positive_duration)?),
                "parallelism" => config.parallelism = Some(positive(key, value)?),
                "body_cap" => config.body_cap = Some(byte_size(key, value)?),
                "follow_redirects" => config.follow_redirects = Some(boolean(key, value)?),
                "rise" => config.rise = Some(positive(key, value)?),
                "fall" => config.fall = Some(positive(key, value)?),
                "admin_token" => config.admin_token = Some(string(key, value)?),
                "log_format" => {
                    config.log_format = Some(parse_str(key, value, |s| s.parse::<LogFormat>())?)
                }
                "tls_insecure" => config.tls_insecure = Some(boolean(key, value)?),
                _ => {
                    return Err(format!(
                        "unknown key `{key}` (known keys: {})",
                        KNOWN_KEYS.join(", ")
                    ));
                }
            }
        }
        Ok(config)
    }
}

fn bad(key: &str, value: &toml::Value, why: &str) -> String {
    format!("invalid value {value} for `{key}`: {why}")
}

fn string(key: &str, value: &toml::Value) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| bad(key, value, "expected a string"))
}

fn boolean(key: &str, value: &toml::Value) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| bad(key, value, "expected true or false"))
}

fn parse_str<T>(
    key: &str,
    value: &toml::Value,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, String> {
    let text = value
        .as_str()
        .ok_or_else(|| bad(key, value, "expected a string"))?;
    parse(text).map_err(|why| bad(key, value, &why))
}

fn positive<T: TryFrom<i64>>(key: &str, value: &toml::Value) -> Result<T, String> {
    let number = value
        .as_integer()
        .ok_or_else(|| bad(key, value, "expected a whole number"))?;
    if number < 1 {
        return Err(bad(key, value, "must be at least 1"));
    }
    T::try_from(number).map_err(|_| bad(key, value, "too large"))
}

fn byte_size(key: &str, value: &toml::Value) -> Result<u64, String> {
    match value {
        toml::Value::Integer(n) if *n >= 1 => Ok(n.unsigned_abs()),
        toml::Value::Integer(_) => Err(bad(key, value, "must be at least 1 byte")),
        toml::Value::String(text) => {
            parse_positive_byte_size(text).map_err(|why| bad(key, value, &why))
        }
        _ => Err(bad(key, value, "expected bytes or a size like \"1MiB\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_read_with_its_type() {
        let config = FileConfig::parse(
            r#"
            listen = "127.0.0.1:9000"
            db = "sqlite:///tmp/x.db"
            coder = false
            interval = "30s"
            timeout = "2s"
            parallelism = 64
            body_cap = "512KiB"
            follow_redirects = true
            rise = 2
            fall = 3
            admin_token = "secret"
            log_format = "json"
            tls_insecure = true
            "#,
        )
        .expect("valid file");
        assert_eq!(config.listen, "127.0.0.1:9000".parse().ok());
        assert_eq!(config.interval, Some(Duration::from_secs(30)));
        assert_eq!(config.body_cap, Some(512 * 1024));
        assert_eq!(config.rise, Some(2));
        assert_eq!(config.log_format, Some(LogFormat::Json));
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let err = FileConfig::parse("intervall = \"1m\"").expect_err("must fail");
        assert!(err.contains("unknown key `intervall`"), "{err}");
    }

    #[test]
    fn a_bad_value_names_the_key_and_the_value() {
        let err = FileConfig::parse("timeout = \"soon\"").expect_err("must fail");
        assert!(
            err.contains("`timeout`") && err.contains("\"soon\""),
            "{err}"
        );
        let err = FileConfig::parse("parallelism = 0").expect_err("must fail");
        assert!(err.contains("`parallelism`") && err.contains('0'), "{err}");
        let err = FileConfig::parse("body_cap = 12.5").expect_err("must fail");
        assert!(err.contains("`body_cap`") && err.contains("12.5"), "{err}");
    }

    #[test]
    fn a_body_cap_may_be_a_number_of_bytes() {
        let config = FileConfig::parse("body_cap = 4096").expect("valid");
        assert_eq!(config.body_cap, Some(4096));
    }
}

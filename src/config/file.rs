//! The optional TOML configuration file.
//!
//! One flat table whose keys are the long flag names with `_` for `-`
//! (`body_cap`, `follow_redirects`, ...): the groups' fields. Each group is read
//! from the whole table and takes its own keys; a key that no group declares is
//! refused with the key named, so a typo never silently falls back to a default.
//!
//! Each value is read by the function its field names (see [`super::file_value`]),
//! which gives only the reason for a refusal; [`FileConfig::parse`] adds the key
//! and the value, so every message reads ``invalid value {value} for `{key}`: {reason}``.

use super::check::CheckLayer;
use super::layer::{HelpDefault, Layer};
use super::notify::NotifyLayer;
use super::oidc::OidcLayer;
use super::probe::ProbeLayer;
use super::server::ServerLayer;
use super::store::StoreLayer;
use crate::exit::usage;
use clap::Args;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// The optional configuration file.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigFlag {
    /// TOML configuration file; flags and PROXYHEALTH_* variables override its
    /// keys (see proxyhealth.example.toml)
    #[arg(
        long,
        env = "PROXYHEALTH_CONFIG",
        value_name = "FILE",
        help_default = "none"
    )]
    pub config: Option<PathBuf>,
}

/// What a configuration file sets, group by group; `None` for every key it
/// leaves out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileConfig {
    /// The store's keys.
    pub store: StoreLayer,
    /// The probe's keys.
    pub probe: ProbeLayer,
    /// The server's keys (read by `check` too, which ignores them).
    pub server: ServerLayer,
    /// The notifications' keys (read by `serve` and `notify test`).
    pub notify: NotifyLayer,
    /// `check`'s own keys (read by `check` only).
    pub check: CheckLayer,
    /// Dashboard sign-in's keys (read by `serve`).
    pub oidc: OidcLayer,
}

/// Every key a configuration file may hold: the groups' keys, in `--help` order.
pub fn known_keys() -> Vec<&'static str> {
    [
        StoreLayer::KEYS,
        ProbeLayer::KEYS,
        ServerLayer::KEYS,
        NotifyLayer::KEYS,
        CheckLayer::KEYS,
        OidcLayer::KEYS,
    ]
    .concat()
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
        let known = known_keys();
        if let Some(key) = table.keys().find(|key| !known.contains(&key.as_str())) {
            return Err(format!(
                "unknown key `{key}` (known keys: {})",
                known.join(", ")
            ));
        }
        Ok(FileConfig {
            store: group(&table)?,
            probe: group(&table)?,
            server: group(&table)?,
            notify: group(&table)?,
            check: group(&table)?,
            oidc: group(&table)?,
        })
    }
}

/// Reads one group's keys from the table; a refused value is reported with its
/// key and value.
fn group<T: Layer + DeserializeOwned>(table: &toml::Table) -> Result<T, String> {
    serde_path_to_error::deserialize(toml::Value::Table(table.clone())).map_err(|err| {
        let key = err.path().to_string();
        let why = err.inner().message();
        match table.get(&key) {
            Some(value) => bad(&key, value, why),
            None => why.to_owned(),
        }
    })
}

fn bad(key: &str, value: &toml::Value, why: &str) -> String {
    format!("invalid value {value} for `{key}`: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::settings::LogFormat;
    use crate::config::units::parse_positive_duration;
    use std::time::Duration;

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
        assert_eq!(config.server.listen, "127.0.0.1:9000".parse().ok());
        assert_eq!(config.server.interval, Some(Duration::from_secs(30)));
        assert_eq!(config.probe.body_cap, Some(512 * 1024));
        assert_eq!(config.server.rise, Some(2));
        assert_eq!(config.server.log_format, Some(LogFormat::Json));
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
    fn every_refusal_reads_word_for_word_as_before() {
        let duration = parse_positive_duration("soon").expect_err("not a duration");
        let cases = [
            ("timeout = \"soon\"", format!("invalid value \"soon\" for `timeout`: {duration}")),
            ("timeout = \"0s\"", "invalid value \"0s\" for `timeout`: must be more than zero".to_owned()),
            ("interval = 5", "invalid value 5 for `interval`: expected a string".to_owned()),
            ("parallelism = 0", "invalid value 0 for `parallelism`: must be at least 1".to_owned()),
            ("parallelism = \"8\"", "invalid value \"8\" for `parallelism`: expected a whole number".to_owned()),
            ("rise = 5000000000", "invalid value 5000000000 for `rise`: too large".to_owned()),
            ("fall = -1", "invalid value -1 for `fall`: must be at least 1".to_owned()),
            ("body_cap = 12.5", "invalid value 12.5 for `body_cap`: expected bytes or a size like \"1MiB\"".to_owned()),
            ("body_cap = 0", "invalid value 0 for `body_cap`: must be at least 1 byte".to_owned()),
            (
                "body_cap = \"3 parsecs\"",
                "invalid value \"3 parsecs\" for `body_cap`: unknown size unit \"parsecs\" (expected B, KiB, MiB, GiB, KB, MB or GB)".to_owned(),
            ),
            ("coder = \"yes\"", "invalid value \"yes\" for `coder`: expected true or false".to_owned()),
            ("db = 5", "invalid value 5 for `db`: expected a string".to_owned()),
            (
                "listen = \"nowhere\"",
                "invalid value \"nowhere\" for `listen`: invalid socket address syntax (expected e.g. 127.0.0.1:8080)".to_owned(),
            ),
            (
                "tls_ca_mode = \"both\"",
                "invalid value \"both\" for `tls_ca_mode`: unknown CA mode \"both\": expected add (with the system's roots) or replace (instead of them)".to_owned(),
            ),
            ("tls_ca_file = 5", "invalid value 5 for `tls_ca_file`: expected a string".to_owned()),
            (
                "tls_client_key = \"\"",
                "invalid value \"\" for `tls_client_key`: expected a file path, not an empty string".to_owned(),
            ),
            ("latency_warning = \"0s\"", "invalid value \"0s\" for `latency_warning`: must be more than zero".to_owned()),
            (
                "tls_expiry_warning = \"14\"",
                "invalid value \"14\" for `tls_expiry_warning`: \"14\" has no unit (write e.g. 14s or 14ms)".to_owned(),
            ),
            (
                "log_format = \"xml\"",
                "invalid value \"xml\" for `log_format`: unknown log format \"xml\": expected human or json".to_owned(),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(FileConfig::parse(text), Err(expected), "{text}");
        }
    }

    #[test]
    fn an_unknown_key_lists_every_known_key_in_help_order() {
        let err = FileConfig::parse("listen = \"127.0.0.1:9\"\nbogus = 1").expect_err("must fail");
        assert_eq!(
            err,
            "unknown key `bogus` (known keys: db, coder, coordination_schema, timeout, parallelism, body_cap, \
             follow_redirects, tls_insecure, dns_server, source_address, tls_ca_file, tls_ca_mode, tls_client_cert, \
             tls_client_key, tls_expiry_warning, latency_warning, listen, interval, rise, fall, \
             admin_token, second_opinion, public_reads, log_format, history_retention, audit_retention, \
             vantage, vantage_quorum, notify_webhook, \
             notify_slack, notify_secret, notify_timeout, notify_retry_for, notify_damping, notify_partial, \
             public_url, allow_empty, oidc_issuer_url, oidc_client_id, oidc_client_secret, oidc_scopes, \
             oidc_role_claim, oidc_admin_values, oidc_operator_values, oidc_default_role, \
             oidc_allowed_domains, session_lifetime)"
        );
    }

    #[test]
    fn a_body_cap_may_be_a_number_of_bytes() {
        let config = FileConfig::parse("body_cap = 4096").expect("valid");
        assert_eq!(config.probe.body_cap, Some(4096));
    }
}

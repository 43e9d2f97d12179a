//! How each proxy is checked: the probe settings `serve` and `check` share,
//! applied over the engine's own defaults.

use super::file_value;
use super::layer::{HelpDefault, set, settings_group};
use super::units::{
    format_byte_size, parse_dns_server, parse_positive_byte_size, parse_positive_duration,
    parse_positive_usize,
};
use clap::builder::BoolishValueParser;
use proxyhealth_engine::{EngineOptions, RedirectPolicy};
use std::net::SocketAddr;
use std::time::Duration;

settings_group! {
    /// How each proxy is checked, as the flags (with their variables) or the file
    /// give it; shared by `serve` and `check`.
    pub struct ProbeLayer {
        /// Bound on one check, from connecting to the last byte of the report
        #[arg(
            long,
            env = "PROXYHEALTH_TIMEOUT",
            value_name = "DURATION",
            value_parser = parse_positive_duration,
            help_default = humantime::format_duration(EngineOptions::default().timeout)
        )]
        #[serde(deserialize_with = "file_value::positive_duration")]
        pub timeout: Option<Duration>,

        /// Checks in flight at once
        #[arg(
            long,
            env = "PROXYHEALTH_PARALLELISM",
            value_name = "N",
            value_parser = parse_positive_usize,
            help_default = EngineOptions::default().parallelism
        )]
        #[serde(deserialize_with = "file_value::positive")]
        pub parallelism: Option<usize>,

        /// Most bytes read from one report: bytes, or with a unit (512KiB, 1MiB)
        #[arg(
            long,
            env = "PROXYHEALTH_BODY_CAP",
            value_name = "SIZE",
            value_parser = parse_positive_byte_size,
            help_default = format_byte_size(EngineOptions::default().body_cap)
        )]
        #[serde(deserialize_with = "file_value::byte_size")]
        pub body_cap: Option<u64>,

        /// Follow redirects that stay on the same host (up to 10) instead of
        /// reporting them as unhealthy
        #[arg(
            long,
            env = "PROXYHEALTH_FOLLOW_REDIRECTS",
            value_name = "BOOL",
            num_args = 0..=1,
            default_missing_value = "true",
            value_parser = BoolishValueParser::new(),
            help_default = follows(EngineOptions::default().redirects)
        )]
        #[serde(deserialize_with = "file_value::boolean")]
        pub follow_redirects: Option<bool>,

        /// Accept TLS certificates that do not verify; for test fleets only
        #[arg(
            long,
            env = "PROXYHEALTH_TLS_INSECURE",
            value_name = "BOOL",
            num_args = 0..=1,
            default_missing_value = "true",
            value_parser = BoolishValueParser::new(),
            help_default = EngineOptions::default().tls_insecure
        )]
        #[serde(deserialize_with = "file_value::boolean")]
        pub tls_insecure: Option<bool>,

        /// Look proxies' host names up at this DNS server (IP or IP:PORT, port 53
        /// by default), asked directly with no hosts file, instead of the
        /// system's resolver; either way the lookup counts inside the timeout
        #[arg(
            long,
            env = "PROXYHEALTH_DNS_SERVER",
            value_name = "ADDR",
            value_parser = parse_dns_server,
            help_default = "the system's resolver"
        )]
        #[serde(deserialize_with = "file_value::dns_server")]
        pub dns_server: Option<SocketAddr>,
    }
}

impl ProbeLayer {
    /// Puts the values this layer has over `engine`'s.
    pub fn apply(self, engine: &mut EngineOptions) {
        set(&mut engine.timeout, self.timeout);
        set(&mut engine.parallelism, self.parallelism);
        set(&mut engine.body_cap, self.body_cap);
        set(&mut engine.redirects, self.follow_redirects.map(policy));
        set(&mut engine.tls_insecure, self.tls_insecure);
        set(&mut engine.dns_server, self.dns_server.map(Some));
    }
}

/// The redirect policy `--follow-redirects` asks for.
fn policy(follow: bool) -> RedirectPolicy {
    if follow {
        RedirectPolicy::SameHost
    } else {
        RedirectPolicy::None
    }
}

/// Whether a redirect policy follows redirects: the inverse of [`policy`].
fn follows(policy: RedirectPolicy) -> bool {
    policy != RedirectPolicy::None
}

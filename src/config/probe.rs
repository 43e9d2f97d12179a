//! How each proxy is checked: the probe settings `serve` and `check` share,
//! applied over the engine's own defaults.

use super::file_value;
use super::layer::{HelpDefault, set, settings_group};
use super::units::{
    format_byte_size, format_duration, parse_ca_mode, parse_dns_server, parse_duration,
    parse_positive_byte_size, parse_positive_duration, parse_positive_usize,
};
use clap::builder::BoolishValueParser;
use proxyhealth_engine::{CaMode, EngineOptions, RedirectPolicy};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
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
            help_default = format_duration(EngineOptions::default().timeout)
        )]
        #[serde(deserialize_with = "file_value::positive_duration")]
        pub timeout: Option<Duration>,

        /// Answers read and judged at once (checks start ahead of them, up to the open-files limit)
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

        /// Make every check from this local address (a replica's vantage on a
        /// host with several addresses); a proxy of the other family is then
        /// unreachable
        #[arg(
            long,
            env = "PROXYHEALTH_SOURCE_ADDRESS",
            value_name = "IP",
            help_default = "the system picks"
        )]
        #[serde(deserialize_with = "file_value::ip_addr")]
        pub source_address: Option<IpAddr>,

        /// PEM file of one or more CA certificates trusted for proxies (a
        /// company CA); read at start, a bad file stops the start
        #[arg(
            long,
            env = "PROXYHEALTH_TLS_CA_FILE",
            value_name = "FILE",
            help_default = "none"
        )]
        #[serde(deserialize_with = "file_value::path")]
        pub tls_ca_file: Option<PathBuf>,

        /// Trust --tls-ca-file in addition to the system's roots (add) or
        /// instead of them (replace)
        #[arg(
            long,
            env = "PROXYHEALTH_TLS_CA_MODE",
            value_name = "add|replace",
            value_parser = parse_ca_mode,
            help_default = EngineOptions::default().tls_ca_mode
        )]
        #[serde(deserialize_with = "file_value::ca_mode")]
        pub tls_ca_mode: Option<CaMode>,

        /// PEM client certificate (leaf first) sent to proxies that require one
        /// (mutual TLS); needs --tls-client-key
        #[arg(
            long,
            env = "PROXYHEALTH_TLS_CLIENT_CERT",
            value_name = "FILE",
            help_default = "none"
        )]
        #[serde(deserialize_with = "file_value::path")]
        pub tls_client_cert: Option<PathBuf>,

        /// PEM private key of --tls-client-cert (PKCS #8, PKCS #1 or SEC1); must
        /// match the certificate
        #[arg(
            long,
            env = "PROXYHEALTH_TLS_CLIENT_KEY",
            value_name = "FILE",
            help_default = "none"
        )]
        #[serde(deserialize_with = "file_value::path")]
        pub tls_client_key: Option<PathBuf>,

        /// Warn when a proxy's TLS certificate expires within this long (the
        /// proxy stays ok); 0s turns the warning off
        #[arg(
            long,
            env = "PROXYHEALTH_TLS_EXPIRY_WARNING",
            value_name = "DURATION",
            value_parser = parse_duration,
            help_default = format_duration(EngineOptions::default().tls_expiry_warning)
        )]
        #[serde(deserialize_with = "file_value::duration")]
        pub tls_expiry_warning: Option<Duration>,

        /// Warn when a proxy answers correctly but slower than this (the proxy
        /// stays ok)
        #[arg(
            long,
            env = "PROXYHEALTH_LATENCY_WARNING",
            value_name = "DURATION",
            value_parser = parse_positive_duration,
            help_default = "off"
        )]
        #[serde(deserialize_with = "file_value::positive_duration")]
        pub latency_warning: Option<Duration>,
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
        set(&mut engine.source_address, self.source_address.map(Some));
        set(&mut engine.tls_ca_file, self.tls_ca_file.map(Some));
        set(&mut engine.tls_ca_mode, self.tls_ca_mode);
        set(&mut engine.tls_client_cert, self.tls_client_cert.map(Some));
        set(&mut engine.tls_client_key, self.tls_client_key.map(Some));
        set(&mut engine.tls_expiry_warning, self.tls_expiry_warning);
        set(&mut engine.latency_warning, self.latency_warning.map(Some));
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

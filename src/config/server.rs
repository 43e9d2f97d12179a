//! The settings only a long-running server has: where it listens, how often it
//! sweeps, the hysteresis, the admin token, who may read without it and the log
//! format.

use super::file_value;
use super::layer::{HelpDefault, set, settings_group};
use super::settings::{DEFAULT_LISTEN, LogFormat, ServeSettings};
use super::units::{format_duration, parse_positive_duration};
use clap::builder::BoolishValueParser;
use proxyhealth_core::{Hysteresis, Quorum, VantageName};
use proxyhealth_engine::EngineOptions;
use proxyhealth_server::ServiceConfig;
use proxyhealth_store::audit::retention::DEFAULT_AUDIT_RETENTION;
use proxyhealth_store::history::retention::DEFAULT_RETENTION;
use std::net::SocketAddr;
use std::time::Duration;

settings_group! {
    /// The settings only a long-running server has, as the flags (with their
    /// variables) or the file give them.
    pub struct ServerLayer {
        /// Address to listen on; port 0 picks a free port (the address is printed)
        #[arg(
            long,
            env = "PROXYHEALTH_LISTEN",
            value_name = "ADDR",
            help_default = DEFAULT_LISTEN
        )]
        #[serde(deserialize_with = "file_value::socket_addr")]
        pub listen: Option<SocketAddr>,

        /// Time between sweeps; the first sweep runs at start
        #[arg(
            long,
            env = "PROXYHEALTH_INTERVAL",
            value_name = "DURATION",
            value_parser = parse_positive_duration,
            help_default = format_duration(EngineOptions::default().interval)
        )]
        #[serde(deserialize_with = "file_value::positive_duration")]
        pub interval: Option<Duration>,

        /// Good results in a row before a failing proxy shows `ok` again
        #[arg(
            long,
            env = "PROXYHEALTH_RISE",
            value_name = "N",
            value_parser = clap::value_parser!(u32).range(1..),
            help_default = streak(Hysteresis::default().rise)
        )]
        #[serde(deserialize_with = "file_value::positive")]
        pub rise: Option<u32>,

        /// Bad results in a row before an `ok` proxy shows its failure
        #[arg(
            long,
            env = "PROXYHEALTH_FALL",
            value_name = "N",
            value_parser = clap::value_parser!(u32).range(1..),
            help_default = streak(Hysteresis::default().fall)
        )]
        #[serde(deserialize_with = "file_value::positive")]
        pub fall: Option<u32>,

        /// The admin token for the API; when unset, one is generated at the first
        /// start and printed once
        #[arg(
            long,
            env = "PROXYHEALTH_ADMIN_TOKEN",
            value_name = "TOKEN",
            hide_env_values = true,
            help_default = "generated"
        )]
        #[serde(deserialize_with = "file_value::string")]
        pub admin_token: Option<String>,

        /// With two or more replicas on one PostgreSQL, have a second replica
        /// confirm a failing check of an `ok` proxy before its status changes
        #[arg(
            long,
            env = "PROXYHEALTH_SECOND_OPINION",
            value_name = "BOOL",
            num_args = 0..=1,
            default_missing_value = "true",
            value_parser = BoolishValueParser::new(),
            help_default = proxyhealth_cluster::settings::SECOND_OPINION
        )]
        #[serde(deserialize_with = "file_value::boolean")]
        pub second_opinion: Option<bool>,

        /// Let readers without a token see the summary, the events,
        /// `/api/v2/regions`, `/healthz` and `/metrics`; `false` makes them need
        /// the admin token (proxies' URLs and errors stay admin-only either way)
        #[arg(
            long,
            env = "PROXYHEALTH_PUBLIC_READS",
            value_name = "BOOL",
            num_args = 0..=1,
            default_missing_value = "true",
            value_parser = BoolishValueParser::new(),
            help_default = ServiceConfig::default().public_reads
        )]
        #[serde(deserialize_with = "file_value::boolean")]
        pub public_reads: Option<bool>,

        /// Log format on stderr; RUST_LOG sets the level
        #[arg(
            long,
            env = "PROXYHEALTH_LOG_FORMAT",
            value_name = "FORMAT",
            value_enum,
            help_default = LogFormat::default()
        )]
        #[serde(deserialize_with = "file_value::log_format")]
        pub log_format: Option<LogFormat>,

        /// How long persisted history (status transitions and hourly rollups of
        /// checks) is kept; older rows are pruned in the background
        #[arg(
            long,
            env = "PROXYHEALTH_HISTORY_RETENTION",
            value_name = "DURATION",
            value_parser = parse_positive_duration,
            help_default = format_duration(DEFAULT_RETENTION)
        )]
        #[serde(deserialize_with = "file_value::positive_duration")]
        pub history_retention: Option<Duration>,

        /// How long the audit log (what people did through the API) is
        /// kept; older entries are pruned in the background
        #[arg(
            long,
            env = "PROXYHEALTH_AUDIT_RETENTION",
            value_name = "DURATION",
            value_parser = parse_positive_duration,
            help_default = format_duration(DEFAULT_AUDIT_RETENTION)
        )]
        #[serde(deserialize_with = "file_value::positive_duration")]
        pub audit_retention: Option<Duration>,

        /// The vantage this service's own checks come from (replicas naming
        /// the same one share its probing); agents send other vantages'
        #[arg(
            long,
            env = "PROXYHEALTH_VANTAGE",
            value_name = "NAME",
            value_parser = parse_vantage,
            help_default = VantageName::DEFAULT
        )]
        #[serde(deserialize_with = "file_value::vantage")]
        pub vantage: Option<VantageName>,

        /// How many vantages with a fresh result must see a proxy fail before
        /// it is down overall: `majority` or a whole number; fewer failing
        /// vantages are a partial outage (`ok`, with a warning)
        #[arg(
            long,
            env = "PROXYHEALTH_VANTAGE_QUORUM",
            value_name = "QUORUM",
            value_parser = parse_quorum,
            help_default = Quorum::Majority
        )]
        #[serde(deserialize_with = "file_value::quorum")]
        pub vantage_quorum: Option<Quorum>,
    }
}

fn parse_vantage(text: &str) -> Result<VantageName, String> {
    VantageName::new(text).map_err(|err| err.detail)
}

fn parse_quorum(text: &str) -> Result<Quorum, String> {
    text.parse()
        .map_err(|err: proxyhealth_core::vantage::QuorumError| err.to_string())
}

impl ServerLayer {
    /// Puts the values this layer has over `settings`' (its engine's interval and
    /// hysteresis included). An empty admin token counts as none given (the
    /// stored one is kept, or one is generated), and it hides the file's token.
    pub fn apply(self, settings: &mut ServeSettings) {
        set(&mut settings.listen, self.listen);
        set(&mut settings.engine.interval, self.interval);
        set(&mut settings.engine.hysteresis.rise, self.rise);
        set(&mut settings.engine.hysteresis.fall, self.fall);
        set(
            &mut settings.admin_token,
            self.admin_token
                .map(|token| Some(token).filter(|t| !t.is_empty())),
        );
        set(&mut settings.log_format, self.log_format);
        set(&mut settings.second_opinion, self.second_opinion);
        set(&mut settings.public_reads, self.public_reads);
        set(&mut settings.history_retention, self.history_retention);
        set(&mut settings.audit_retention, self.audit_retention);
        set(&mut settings.engine.vantage, self.vantage);
        set(&mut settings.engine.quorum, self.vantage_quorum);
    }
}

/// A rise or fall default as the help shows it: 1 is no damping at all.
fn streak(results: u32) -> String {
    if results == 1 {
        "1, no damping".to_owned()
    } else {
        results.to_string()
    }
}

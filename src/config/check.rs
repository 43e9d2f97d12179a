//! The settings only `check` has: whether an empty list of proxies passes.

use super::file_value;
use super::layer::{HelpDefault, set, settings_group};
use super::settings::CheckSettings;
use clap::builder::BoolishValueParser;

settings_group! {
    /// The settings only `check` has, as the flags (with their variables) or
    /// the file give them.
    pub struct CheckLayer {
        /// Exit 0 when there is nothing to check (an empty targets file or
        /// store) instead of failing with exit code 2, so that an accidentally
        /// empty list cannot pass a CI job unnoticed
        #[arg(
            long,
            env = "PROXYHEALTH_ALLOW_EMPTY",
            value_name = "BOOL",
            num_args = 0..=1,
            default_missing_value = "true",
            value_parser = BoolishValueParser::new(),
            help_default = false
        )]
        #[serde(deserialize_with = "file_value::boolean")]
        pub allow_empty: Option<bool>,
    }
}

impl CheckLayer {
    /// Puts the values this layer has over `settings`'.
    pub fn apply(self, settings: &mut CheckSettings) {
        set(&mut settings.allow_empty, self.allow_empty);
    }
}

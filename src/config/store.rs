//! Where the proxies are stored: the store settings `serve` and `check` share.

use super::file_value;
use super::layer::{HelpDefault, set, settings_group};
use super::settings::StoreSettings;
use clap::builder::BoolishValueParser;

settings_group! {
    /// Where the proxies are stored, as the flags (with their variables) or the
    /// file give it.
    pub struct StoreLayer {
        /// The store: sqlite://PATH, a bare file path, postgres://..., or memory:
        #[arg(
            long,
            env = "PROXYHEALTH_DB",
            value_name = "SPEC",
            help_default = "the SQLite file proxyhealth.db in the user's data directory"
        )]
        #[serde(deserialize_with = "file_value::string")]
        pub db: Option<String>,

        /// Attach read-only to an existing Coder database (--db postgres://...):
        /// check Coder's proxies without writing to its tables
        #[arg(
            long,
            env = "PROXYHEALTH_CODER",
            value_name = "BOOL",
            num_args = 0..=1,
            default_missing_value = "true",
            value_parser = BoolishValueParser::new(),
            help_default = StoreSettings::default().coder
        )]
        #[serde(deserialize_with = "file_value::boolean")]
        pub coder: Option<bool>,

        /// With --coder: a schema of the Coder database (made when missing) for
        /// proxyhealth's own coordination state, so several attached replicas
        /// share the probing and one view; Coder's tables are still only read
        #[arg(
            long,
            env = "PROXYHEALTH_COORDINATION_SCHEMA",
            value_name = "NAME",
            help_default = "none: each attached replica probes alone, as Coder does"
        )]
        #[serde(deserialize_with = "file_value::string")]
        pub coordination_schema: Option<String>,
    }
}

impl StoreLayer {
    /// Puts the values this layer has over `store`'s.
    pub fn apply(self, store: &mut StoreSettings) {
        set(&mut store.db, self.db.map(Some));
        set(&mut store.coder, self.coder);
        set(
            &mut store.coordination_schema,
            self.coordination_schema.map(Some),
        );
    }
}

//! Printing results for people (tables, colours) and for programs (JSON).

pub mod certificate;
pub mod check_json;
pub mod history;
pub mod replicas;
pub mod style;
pub mod table;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// JSON for programs: the server's answer byte for byte (`proxies`,
    /// `replicas`), or `check`'s own document (docs/api.md, "The CLI's JSON").
    Json,
}

//! Printing results for people (tables, colours) and for programs (JSON).

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
    /// The API's JSON, for programs.
    Json,
}

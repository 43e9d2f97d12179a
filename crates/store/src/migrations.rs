//! Our migrations, embedded in the binary: the SQL files under `migrations/`,
//! one list per backend.
//!
//! Each list is what sqlx's `migrate!` macro makes of the same directory (the
//! version and description from the file name, the checksum of the text, no
//! transaction when the file starts with `-- no-transaction`), so databases
//! migrated by either agree. The macro is not used because it needs sqlx's
//! `macros` feature, whose proc-macro links a second copy of sqlx, SQLite and
//! the TLS library, built for the compiler: about a third of a cold release
//! build. A test checks each list against its directory, read as the macro
//! reads it, so a file added there and not here fails the tests.

use std::borrow::Cow;
use std::sync::LazyLock;

use sqlx::SqlStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// One migration file: its name (`<version>_<description>.sql`) and its text.
type File = (&'static str, &'static str);

/// The SQLite migrations, oldest first.
const SQLITE: &[File] = &[
    (
        "20260101000000_init.sql",
        include_str!("../migrations/sqlite/20260101000000_init.sql"),
    ),
    (
        "20261201000000_history.sql",
        include_str!("../migrations/sqlite/20261201000000_history.sql"),
    ),
    (
        "20261216000000_notifications.sql",
        include_str!("../migrations/sqlite/20261216000000_notifications.sql"),
    ),
    (
        "20261220000000_vantages.sql",
        include_str!("../migrations/sqlite/20261220000000_vantages.sql"),
    ),
    (
        "20261221000000_vantage_readings.sql",
        include_str!("../migrations/sqlite/20261221000000_vantage_readings.sql"),
    ),
    (
        "20261222000000_personal_tokens.sql",
        include_str!("../migrations/sqlite/20261222000000_personal_tokens.sql"),
    ),
    (
        "20261222000100_audit.sql",
        include_str!("../migrations/sqlite/20261222000100_audit.sql"),
    ),
    (
        "20261223000000_maintenance.sql",
        include_str!("../migrations/sqlite/20261223000000_maintenance.sql"),
    ),
    (
        "20261224000000_sessions.sql",
        include_str!("../migrations/sqlite/20261224000000_sessions.sql"),
    ),
    (
        "20261225000000_vantage_history.sql",
        include_str!("../migrations/sqlite/20261225000000_vantage_history.sql"),
    ),
    (
        "20261228000000_vantage_history_by_name.sql",
        include_str!("../migrations/sqlite/20261228000000_vantage_history_by_name.sql"),
    ),
    (
        "20261229000000_vantage_agents.sql",
        include_str!("../migrations/sqlite/20261229000000_vantage_agents.sql"),
    ),
];

/// The PostgreSQL migrations, oldest first.
const POSTGRES: &[File] = &[
    (
        "20260101000000_init.sql",
        include_str!("../migrations/postgres/20260101000000_init.sql"),
    ),
    (
        "20260201000000_replicas.sql",
        include_str!("../migrations/postgres/20260201000000_replicas.sql"),
    ),
    (
        "20261201000000_history.sql",
        include_str!("../migrations/postgres/20261201000000_history.sql"),
    ),
    (
        "20261216000000_notifications.sql",
        include_str!("../migrations/postgres/20261216000000_notifications.sql"),
    ),
    (
        "20261220000000_vantages.sql",
        include_str!("../migrations/postgres/20261220000000_vantages.sql"),
    ),
    (
        "20261221000000_vantage_readings.sql",
        include_str!("../migrations/postgres/20261221000000_vantage_readings.sql"),
    ),
    (
        "20261222000000_personal_tokens.sql",
        include_str!("../migrations/postgres/20261222000000_personal_tokens.sql"),
    ),
    (
        "20261222000100_audit.sql",
        include_str!("../migrations/postgres/20261222000100_audit.sql"),
    ),
    (
        "20261223000000_maintenance.sql",
        include_str!("../migrations/postgres/20261223000000_maintenance.sql"),
    ),
    (
        "20261224000000_sessions.sql",
        include_str!("../migrations/postgres/20261224000000_sessions.sql"),
    ),
    (
        "20261225000000_vantage_history.sql",
        include_str!("../migrations/postgres/20261225000000_vantage_history.sql"),
    ),
    (
        "20261227000000_vantage_groups.sql",
        include_str!("../migrations/postgres/20261227000000_vantage_groups.sql"),
    ),
    (
        "20261228000000_vantage_history_by_name.sql",
        include_str!("../migrations/postgres/20261228000000_vantage_history_by_name.sql"),
    ),
    (
        "20261229000000_vantage_agents.sql",
        include_str!("../migrations/postgres/20261229000000_vantage_agents.sql"),
    ),
];

/// The SQLite migrator.
pub(crate) static SQLITE_MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| migrator(SQLITE));

/// The PostgreSQL migrator.
pub(crate) static POSTGRES_MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| migrator(POSTGRES));

/// The migrator of `files`.
fn migrator(files: &'static [File]) -> Migrator {
    Migrator::with_migrations(
        files
            .iter()
            .map(|&(name, sql)| migration(name, sql))
            .collect(),
    )
}

/// One migration, named as sqlx names the file `name`: the digits before the
/// first `_` are the version, the rest without `.sql` (and `_` read as spaces)
/// the description. The names are the constants above, checked by the tests.
fn migration(name: &'static str, sql: &'static str) -> Migration {
    let (version, rest) = name.split_once('_').unwrap_or(("0", name));
    let description = rest.trim_end_matches(".sql").replace('_', " ");
    Migration::new(
        version.parse().unwrap_or_default(),
        Cow::Owned(description),
        MigrationType::Simple,
        SqlStr::from_static(sql),
        sql.starts_with("-- no-transaction"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Checks `embedded` against the directory `dir`, resolved by sqlx at run
    /// time as `migrate!` resolves it at build time.
    async fn same_as_directory(embedded: &Migrator, dir: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let read = Migrator::new(path).await.expect("the migrations directory");
        let shown = |migrator: &Migrator| {
            migrator
                .iter()
                .map(|m| {
                    (
                        m.version,
                        m.description.to_string(),
                        m.migration_type,
                        m.checksum.to_vec(),
                        m.no_tx,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            shown(embedded),
            shown(&read),
            "the embedded list differs from {dir}: list every file there in migrations.rs"
        );
        assert!(read.iter().next().is_some(), "{dir} holds migrations");
    }

    #[tokio::test]
    async fn the_sqlite_migrations_are_every_file_of_their_directory() {
        same_as_directory(&SQLITE_MIGRATOR, "migrations/sqlite").await;
    }

    #[tokio::test]
    async fn the_postgres_migrations_are_every_file_of_their_directory() {
        same_as_directory(&POSTGRES_MIGRATOR, "migrations/postgres").await;
    }
}

//! proxyhealth's own tables in a schema of an attached Coder database, so
//! replicas attached read-only to Coder can still coordinate.
//!
//! Attached to Coder, proxyhealth never writes to Coder's tables. When the
//! operator names a schema for proxyhealth's own state
//! (`--coordination-schema`), a second pool opens on the same database with
//! `search_path` set to that schema first and `public` after it: our tables
//! are created and written there, while Coder's `workspace_proxies` is still
//! found (read) by the same unqualified queries as on our own database.
//!
//! The tables are those of our PostgreSQL migrations after the first (which
//! creates Coder's table), so there is one definition of each. Their foreign
//! keys to `workspace_proxies` are left out: a constraint would tie Coder's
//! table to ours (and need a privilege on it); rows of proxies that are gone
//! are pruned instead.

use std::borrow::Cow;

use sqlx::migrate::{Migration, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};

use crate::StoreError;

/// The clause our migrations use to tie a row to its proxy; left out of the
/// schema made beside a Coder database.
const PROXY_FOREIGN_KEY: &str = " REFERENCES workspace_proxies (id) ON DELETE CASCADE";

/// The longest identifier PostgreSQL keeps (NAMEDATALEN - 1).
const MAX_NAME: usize = 63;

/// Checks that `name` is a plain schema name (a letter or `_`, then letters,
/// digits or `_`, at most 63 bytes, not `public` nor a `pg_` name), so it can
/// be written into `search_path` and `CREATE SCHEMA` without quoting surprises.
pub fn check_schema_name(name: &str) -> Result<(), StoreError> {
    let refuse = |why: &str| {
        Err(StoreError::Config(format!(
            "bad coordination schema {name:?}: {why}"
        )))
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return refuse("it is empty"),
        Some(first) if !(first.is_ascii_lowercase() || first == '_') => {
            return refuse("it must start with a lowercase letter or _");
        }
        Some(_) => {}
    }
    if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return refuse("use lowercase letters, digits and _ only");
    }
    if name.len() > MAX_NAME {
        return refuse("it is longer than 63 bytes");
    }
    if name == "public" || name.starts_with("pg_") || name == "information_schema" {
        return refuse("it is Coder's or PostgreSQL's own schema; name one for proxyhealth");
    }
    Ok(())
}

/// The `search_path` of the own-state pool: our schema first, Coder's after.
pub fn search_path(schema: &str) -> String {
    format!("{schema}, public")
}

/// The migrations that make proxyhealth's own tables beside a Coder database:
/// every migration of `all` but the first (Coder's table and our settings),
/// without the foreign keys to `workspace_proxies`.
pub fn own_state_migrator(all: &Migrator) -> Migrator {
    let migrations = all
        .iter()
        .skip(1)
        .map(|migration| {
            let sql = migration.sql.as_str().replace(PROXY_FOREIGN_KEY, "");
            Migration::new(
                migration.version,
                Cow::Owned(migration.description.to_string()),
                migration.migration_type,
                AssertSqlSafe(sql).into_sql_str(),
                migration.no_tx,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::POSTGRES_MIGRATOR as ALL;

    #[test]
    fn the_own_state_schema_leaves_out_coders_table_and_every_tie_to_it() {
        let own = own_state_migrator(&ALL);
        assert_eq!(own.iter().count(), ALL.iter().count() - 1);
        let first = ALL.iter().next().expect("an init migration");
        assert!(
            first
                .sql
                .as_str()
                .contains("CREATE TABLE workspace_proxies")
        );
        for migration in own.iter() {
            let sql = migration.sql.as_str();
            // foreign keys between our own tables stay
            let references_coders = sql
                .split("REFERENCES")
                .skip(1)
                .any(|rest| rest.trim_start().starts_with("workspace_proxies"));
            assert!(
                !sql.contains("workspace_proxies (id)") && !references_coders,
                "migration {} still ties a table to Coder's: {sql}",
                migration.version
            );
            assert!(!sql.contains("CREATE TABLE workspace_proxies"));
        }
        let replicas = ALL
            .iter()
            .find(|m| m.sql.as_str().contains("CREATE TABLE proxyhealth_checks"))
            .expect("the replicas migration");
        assert!(
            replicas.sql.as_str().contains(PROXY_FOREIGN_KEY),
            "the clause to leave out is spelled as in the migration"
        );
    }

    #[test]
    fn schema_names_are_plain_identifiers_that_are_not_coders() {
        for good in ["proxyhealth", "_ph", "ph_2"] {
            assert_eq!(check_schema_name(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("", "it is empty"),
            ("Proxyhealth", "must start with a lowercase letter"),
            ("2ph", "must start with a lowercase letter"),
            ("ph; DROP TABLE x", "lowercase letters, digits and _ only"),
            ("ph-x", "lowercase letters, digits and _ only"),
            ("public", "Coder's or PostgreSQL's own schema"),
            ("pg_catalog", "Coder's or PostgreSQL's own schema"),
        ] {
            let text = check_schema_name(bad).expect_err(bad).to_string();
            assert!(text.contains(why), "{bad:?}: {text}");
            assert!(text.contains(&format!("{bad:?}")), "{text}");
        }
        let long = "p".repeat(64);
        assert!(check_schema_name(&long).is_err());
    }
}

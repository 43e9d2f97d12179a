//! The typed errors every store returns, and how database errors map onto them.

use proxyhealth_core::SourceError;
use proxyhealth_core::validate::FieldError;

/// Why a store operation failed.
///
/// The API maps each variant to one status code (400, 409, 404, 503, 500), so a
/// variant is chosen by what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A value breaks a rule; the error names the field.
    #[error("{0}")]
    Invalid(FieldError),
    /// Another non-deleted proxy already has this name (case-insensitively).
    #[error("Workspace proxy with name {0:?} already exists.")]
    NameTaken(String),
    /// No non-deleted proxy has this id (or name).
    #[error("Workspace proxy not found.")]
    NotFound,
    /// The store is attached read-only to a Coder database and refuses writes.
    #[error(
        "writes are refused: proxyhealth is attached read-only to a Coder database; \
         manage proxies with Coder instead"
    )]
    ReadOnly,
    /// The database cannot be reached or used right now (down, locked, disk full…).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store spec or the database it names is not usable as configured.
    #[error("store configuration: {0}")]
    Config(String),
    /// Anything else (a bug or an unexpected database state).
    #[error("store internal error: {0}")]
    Internal(String),
}

impl StoreError {
    /// Whether the database could not be reached or used (retrying later may work).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<FieldError> for StoreError {
    fn from(err: FieldError) -> Self {
        StoreError::Invalid(err)
    }
}

impl From<StoreError> for SourceError {
    fn from(err: StoreError) -> Self {
        SourceError::new(err.to_string())
    }
}

/// Why a proxy token was refused; the `Display` texts are Coder's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not `<uuid>:<64 hex>`.
    #[error("Invalid external proxy token")]
    Malformed,
    /// No proxy has the token's id.
    #[error("Proxy not found.")]
    NotFound,
    /// The token's proxy is soft-deleted.
    #[error("Proxy has been deleted.")]
    Deleted,
    /// The secret does not hash to the stored hash.
    #[error("Invalid proxy token secret.")]
    WrongSecret,
    /// The store could not be read.
    #[error("{0}")]
    Store(StoreError),
}

impl From<StoreError> for TokenError {
    fn from(err: StoreError) -> Self {
        TokenError::Store(err)
    }
}

/// The backend a database error came from; decides how error codes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// SQLite: extended result codes.
    Sqlite,
    /// PostgreSQL: SQLSTATE codes.
    Postgres,
}

/// The name of the unique index on `lower(name)` among non-deleted proxies.
pub(crate) const NAME_INDEX: &str = "workspace_proxies_lower_name_idx";

/// A SQLite error with no name to blame: [`map_db_error`] for the
/// statements that write no user-named row.
pub(crate) fn sqlite_err(err: sqlx::Error) -> StoreError {
    map_db_error(Backend::Sqlite, err, None)
}

/// A PostgreSQL error with no name to blame (see [`sqlite_err`]).
pub(crate) fn pg_err(err: sqlx::Error) -> StoreError {
    map_db_error(Backend::Postgres, err, None)
}

/// Maps a database error to a store error; `name` is the proxy name a write used,
/// so a unique violation on the name index becomes [`StoreError::NameTaken`].
pub(crate) fn map_db_error(backend: Backend, err: sqlx::Error, name: Option<&str>) -> StoreError {
    map_db_error_ref(backend, &err, name)
}

/// [`map_db_error`] for a borrowed error.
pub(crate) fn map_db_error_ref(
    backend: Backend,
    err: &sqlx::Error,
    name: Option<&str>,
) -> StoreError {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => StoreError::Unavailable(err.to_string()),
        sqlx::Error::Database(db) => {
            if db.kind() == sqlx::error::ErrorKind::UniqueViolation
                && let Some(name) = name
                && is_name_violation(backend, db.as_ref())
            {
                return StoreError::NameTaken(name.to_owned());
            }
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if is_unavailable_code(backend, &code) {
                StoreError::Unavailable(db.message().to_owned())
            } else {
                StoreError::Internal(err.to_string())
            }
        }
        _ => StoreError::Internal(err.to_string()),
    }
}

/// Whether `err` is the database refusing a row that breaks a unique index
/// (either backend).
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

fn is_name_violation(backend: Backend, db: &dyn sqlx::error::DatabaseError) -> bool {
    match backend {
        Backend::Postgres => db.constraint() == Some(NAME_INDEX),
        // SQLite names an expression index in its message:
        // "UNIQUE constraint failed: index 'workspace_proxies_lower_name_idx'".
        Backend::Sqlite => db.message().contains(NAME_INDEX),
    }
}

/// Whether an error code means "the database cannot be used right now".
fn is_unavailable_code(backend: Backend, code: &str) -> bool {
    match backend {
        Backend::Sqlite => {
            let primary = code.parse::<i32>().unwrap_or(0) & 0xff;
            // BUSY, LOCKED, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, NOTADB
            matches!(primary, 5 | 6 | 8 | 10 | 11 | 13 | 14 | 26)
        }
        Backend::Postgres => {
            // connection exceptions, insufficient resources (disk full…), operator
            // intervention (shutdown, cannot connect now), system errors, and a
            // read-only (standby) server refusing a write.
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57")
                || code.starts_with("58")
                || code == "25006"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_taken_uses_coders_text() {
        assert_eq!(
            StoreError::NameTaken("eu".into()).to_string(),
            "Workspace proxy with name \"eu\" already exists."
        );
    }

    #[test]
    fn token_errors_use_coders_texts() {
        assert_eq!(
            TokenError::Malformed.to_string(),
            "Invalid external proxy token"
        );
        assert_eq!(TokenError::NotFound.to_string(), "Proxy not found.");
        assert_eq!(TokenError::Deleted.to_string(), "Proxy has been deleted.");
        assert_eq!(
            TokenError::WrongSecret.to_string(),
            "Invalid proxy token secret."
        );
    }

    #[test]
    fn a_pool_timeout_is_unavailable() {
        let err = map_db_error(Backend::Postgres, sqlx::Error::PoolTimedOut, None);
        assert!(err.is_unavailable(), "{err}");
    }

    #[test]
    fn sqlite_busy_and_full_are_unavailable_codes() {
        assert!(is_unavailable_code(Backend::Sqlite, "5"));
        assert!(is_unavailable_code(Backend::Sqlite, "13"));
        assert!(is_unavailable_code(Backend::Sqlite, "517")); // BUSY_SNAPSHOT
        assert!(!is_unavailable_code(Backend::Sqlite, "2067")); // CONSTRAINT_UNIQUE
    }

    #[test]
    fn postgres_connection_and_disk_codes_are_unavailable() {
        assert!(is_unavailable_code(Backend::Postgres, "08006"));
        assert!(is_unavailable_code(Backend::Postgres, "53100"));
        assert!(is_unavailable_code(Backend::Postgres, "57P01"));
        assert!(!is_unavailable_code(Backend::Postgres, "23505"));
    }
}

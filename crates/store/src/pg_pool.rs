//! Opening PostgreSQL pools: one connection checked at open, sessions that
//! may only read when attached to Coder's database, and the schema of our own
//! state inside it, made and migrated.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Executor};

use crate::StoreError;
use crate::error::{Backend, map_db_error};
use crate::migrations::POSTGRES_MIGRATOR;
use crate::open_options::{OpenOptions, redact};
use crate::pg_own_state;

/// What a pool's sessions may do.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Access<'a> {
    /// Read and write (our own database).
    ReadWrite,
    /// Read only (an attached Coder database).
    ReadOnly,
    /// Read and write our tables in this schema, read Coder's after it.
    OwnSchema(&'a str),
}

/// Opens the pool of proxyhealth's own tables in `schema` of an attached
/// Coder database: makes the schema when missing and migrates it.
pub(crate) async fn open_own_state(
    url: &str,
    options: &OpenOptions,
    schema: &str,
) -> Result<PgPool, StoreError> {
    pg_own_state::check_schema_name(schema)?;
    let pool = connect(url, options, Access::OwnSchema(schema)).await?;
    let make = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
    pool.execute(AssertSqlSafe(make)).await.map_err(|err| {
        StoreError::Config(format!(
            "cannot make the coordination schema {schema} in {}: {}",
            redact(url),
            inner_message(&map_db_error(Backend::Postgres, err, None))
        ))
    })?;
    pg_own_state::own_state_migrator(&POSTGRES_MIGRATOR)
        .run(&pool)
        .await
        .map_err(|err| {
            StoreError::Internal(format!(
                "cannot migrate the coordination schema {schema} in {}: {err}",
                redact(url)
            ))
        })?;
    Ok(pool)
}

/// Opens a pool and checks one connection, so an unreachable server is
/// reported at open.
pub(crate) async fn connect(
    url: &str,
    options: &OpenOptions,
    access: Access<'_>,
) -> Result<PgPool, StoreError> {
    let mut connect_options = PgConnectOptions::from_str(url)
        .map_err(|err| StoreError::Config(format!("bad PostgreSQL URL {}: {err}", redact(url))))?;
    if let Access::OwnSchema(schema) = access {
        connect_options =
            connect_options.options([("search_path", pg_own_state::search_path(schema))]);
    }
    let read_only = matches!(access, Access::ReadOnly);
    let pool_options = PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .min_connections(0)
        .acquire_timeout(options.acquire_timeout)
        .idle_timeout(Some(std::time::Duration::from_secs(60)))
        .test_before_acquire(true);
    // Every statement here is short: compiling it with JIT costs tens of
    // milliseconds and saves nothing, and the small coordination tables'
    // estimates (before autovacuum analyzes them) can make PostgreSQL try.
    let pool_options = pool_options.after_connect(move |conn, _meta| {
        Box::pin(async move {
            conn.execute("SET jit = off").await?;
            if read_only {
                conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                    .await?;
            }
            Ok(())
        })
    });
    pool_options
        .connect_with(connect_options)
        .await
        .map_err(|err| {
            let mapped = map_db_error(Backend::Postgres, err, None);
            let message = format!(
                "cannot connect to PostgreSQL at {}: {}",
                redact(url),
                inner_message(&mapped)
            );
            match mapped {
                StoreError::Internal(_) => StoreError::Internal(message),
                _ => StoreError::Unavailable(message),
            }
        })
}

/// The cause inside a mapped error, without the variant's prefix.
pub(crate) fn inner_message(err: &StoreError) -> String {
    match err {
        StoreError::Unavailable(m) | StoreError::Internal(m) | StoreError::Config(m) => m.clone(),
        other => other.to_string(),
    }
}

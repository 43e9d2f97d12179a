//! A transition's columns on SQLite, written and read the same way in the
//! history's table and the outbox's, and the values SQLite keeps in its own
//! way: times as nanoseconds since the epoch, ids as text.

use proxyhealth_core::{Status, Transition};
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Row, Sqlite};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{from_ms, parse_status, report_from_json, report_json, to_ms};
use crate::StoreError;
use crate::error::sqlite_err as db_err;

/// The columns of a transition, in the order [`bind_transition`] binds
/// them, for `concat!`: the history's and the outbox's tables both have them.
macro_rules! transition_columns {
    () => {
        "proxy_id, proxy_name, proxy_url, at, from_status, to_status, report, replica_id, \
         previous_ms"
    };
}
pub(crate) use transition_columns;

/// Binds the values of `t` to the next nine parameters, in the order of
/// [`transition_columns!`].
pub(crate) fn bind_transition<'q>(
    query: Query<'q, Sqlite, SqliteArguments>,
    t: &Transition,
) -> Result<Query<'q, Sqlite, SqliteArguments>, StoreError> {
    Ok(query
        .bind(t.proxy_id.hyphenated().to_string())
        .bind(t.proxy_name.as_str())
        .bind(t.proxy_url.as_str())
        .bind(nanos(t.at))
        .bind(t.from.map(Status::as_str))
        .bind(t.to.as_str())
        .bind(report_json(&t.report)?)
        .bind(t.replica.map(|id| id.hyphenated().to_string()))
        .bind(t.previous_lasted.map(to_ms)))
}

/// The transition a row holds in the [`transition_columns!`].
pub(crate) fn transition_from_row(row: &SqliteRow) -> Result<Transition, StoreError> {
    let proxy_id: String = row.try_get("proxy_id").map_err(db_err)?;
    let from: Option<String> = row.try_get("from_status").map_err(db_err)?;
    let to: String = row.try_get("to_status").map_err(db_err)?;
    let report: String = row.try_get("report").map_err(db_err)?;
    let replica: Option<String> = row.try_get("replica_id").map_err(db_err)?;
    Ok(Transition {
        proxy_id: uuid_of(&proxy_id)?,
        proxy_name: row.try_get("proxy_name").map_err(db_err)?,
        proxy_url: row.try_get("proxy_url").map_err(db_err)?,
        at: from_nanos(row.try_get("at").map_err(db_err)?)?,
        from: from.as_deref().map(parse_status).transpose()?,
        to: parse_status(&to)?,
        report: report_from_json(&report)?,
        replica: replica.as_deref().map(uuid_of).transpose()?,
        previous_lasted: row
            .try_get::<Option<i64>, _>("previous_ms")
            .map_err(db_err)?
            .map(from_ms),
    })
}

/// A time as SQLite keeps it: nanoseconds since the epoch (saturating).
pub(crate) fn nanos(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

/// A time SQLite kept as nanoseconds since the epoch.
pub(crate) fn from_nanos(value: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(value))
        .map_err(|err| StoreError::Internal(format!("bad stored timestamp {value}: {err}")))
}

/// An id SQLite kept as text.
pub(crate) fn uuid_of(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text)
        .map_err(|err| StoreError::Internal(format!("bad stored id {text:?}: {err}")))
}

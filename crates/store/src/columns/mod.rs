//! How the values of a status transition are kept in a column, for the
//! history's transitions and the notification outbox's rows alike (both
//! tables hold a transition). A leaf both `history` and `outbox` use, so the
//! outbox never reaches into the history for them.
//!
//! - this module: what every backend shares (status words, milliseconds,
//!   the report as JSON);
//! - `columns::sqlite`, `columns::postgres`: a transition's columns written
//!   (bound) and read back on each backend, one codec for both tables; on
//!   SQLite also its own values (times as nanoseconds, ids as text).

pub(crate) mod postgres;
pub(crate) mod sqlite;

use proxyhealth_core::Status;
use std::time::Duration;

use crate::StoreError;

/// A status word read back from the database.
pub(crate) fn parse_status(word: &str) -> Result<Status, StoreError> {
    word.parse()
        .map_err(|err| StoreError::Internal(format!("bad stored status: {err}")))
}

/// A duration as whole milliseconds for a column.
pub(crate) fn to_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Milliseconds from a column as a duration (negative is zero).
pub(crate) fn from_ms(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// A report as stored (JSON).
pub(crate) fn report_json(report: &proxyhealth_core::HealthReport) -> Result<String, StoreError> {
    serde_json::to_string(report)
        .map_err(|err| StoreError::Internal(format!("cannot encode a report: {err}")))
}

/// A report read back.
pub(crate) fn report_from_json(json: &str) -> Result<proxyhealth_core::HealthReport, StoreError> {
    serde_json::from_str(json)
        .map_err(|err| StoreError::Internal(format!("bad stored report: {err}")))
}

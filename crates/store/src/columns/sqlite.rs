//! The values SQLite keeps in its own way: times as nanoseconds since the
//! epoch, ids as text.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

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

//! Maintenance windows in a replica's fenced result write: the history it
//! records of its accepted results goes through
//! [`MaintenanceFilter`], with the windows read in the write's own
//! transaction on the database's clock, so every replica judges a result
//! alike and nothing held back lives in a replica's memory (a replica that
//! dies inside a window loses nothing: the first write after the window,
//! by any replica, offers the status then, and the journal records it only
//! when it differs from the one recorded before the window).

use proxyhealth_core::HistoryBatch;
use proxyhealth_core::maintenance_filter::{MaintenanceFilter, SETTLE_WITHIN};
use sqlx::Row;
use sqlx::postgres::PgConnection;
use time::OffsetDateTime;

use super::millis;
use crate::StoreError;
use crate::coordination::{ResultWrite, history_through};
use crate::error::pg_err as db_err;
use crate::maintenance::postgres::window_of;

/// The history `accepted` writes record, the windows of the database at
/// its `now()` left out or settled.
pub(crate) async fn history_in<'a>(
    tx: &mut PgConnection,
    accepted: impl Iterator<Item = &'a ResultWrite>,
) -> Result<HistoryBatch, StoreError> {
    let filter = filter_in(tx).await?;
    Ok(history_through(&filter, accepted))
}

/// The maintenance windows of the database at its `now()`, read in the
/// caller's transaction.
pub(crate) async fn filter_in(tx: &mut PgConnection) -> Result<MaintenanceFilter, StoreError> {
    // only windows that can be active or have ended lately: the table keeps
    // every window ever made
    let rows = sqlx::query(
        "SELECT m.id, m.proxy_id, m.starts_at, m.ends_at, m.weekly, m.reason, m.created_at, \
           m.ended_at, n.now \
         FROM (SELECT now() AS now) n \
         LEFT JOIN proxyhealth_maintenance m \
           ON m.starts_at <= n.now \
          AND (m.ended_at IS NULL OR m.ended_at > n.now - $1 * interval '1 millisecond') \
          AND (m.weekly OR m.ends_at > n.now - $1 * interval '1 millisecond')",
    )
    .bind(millis(SETTLE_WITHIN))
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    let mut now = OffsetDateTime::now_utc();
    let mut windows = Vec::with_capacity(rows.len());
    for row in &rows {
        now = row.try_get("now").map_err(db_err)?;
        let id: Option<uuid::Uuid> = row.try_get("id").map_err(db_err)?;
        if id.is_some() {
            windows.push(window_of(row)?);
        }
    }
    Ok(MaintenanceFilter::compile(&windows, now))
}

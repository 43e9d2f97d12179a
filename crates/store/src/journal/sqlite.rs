//! The journal on SQLite: one transaction per batch on the store's single
//! writer connection.

use proxyhealth_core::{HistoryBatch, Transition};
use sqlx::sqlite::{SqliteConnection, SqlitePool};

use super::{Journal, RollupRow};
use crate::StoreError;
use crate::error::sqlite_err as db_err;
use crate::history;

/// Writes `batch` in one transaction of its own (the single-replica path).
pub(crate) async fn record(
    pool: &SqlitePool,
    journal: &Journal,
    batch: HistoryBatch,
) -> Result<Vec<Transition>, StoreError> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let mut cache = journal.cache.lock().await;
    let mut tx = pool.begin().await.map_err(db_err)?;
    let misses = cache.misses(&batch.checks);
    let loaded = if misses.is_empty() {
        Default::default()
    } else {
        history::sqlite::read_own_rollups(&mut tx, journal.writer, &misses).await?
    };
    let rollups = cache.stage(&batch.checks, &loaded);
    let recorded = record_in(&mut tx, journal, &rollups, batch.transitions).await?;
    tx.commit().await.map_err(db_err)?;
    cache.apply(rollups);
    Ok(recorded)
}

/// Writes a staged batch inside the caller's transaction: the rollup rows,
/// then the transitions; returns the transitions as recorded.
pub(crate) async fn record_in(
    tx: &mut SqliteConnection,
    journal: &Journal,
    rollups: &[RollupRow],
    transitions: Vec<Transition>,
) -> Result<Vec<Transition>, StoreError> {
    history::sqlite::write_rollups(tx, journal.writer, rollups).await?;
    let recorded = history::sqlite::write_transitions(tx, transitions).await?;
    // the outbox rows, in this same transaction: a notification
    // exists exactly when its transition does
    crate::outbox::sqlite::write_in(tx, &journal.outbox, &recorded).await?;
    Ok(recorded)
}

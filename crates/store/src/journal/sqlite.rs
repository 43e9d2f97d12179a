//! The journal on SQLite: one transaction per batch on the store's single
//! writer connection.

use proxyhealth_core::{HistoryBatch, Transition};
use sqlx::sqlite::{SqliteConnection, SqlitePool};

use super::{Journal, RollupRow};
use crate::StoreError;
use crate::error::sqlite_err as db_err;
use crate::history;

/// Rollup rows written per transaction on the single-replica path.
///
/// SQLite has one writer: while a transaction is open, every API write (a
/// registration, a create) waits for it. A 10,000-proxy sweep's rollups in
/// one transaction held the writer for about a second; in transactions of
/// this size an API write waits for one of them at most, because the pool
/// hands the connection to waiters in the order they asked.
const ROLLUPS_PER_TRANSACTION: usize = 500;

/// Writes `batch` (the single-replica path): the rollup rows in
/// transactions of [`ROLLUPS_PER_TRANSACTION`], then the transitions with
/// their outbox rows in one transaction of their own.
///
/// A status change and its notification still commit together. The rollups
/// are counters written whole from the cache, which takes each part only
/// once it committed, so a part that fails loses that sweep's counts for its
/// proxies and nothing else, as a failed batch did before.
pub(crate) async fn record(
    pool: &SqlitePool,
    journal: &Journal,
    batch: HistoryBatch,
) -> Result<Vec<Transition>, StoreError> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let mut cache = journal.cache.lock().await;
    let misses = cache.misses(&batch.checks);
    let loaded = if misses.is_empty() {
        Default::default()
    } else {
        let mut conn = pool.acquire().await.map_err(db_err)?;
        history::sqlite::read_own_rollups(&mut conn, journal.writer, &misses).await?
    };
    let mut rollups = cache.stage(&batch.checks, &loaded);
    // the last part goes with the transitions, so a batch of few proxies
    // is still one transaction
    let last_part = rollups.len() % ROLLUPS_PER_TRANSACTION;
    let last_part = if last_part == 0 && !rollups.is_empty() {
        ROLLUPS_PER_TRANSACTION
    } else {
        last_part
    };
    let mut last = rollups.split_off(rollups.len() - last_part);
    while !rollups.is_empty() {
        let rest = rollups.split_off(ROLLUPS_PER_TRANSACTION.min(rollups.len()));
        let part = std::mem::replace(&mut rollups, rest);
        let mut tx = pool.begin().await.map_err(db_err)?;
        history::sqlite::write_rollups(&mut tx, journal.writer, &part).await?;
        tx.commit().await.map_err(db_err)?;
        cache.apply(part);
    }
    let mut tx = pool.begin().await.map_err(db_err)?;
    let recorded = record_in(&mut tx, journal, &last, batch.transitions).await?;
    tx.commit().await.map_err(db_err)?;
    cache.apply(std::mem::take(&mut last));
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

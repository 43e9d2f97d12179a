//! The journal on PostgreSQL: one transaction per batch, either its own (a
//! store sweeping alone) or a replica's fenced result write
//! ([`crate::PgCoordination`]), which calls [`record_in`] before it commits.

use proxyhealth_core::{HistoryBatch, Transition};
use sqlx::postgres::{PgConnection, PgPool};

use super::{Journal, RollupCache, RollupRow};
use crate::StoreError;
use crate::error::pg_err as db_err;
use crate::history;

/// Writes `batch` in one transaction of its own (the single-replica path).
pub(crate) async fn record(
    pool: &PgPool,
    journal: &Journal,
    batch: HistoryBatch,
) -> Result<Vec<Transition>, StoreError> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let mut cache = journal.cache.lock().await;
    let mut tx = pool.begin().await.map_err(db_err)?;
    let rollups = stage(&mut tx, journal, &cache, &batch).await?;
    let recorded = record_in(&mut tx, journal, &rollups, batch.transitions).await?;
    tx.commit().await.map_err(db_err)?;
    cache.apply(rollups);
    Ok(recorded)
}

/// The rollup rows `batch` makes, read first where the cache lacks them.
/// Hold the cache's lock from here until [`RollupCache::apply`] after the commit.
pub(crate) async fn stage(
    tx: &mut PgConnection,
    journal: &Journal,
    cache: &RollupCache,
    batch: &HistoryBatch,
) -> Result<Vec<RollupRow>, StoreError> {
    let misses = cache.misses(&batch.checks);
    let loaded = if misses.is_empty() {
        Default::default()
    } else {
        history::postgres::read_own_rollups(tx, journal.writer, &misses).await?
    };
    Ok(cache.stage(&batch.checks, &loaded))
}

/// Writes a staged batch inside the caller's transaction: the rollup rows,
/// then the transitions; returns the transitions as recorded.
pub(crate) async fn record_in(
    tx: &mut PgConnection,
    journal: &Journal,
    rollups: &[RollupRow],
    transitions: Vec<Transition>,
) -> Result<Vec<Transition>, StoreError> {
    history::postgres::write_rollups(tx, journal.writer, rollups).await?;
    let recorded = history::postgres::write_transitions(tx, transitions).await?;
    // the outbox rows, in this same transaction (with several
    // replicas, the one of the fenced result write): a notification exists
    // exactly when its transition does, once however many replicas run
    crate::outbox::postgres::write_in(tx, &journal.outbox, &recorded).await?;
    Ok(recorded)
}

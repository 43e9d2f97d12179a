//! The journal: the one place where a batch of history is written, in one
//! transaction per batch, on every backend.
//!
//! - `journal::sqlite::record_in` and `journal::postgres::record_in` write a
//!   staged batch inside a transaction the caller opened: the hourly rollup
//!   rows, then the transitions (`history::…`), then **the notification
//!   outbox's rows**, made from the transitions as recorded, so they commit
//!   or roll back with the history and the status change.
//! - The single-replica path (the engine's [`proxyhealth_core::HistoryRecorder`],
//!   implemented by every store's history) opens that transaction itself
//!   (`journal::sqlite::record`, `journal::postgres::record`); with several
//!   replicas, [`crate::PgCoordination`]'s fenced result write calls
//!   `journal::postgres::record_in` inside its own transaction.
//!
//! The memory store applies a batch under one lock instead
//! (`history::memory`), its outbox rows beside the history there.
//!
//! Rollups are added up in memory per writer ([`RollupCache`], one writer id
//! per process) and written whole, so a sweep never reads a row before
//! writing it; the cache is changed only after the transaction commits.

pub(crate) mod sqlite;

pub(crate) mod postgres;

pub(crate) use crate::history::cache::{RollupCache, RollupRow};
use crate::outbox::PolicyHandle;

/// The journal state of one writer (a store, or a replica's coordination).
#[derive(Debug)]
pub(crate) struct Journal {
    /// This process's writer id in `proxyhealth_rollups` (random).
    pub writer: i64,
    /// Its rollups; locked for the length of a batch's transaction, so
    /// batches of one writer are staged and committed one at a time.
    pub cache: tokio::sync::Mutex<RollupCache>,
    /// The notification outbox's policy: rows are written beside
    /// the transitions by it.
    pub outbox: PolicyHandle,
}

impl Journal {
    /// A journal with a new writer id (and an outbox policy of its own,
    /// with no targets: no notification rows).
    pub(crate) fn new() -> Self {
        Journal::with_outbox(PolicyHandle::default())
    }

    /// A journal with a new writer id writing outbox rows by `outbox`.
    pub(crate) fn with_outbox(outbox: PolicyHandle) -> Self {
        Journal {
            writer: rand::random::<i64>(),
            cache: tokio::sync::Mutex::new(RollupCache::default()),
            outbox,
        }
    }
}

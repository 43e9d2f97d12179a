//! The journal: the one place where a batch of history is written, in one
//! transaction per batch, on every backend.
//!
//! - `journal::sqlite::record_in` and `journal::postgres::record_in` write a
//!   staged batch inside a transaction the caller opened: the hourly rollup
//!   rows, then the transitions (`history::…`). **A notification outbox
//!   (issue 16) adds its rows there**, from the transitions as recorded, so
//!   they commit or roll back with the history and the status change.
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

pub(crate) use crate::history::cache::{Journal, RollupCache, RollupRow};

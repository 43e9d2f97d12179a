//! The stores' [`HistoryStore`]s: recording through the journal (one
//! transaction per batch), reading and pruning through each backend's
//! statements (`history::sqlite`, `history::postgres`). The memory store's
//! is `history::memory`.

use std::collections::HashMap;

use proxyhealth_core::{HistoryBatch, PartialChange, Transition};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;
use crate::history::postgres::PgReads;
use crate::history::sqlite::SqliteReads;
use crate::history::{HistoryStore, HourBucket, Pruned, UptimeCounts};
use crate::journal::{self, Journal};
use crate::partial::{self, PartialOutage};

/// History in a SQLite file: batches through the store's single writer.
#[derive(Debug)]
pub(crate) struct SqliteHistory {
    pub(crate) reads: SqliteReads,
    pub(crate) journal: Journal,
}

/// History in a PostgreSQL database, written by a store sweeping alone
/// (replicas write theirs with their results, through their coordination).
#[derive(Debug)]
pub(crate) struct PgHistory {
    pub(crate) reads: PgReads,
    pub(crate) journal: Journal,
}

/// Implements [`HistoryStore`] for a backend's history: recording with
/// `$record` (its journal's transaction), every read and the pruning through
/// its `reads` statements, which both backends name alike.
macro_rules! history_store {
    ($history:ty, $record:path, $handle:ident, $partial:ident, $reader:ident) => {
        #[async_trait::async_trait]
        impl HistoryStore for $history {
            async fn record_batch(
                &self,
                batch: HistoryBatch,
            ) -> Result<Vec<Transition>, StoreError> {
                $record(&self.reads.$handle, &self.journal, batch).await
            }

            async fn buckets(
                &self,
                proxy_id: Uuid,
                since: OffsetDateTime,
            ) -> Result<Vec<HourBucket>, StoreError> {
                self.reads.buckets(proxy_id, since).await
            }

            async fn transitions(
                &self,
                proxy_id: Option<Uuid>,
                since: OffsetDateTime,
            ) -> Result<Vec<Transition>, StoreError> {
                self.reads.transitions(proxy_id, since).await
            }

            async fn last_before(
                &self,
                proxy_id: Option<Uuid>,
                at: OffsetDateTime,
            ) -> Result<Vec<Transition>, StoreError> {
                self.reads.last_before(proxy_id, at).await
            }

            async fn uptimes(
                &self,
                since: OffsetDateTime,
                until: Option<OffsetDateTime>,
            ) -> Result<HashMap<Uuid, UptimeCounts>, StoreError> {
                self.reads.uptimes(since, until).await
            }

            async fn prune(
                &self,
                before: OffsetDateTime,
                limit: u32,
            ) -> Result<Pruned, StoreError> {
                self.reads.prune(before, limit).await
            }

            async fn record_partial(
                &self,
                changes: Vec<PartialChange>,
                notify: bool,
            ) -> Result<(), StoreError> {
                partial::$partial::record(
                    &self.reads.$handle,
                    &self.journal.outbox,
                    changes,
                    notify,
                )
                .await
            }

            async fn partial_outages(
                &self,
                since: OffsetDateTime,
            ) -> Result<Vec<PartialOutage>, StoreError> {
                partial::$partial::since(&self.reads.$reader, since).await
            }
        }
    };
}

history_store!(
    SqliteHistory,
    journal::sqlite::record,
    writer,
    sqlite,
    reader
);
history_store!(PgHistory, journal::postgres::record, pool, postgres, pool);

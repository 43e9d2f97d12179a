//! Persisted history: the status transitions and hourly rollups
//! the journal writes, read back for the API, and pruned by age.
//!
//! - [`HistoryStore`]: what every writable store gives through
//!   [`crate::ProxyStore::history`]: recording (the engine's
//!   [`HistoryRecorder`], through [`recorder`]), the reads, and pruning.
//! - `history::cache`: a process's share of the hourly rollups, added up in
//!   memory, and the hour arithmetic.
//! - `history::sqlite`, `history::postgres`: the statements of each backend
//!   (the journal calls their writes inside its transaction; the stores'
//!   [`HistoryStore`]s, in `history_db`, call their reads).
//! - `history::memory`: the memory store's history.
//! - [`view`]: a proxy's window (uptime, buckets, transitions) and the
//!   incidents, composed from the reads.
//! - [`retention`]: the background pruning task.

pub(crate) mod cache;
pub(crate) mod memory;
pub(crate) mod postgres;
pub mod retention;
pub(crate) mod sqlite;
pub mod view;

use proxyhealth_core::{
    HistoryBatch, HistoryRecorder, PartialChange, PartialRecorder, RecordError, Rollup, Status,
    Transition,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;
use crate::partial::PartialOutage;

/// One hour of one proxy's checks, every writer's share added up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourBucket {
    /// The hour's start (UTC).
    pub hour: OffsetDateTime,
    /// The checks of that hour.
    pub rollup: Rollup,
}

/// A proxy's checks over a window: how many, how many were `ok`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UptimeCounts {
    /// Checks whose result was `ok`.
    pub ok: u64,
    /// All checks.
    pub checks: u64,
}

impl UptimeCounts {
    /// The share of checks that were `ok` (0 to 1); `None` without checks.
    pub fn ratio(&self) -> Option<f64> {
        (self.checks > 0).then(|| self.ok as f64 / self.checks as f64)
    }
}

/// What one pruning pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Transitions deleted.
    pub transitions: u64,
    /// Rollup rows deleted.
    pub rollups: u64,
}

/// A store's persisted history; see the module docs.
#[async_trait::async_trait]
pub trait HistoryStore: Send + Sync + std::fmt::Debug {
    /// Writes a batch in one transaction (see
    /// [`HistoryRecorder::record`]); returns the transitions as recorded.
    async fn record_batch(&self, batch: HistoryBatch) -> Result<Vec<Transition>, StoreError>;

    /// One proxy's hourly buckets from the hour holding `since` on, oldest
    /// first (hours without checks are absent).
    async fn buckets(
        &self,
        proxy_id: Uuid,
        since: OffsetDateTime,
    ) -> Result<Vec<HourBucket>, StoreError>;

    /// Transitions at or after `since`, of one proxy or of all, oldest first.
    async fn transitions(
        &self,
        proxy_id: Option<Uuid>,
        since: OffsetDateTime,
    ) -> Result<Vec<Transition>, StoreError>;

    /// The last transition before `at` of one proxy or of each proxy (its
    /// status when a window starts).
    async fn last_before(
        &self,
        proxy_id: Option<Uuid>,
        at: OffsetDateTime,
    ) -> Result<Vec<Transition>, StoreError>;

    /// Every proxy's checks from the hour holding `since` on, up to the hour
    /// holding `until` (excluded) when one is given.
    async fn uptimes(
        &self,
        since: OffsetDateTime,
        until: Option<OffsetDateTime>,
    ) -> Result<HashMap<Uuid, UptimeCounts>, StoreError>;

    /// Deletes at most `limit` rows of each table older than `before`: rollups
    /// of earlier hours, and transitions before it that a newer transition
    /// of the same proxy follows (a proxy's last transition is kept: it is
    /// its status at the start of any window). One short transaction.
    async fn prune(&self, before: OffsetDateTime, limit: u32) -> Result<Pruned, StoreError>;

    /// Keeps partial outages' starts, changes and ends in one transaction
    /// (see [`crate::partial`]), with an outbox row per start or end and
    /// target when `notify`.
    async fn record_partial(
        &self,
        changes: Vec<PartialChange>,
        notify: bool,
    ) -> Result<(), StoreError>;

    /// The partial outages open at or after `since`, oldest start first.
    async fn partial_outages(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<PartialOutage>, StoreError>;
}

/// The engine's seam for partial outages over a store's history; `notify`
/// (`serve --notify-partial`) says whether their starts and ends are notified.
pub fn partial_recorder(history: Arc<dyn HistoryStore>, notify: bool) -> Arc<dyn PartialRecorder> {
    Arc::new(Partials { history, notify })
}

struct Partials {
    history: Arc<dyn HistoryStore>,
    notify: bool,
}

#[async_trait::async_trait]
impl PartialRecorder for Partials {
    async fn record_partial(&self, changes: Vec<PartialChange>) -> Result<(), RecordError> {
        self.history
            .record_partial(changes, self.notify)
            .await
            .map_err(|err| RecordError::new(err.to_string()))
    }
}

/// The engine's recording seam over a store's history.
pub fn recorder(history: Arc<dyn HistoryStore>) -> Arc<dyn HistoryRecorder> {
    Arc::new(Recorder(history))
}

struct Recorder(Arc<dyn HistoryStore>);

#[async_trait::async_trait]
impl HistoryRecorder for Recorder {
    async fn record(&self, batch: HistoryBatch) -> Result<Vec<Transition>, RecordError> {
        self.0
            .record_batch(batch)
            .await
            .map_err(|err| RecordError::new(err.to_string()))
    }
}

/// The transitions of a batch as they are recorded, given each proxy's last
/// recorded status and its time (updated as the batch goes): a change to the
/// status already recorded is dropped; `from` and `previous_lasted` come
/// from the record when there is one.
pub(crate) fn settle(
    transitions: Vec<Transition>,
    last: &mut HashMap<Uuid, (Status, OffsetDateTime)>,
) -> Vec<Transition> {
    let mut recorded = Vec::with_capacity(transitions.len());
    for mut transition in transitions {
        if let Some((status, at)) = last.get(&transition.proxy_id) {
            if *status == transition.to {
                continue;
            }
            transition.from = Some(*status);
            let lasted = transition.at - *at;
            transition.previous_lasted = Some(Duration::try_from(lasted).unwrap_or_default());
        }
        last.insert(transition.proxy_id, (transition.to, transition.at));
        recorded.push(transition);
    }
    recorded
}

/// A count from a column (negative is zero).
pub(crate) fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A count for a column.
pub(crate) fn to_count(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The rows of one proxy, hour by hour, with every writer's share added up.
pub(crate) fn merge_hours(rows: Vec<(i64, Rollup)>) -> Result<Vec<HourBucket>, StoreError> {
    let mut by_hour: std::collections::BTreeMap<i64, Rollup> = std::collections::BTreeMap::new();
    for (hour, rollup) in rows {
        by_hour.entry(hour).or_default().merge(&rollup);
    }
    by_hour
        .into_iter()
        .map(|(hour, rollup)| {
            Ok(HourBucket {
                hour: OffsetDateTime::from_unix_timestamp(hour).map_err(|err| {
                    StoreError::Internal(format!("bad stored hour {hour}: {err}"))
                })?,
                rollup,
            })
        })
        .collect()
}

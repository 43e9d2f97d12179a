//! The recording seam of persisted history: what the engine (one
//! replica) or a replica's fenced write (several) hands to the store when
//! checks happen, and the trait the stores implement to write it.
//!
//! One [`HistoryBatch`] is written in one transaction: the checks (for the
//! hourly rollups) and the status transitions they caused. A transition is
//! written before any snapshot that shows it is published, so a transition
//! the API has shown is in the history after a crash. The store returns the
//! transitions as it recorded them ([`HistoryRecorder::record`]), with `from`
//! and [`Transition::previous_lasted`] taken from the stored history, which
//! is what anything written beside them in the same transaction (a
//! notification outbox) reads.

use crate::{HealthReport, ProxyStatus, Status};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// One check as the hourly rollups count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckRecord {
    /// The proxy checked.
    pub proxy_id: Uuid,
    /// When the check (its sweep or re-check) started; picks the hour.
    pub at: OffsetDateTime,
    /// The result of this check alone (before hysteresis): `ok` counts as up.
    pub result: Status,
    /// How long the request took; `None` when none was made.
    pub latency: Option<Duration>,
}

impl CheckRecord {
    /// The check behind a merged status.
    pub fn of(status: &ProxyStatus) -> Self {
        CheckRecord {
            proxy_id: status.proxy.id,
            at: status.checked_at,
            result: status.last_result,
            latency: status.latency,
        }
    }
}

/// A change of the status a proxy shows (after hysteresis), with everything a
/// reader of history or a notification needs without looking anything up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The proxy.
    pub proxy_id: Uuid,
    /// Its name when the change happened.
    pub proxy_name: String,
    /// Its URL when the change happened (empty when unregistered).
    pub proxy_url: String,
    /// When the check that caused the change started.
    pub at: OffsetDateTime,
    /// The status before; `None` when the history holds none for the proxy
    /// (its first recorded status). The store sets it from its own last
    /// recorded status, which is the truth across restarts.
    pub from: Option<Status>,
    /// The status after.
    pub to: Status,
    /// The proxy's report (errors and warnings) from the check that caused it.
    pub report: HealthReport,
    /// With several replicas, the replica whose result caused it.
    pub replica: Option<Uuid>,
    /// How long the previous status lasted (from its own recorded
    /// transition); `None` for a first status. Set by the store.
    pub previous_lasted: Option<Duration>,
}

impl Transition {
    /// The transition a merged status makes from `from` (what the caller
    /// showed before), caused by `replica`'s result when there is one.
    pub fn of(status: &ProxyStatus, from: Option<Status>, replica: Option<Uuid>) -> Self {
        Transition {
            proxy_id: status.proxy.id,
            proxy_name: status.proxy.name.clone(),
            proxy_url: status.proxy.url.clone(),
            at: status.checked_at,
            from,
            to: status.status,
            report: status.report.clone(),
            replica,
            previous_lasted: None,
        }
    }

    /// The transition a merged status makes from `from`, the status shown
    /// before it (`None`: none was), caused by `replica`'s result when there
    /// is one; `None` when the status is the same, which is no transition.
    /// The one rule of what a transition is: the engine's history of a merge
    /// and a replica's fenced write (against its claim's previous status)
    /// both decide by it, and the store records what it is told.
    pub fn between(
        from: Option<Status>,
        status: &ProxyStatus,
        replica: Option<Uuid>,
    ) -> Option<Self> {
        (from != Some(status.status)).then(|| Transition::of(status, from, replica))
    }

    /// Whether this is a recovery: `ok` after a failing status (`unhealthy`,
    /// `unreachable`, `unknown`). A first status is none, and neither is a
    /// proxy's registration (`unregistered` is where every proxy starts, not
    /// a failure), whatever status it registers into.
    pub fn is_recovery(&self) -> bool {
        self.to == Status::Ok
            && matches!(
                self.from,
                Some(Status::Unhealthy | Status::Unreachable | Status::Unknown)
            )
    }
}

/// Why an incident (a period out of `ok`) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IncidentEnd {
    /// The proxy was `ok` again.
    Recovered,
    /// The proxy was deleted while out of `ok`: nothing checks it any more,
    /// so the incident ends when it was deleted rather than staying open.
    ProxyDeleted,
}

/// What one sweep, re-check or replica write hands to the recorder: written
/// in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryBatch {
    /// Every check of the batch.
    pub checks: Vec<CheckRecord>,
    /// The status changes those checks caused, in the order they happened.
    pub transitions: Vec<Transition>,
}

impl HistoryBatch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty() && self.transitions.is_empty()
    }
}

/// Why a batch of history could not be written (the transaction rolled back).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RecordError {
    /// What went wrong, with the cause.
    pub message: String,
}

impl RecordError {
    /// A record error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        RecordError {
            message: message.into(),
        }
    }
}

/// Where the engine writes history, set on its builder; stores implement it.
///
/// Called before the snapshot showing the batch's transitions is published,
/// never concurrently by one engine.
#[async_trait::async_trait]
pub trait HistoryRecorder: Send + Sync {
    /// Writes the batch in one transaction. A "transition" whose `to` is the
    /// proxy's last recorded status is not one (a restart forgets the
    /// statuses in memory) and is dropped; the others are returned as
    /// recorded (`from` and `previous_lasted` set from the stored history).
    async fn record(&self, batch: HistoryBatch) -> Result<Vec<Transition>, RecordError>;
}

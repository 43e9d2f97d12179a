//! Per-vantage history: what one batch of another vantage's results adds
//! to the history besides the overall one. Each vantage's damped status
//! changes are kept as its own transitions, and its checks are counted in
//! its own hourly rollups, so a regional fault can be read back per place
//! after the fact (the overall history only shows what the quorum decided).

use crate::{CheckRecord, HealthReport, RecordError, Status, VantageName};
use time::OffsetDateTime;
use uuid::Uuid;

/// A change of one vantage's status of one proxy (after that vantage's own
/// hysteresis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VantageTransition {
    /// The proxy.
    pub proxy_id: Uuid,
    /// The vantage whose status changed.
    pub vantage: VantageName,
    /// When the check that caused it was made (on the service's clock).
    pub at: OffsetDateTime,
    /// The vantage's status before; `None` for its first reading of the proxy.
    pub from: Option<Status>,
    /// The vantage's status after.
    pub to: Status,
    /// The vantage's report of that check.
    pub report: HealthReport,
}

/// What one batch of a vantage's results adds to its history: written in
/// one transaction, one per batch, so the cost stays one write per batch
/// however many results it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VantageHistory {
    /// The new checks (a result sent again is not counted twice), for the
    /// vantage's hourly rollups.
    pub checks: Vec<CheckRecord>,
    /// The vantage's status changes, in the order they happened.
    pub transitions: Vec<VantageTransition>,
}

impl VantageHistory {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty() && self.transitions.is_empty()
    }
}

/// Where the engine hands what its own vantage's checks add to that
/// vantage's history (its checks, its damped status changes); stores
/// implement it. A cluster replica hands its vantage's accepted results.
#[async_trait::async_trait]
pub trait OwnHistoryRecorder: Send + Sync {
    /// Writes `history` as the vantage named `vantage`'s, in one
    /// transaction; a change to the status last recorded for its proxy is
    /// dropped (replicas of one vantage may each offer it).
    async fn record_own(
        &self,
        vantage: &VantageName,
        history: VantageHistory,
    ) -> Result<(), RecordError>;
}

//! The JSON shape of one vantage's history of one proxy. Re-exported by
//! [`crate::wire`].

use crate::wire_history::{HistoryBucket, HistoryWindow};
use proxyhealth_core::{HealthReport, Status};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// `GET /api/v2/workspaceproxies/{proxy}/vantages/{vantage}/history?window=`:
/// how one vantage saw one proxy over a window (its own checks and its own
/// status changes, after its own hysteresis; not the quorum's verdict).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct VantageHistory {
    /// The proxy.
    pub proxy_id: Uuid,
    /// Its name.
    pub proxy_name: String,
    /// The vantage, as it is named.
    pub vantage: String,
    /// The window asked for.
    pub window: HistoryWindow,
    /// The start of the window's first hour.
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// When the answer was made.
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    /// The share of the vantage's checks in the window that were `ok`;
    /// `null` without checks.
    #[schema(required = true)]
    pub uptime: Option<f64>,
    /// The vantage's checks in the window.
    pub checks: u64,
    /// Of which `ok`.
    pub ok_checks: u64,
    /// The vantage's status of the proxy when the window started; `null`
    /// when none was recorded before it.
    #[schema(required = true)]
    pub status_at_start: Option<Status>,
    /// The hours with checks from the vantage, oldest first (`unregistered`
    /// is always 0: agents check registered proxies only).
    pub buckets: Vec<HistoryBucket>,
    /// The vantage's status changes in the window, oldest first.
    pub transitions: Vec<VantageHistoryTransition>,
}

/// A change of one vantage's status of a proxy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct VantageHistoryTransition {
    /// When the check that caused it was made (on the service's clock).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The vantage's status before; `null` for its first reading of the proxy.
    #[schema(required = true)]
    pub from: Option<Status>,
    /// Its status after.
    pub to: Status,
    /// The vantage's report of that check.
    pub report: HealthReport,
}

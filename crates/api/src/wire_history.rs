//! The JSON shapes of persisted history: a proxy's history over a
//! window, the incidents, and the uptime figures of the proxy list.
//! Re-exported by [`crate::wire`].

use proxyhealth_core::{HealthReport, IncidentEnd, Status};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// The windows a proxy's history can be asked for (`?window=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
pub enum HistoryWindow {
    /// The last 24 hours (the default).
    #[serde(rename = "24h")]
    #[default]
    Day,
    /// The last 7 days.
    #[serde(rename = "7d")]
    Week,
    /// The last 30 days.
    #[serde(rename = "30d")]
    Month,
    /// The last 90 days (the default retention).
    #[serde(rename = "90d")]
    Quarter,
}

impl HistoryWindow {
    /// Every window, shortest first.
    pub const ALL: [HistoryWindow; 4] = [
        HistoryWindow::Day,
        HistoryWindow::Week,
        HistoryWindow::Month,
        HistoryWindow::Quarter,
    ];

    /// The wire string (`24h`, `7d`, `30d`, `90d`).
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryWindow::Day => "24h",
            HistoryWindow::Week => "7d",
            HistoryWindow::Month => "30d",
            HistoryWindow::Quarter => "90d",
        }
    }

    /// How many whole hours the window holds (the current hour included).
    pub fn hours(self) -> u32 {
        match self {
            HistoryWindow::Day => 24,
            HistoryWindow::Week => 7 * 24,
            HistoryWindow::Month => 30 * 24,
            HistoryWindow::Quarter => 90 * 24,
        }
    }

    /// The window's length.
    pub fn duration(self) -> Duration {
        Duration::from_secs(u64::from(self.hours()) * 3600)
    }
}

impl fmt::Display for HistoryWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `window` value that is not one of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid window {0:?}: expected one of 24h, 7d, 30d, 90d")]
pub struct ParseWindowError(pub String);

impl FromStr for HistoryWindow {
    type Err = ParseWindowError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HistoryWindow::ALL
            .into_iter()
            .find(|window| window.as_str() == s)
            .ok_or_else(|| ParseWindowError(s.to_owned()))
    }
}

/// The uptime figures the proxy list adds to each proxy (proxyhealth's
/// addition to Coder's `WorkspaceProxy`): the share of checks that were `ok`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ProxyUptime {
    /// Over the last 24 hours (0 to 1); `null` without checks.
    #[schema(required = true)]
    pub last_24h: Option<f64>,
    /// Over the last 30 days (0 to 1); `null` without checks.
    #[schema(required = true)]
    pub last_30d: Option<f64>,
}

/// One hour of a proxy's checks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct HistoryBucket {
    /// The hour's start (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub hour: OffsetDateTime,
    /// Checks in that hour.
    pub checks: u64,
    /// Of which `ok`.
    pub ok: u64,
    /// Of which `unhealthy`.
    pub unhealthy: u64,
    /// Of which `unreachable`.
    pub unreachable: u64,
    /// Of which `unregistered`.
    pub unregistered: u64,
    /// The share of checks that were `ok` (0 to 1); `null` without checks.
    #[schema(required = true)]
    pub uptime: Option<f64>,
    /// The median latency in milliseconds, from a sketch within ±9 %;
    /// `null` when no request was made.
    #[schema(required = true)]
    pub latency_median_ms: Option<f64>,
    /// The largest latency in milliseconds; `null` when no request was made.
    #[schema(required = true)]
    pub latency_max_ms: Option<f64>,
}

/// A change of a proxy's status, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct HistoryTransition {
    /// The proxy.
    pub proxy_id: Uuid,
    /// Its name at the time.
    pub proxy_name: String,
    /// When the check that caused it started.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The status before; `null` for the proxy's first recorded status.
    #[schema(required = true)]
    pub from: Option<Status>,
    /// The status after.
    pub to: Status,
    /// The proxy's report from that check (errors explain a bad status).
    pub report: HealthReport,
    /// With several replicas, the replica whose result caused it.
    #[schema(required = true)]
    pub replica_id: Option<Uuid>,
    /// How long the previous status lasted, in milliseconds; `null` for a
    /// first status.
    #[schema(required = true)]
    pub previous_duration_ms: Option<u64>,
}

/// A period a proxy spent out of `ok`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Incident {
    /// The proxy.
    pub proxy_id: Uuid,
    /// Its name when the incident started.
    pub proxy_name: String,
    /// When it left `ok` (or was first recorded out of it).
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When it was `ok` again, or its proxy was deleted; `null` while the
    /// incident is open.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(required = true)]
    pub ended_at: Option<OffsetDateTime>,
    /// Why it ended: `recovered` (`ok` again) or `proxy_deleted`; `null`
    /// while the incident is open.
    #[serde(default)]
    #[schema(required = true)]
    pub ended_by: Option<IncidentEnd>,
    /// Whether it is still going on.
    pub open: bool,
    /// From start to end (to now while open), in milliseconds.
    pub duration_ms: u64,
    /// The worst status during it (unreachable, then unhealthy, then
    /// unregistered, then unknown).
    pub worst_status: Status,
    /// The first error reported in it (first line); empty when none was.
    /// For a partial outage, its first warning (`partial outage: failing
    /// from …`).
    pub first_error: String,
    /// `outage` (out of `ok`) or `partial` (`ok` overall while failing
    /// from fewer vantages than the quorum; its worst status is `ok`).
    #[serde(default)]
    pub kind: IncidentKind,
    /// For a partial outage, every vantage it failed from while it lasted;
    /// empty for an outage.
    #[serde(default)]
    pub vantages: Vec<String>,
}

/// What kind of incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    /// The proxy was out of `ok`.
    #[default]
    Outage,
    /// The proxy stayed `ok` overall but failed from fewer vantages than the
    /// quorum.
    Partial,
}

/// `GET /api/v2/workspaceproxies/{id or name}/history?window=`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ProxyHistory {
    /// The proxy.
    pub proxy_id: Uuid,
    /// Its name.
    pub proxy_name: String,
    /// The window asked for.
    pub window: HistoryWindow,
    /// The start of the window's first hour (windows are whole hours, the
    /// current one included).
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// When the answer was made.
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    /// The share of the window's checks that were `ok` (0 to 1); `null`
    /// without checks.
    #[schema(required = true)]
    pub uptime: Option<f64>,
    /// The window's checks.
    pub checks: u64,
    /// Of which `ok`.
    pub ok_checks: u64,
    /// The proxy's status when the window started (its last transition
    /// before it); `null` when none was recorded.
    #[schema(required = true)]
    pub status_at_start: Option<Status>,
    /// The hours with checks, oldest first.
    pub buckets: Vec<HistoryBucket>,
    /// The transitions in the window, oldest first.
    pub transitions: Vec<HistoryTransition>,
    /// The proxy's incidents that overlap the window, newest first.
    pub incidents: Vec<Incident>,
    /// The maintenance windows (each occurrence) that overlap the window,
    /// oldest first: their checks count for no uptime and their status
    /// changes are not recorded nor notified; absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance: Vec<crate::wire_maintenance::WireMaintenance>,
}

/// `GET /api/v2/proxyhealth/incidents?since=&limit=&offset=`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct IncidentsPage {
    /// Incidents that were open at or after this time are listed.
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    /// This page, newest start first.
    pub incidents: Vec<Incident>,
    /// How many incidents there are in all.
    pub total: usize,
    /// Where this page starts in the whole list.
    pub offset: usize,
    /// The page size asked for.
    pub limit: usize,
    /// The `offset` of the next page; `null` on the last.
    #[schema(required = true)]
    pub next_offset: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_their_wire_strings_and_refuse_others_by_name() {
        for window in HistoryWindow::ALL {
            assert_eq!(window.as_str().parse::<HistoryWindow>(), Ok(window));
        }
        let err = "5d".parse::<HistoryWindow>().expect_err("must fail");
        assert_eq!(
            err.to_string(),
            "invalid window \"5d\": expected one of 24h, 7d, 30d, 90d"
        );
    }
}

//! What the engine knows about one proxy after checking it.

use crate::{HealthReport, Proxy, ProxyHost, Status, VantageReading};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;

/// The result of checking one proxy, as kept in the engine's snapshot.
/// Serializable both ways so a replica can store it as its result and the
/// others can read it back; `check_seq` is local and not stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyStatus {
    /// The proxy row as it was when the check started.
    pub proxy: Proxy,
    /// The proxy's hosts; `None` when it is unregistered or its URL does not parse.
    pub host: Option<ProxyHost>,
    /// The status consumers act on (after hysteresis, when it is enabled).
    pub status: Status,
    /// The status this check alone gave; differs from `status` only while
    /// hysteresis holds back a change.
    pub last_result: Status,
    /// How many checks in a row gave `last_result`.
    pub streak: u32,
    /// The proxy's report from this check, or the error that explains `last_result`.
    pub report: HealthReport,
    /// When the sweep (or single re-check) that produced this result started.
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    /// How long the request took; `None` when no request was made.
    pub latency: Option<Duration>,
    /// When `status` last changed (the first check counts as a change).
    #[serde(with = "time::serde::rfc3339")]
    pub status_changed_at: OffsetDateTime,
    /// The latest results, oldest first (at most [`HISTORY_LEN`]), so a flapping
    /// proxy shows at a glance.
    pub history: Vec<HistoryPoint>,
    /// Engine-wide order of the check's start, so a result never replaces a newer one.
    #[serde(skip)]
    pub check_seq: u64,
    /// When the TLS certificate the proxy presented (its leaf) expires: for an
    /// `https://` proxy whose last check got as far as its certificate
    /// (answered, or refused for its dates); `None` otherwise. Read as absent
    /// from results stored before it existed.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub tls_not_after: Option<OffsetDateTime>,
    /// Whole days from the check to `tls_not_after` (rounded down, negative
    /// once expired); `None` when `tls_not_after` is.
    #[serde(default)]
    pub tls_days_left: Option<i64>,
    /// Every vantage's newest result for the proxy, this service's own first,
    /// when a vantage besides the service's own has one: then `status` is
    /// the quorum's verdict over them and `report` says which vantages fail.
    /// Empty when only the service's own vantage probes the proxy (then
    /// `status` and `report` are its own, as without vantages).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vantages: Vec<VantageReading>,
}

impl ProxyStatus {
    /// The service's own vantage's status after hysteresis, before the
    /// quorum: what the next own result is damped against.
    pub fn own_status(&self) -> Status {
        self.vantages.first().map_or(self.status, |own| own.status)
    }
}

/// How many past results each proxy keeps for its history strip.
pub const HISTORY_LEN: usize = 30;

/// One past result of a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// The result of that check (before hysteresis).
    pub status: Status,
    /// When the check started.
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    /// How long the request took, in milliseconds; `None` when none was made.
    pub latency_ms: Option<u32>,
}

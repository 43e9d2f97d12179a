//! The JSON shapes of the fleet at a glance: the summary (also the data of
//! each `sweep` event), its counts and last sweep, and `/healthz`.
//! Re-exported by [`crate::wire`].

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// How many proxies are in each status.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct Counts {
    /// Proxies answering with a report without errors.
    pub ok: usize,
    /// Proxies answering wrongly or reporting errors.
    pub unhealthy: usize,
    /// Proxies that could not be reached.
    pub unreachable: usize,
    /// Proxies that never registered.
    pub unregistered: usize,
    /// Proxies not checked yet.
    pub unknown: usize,
}

/// The last sweep, as the summary shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct LastSweep {
    /// When it started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// How long it took; `null` when it failed.
    #[schema(required = true)]
    pub duration_ms: Option<f64>,
    /// Why it failed; `null` when it succeeded.
    #[schema(required = true)]
    pub error: Option<String>,
    /// proxyhealth: how many proxies it checked; `null` when it failed.
    #[schema(required = true)]
    pub proxies: Option<usize>,
    /// proxyhealth: failed sweeps in a row (0 after a success).
    pub consecutive_failures: u32,
}

/// `GET /api/v2/proxyhealth/summary`, also the data of each `sweep` event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Summary {
    /// Proxies per status.
    pub counts: Counts,
    /// All proxies in the snapshot.
    pub total: usize,
    /// The last full sweep; `null` before the first.
    #[schema(required = true)]
    pub last_sweep: Option<LastSweep>,
    /// Time between sweeps.
    pub interval_ms: u64,
    /// Increases with every stored snapshot (sweeps and single re-checks).
    pub generation: u64,
}

/// `GET /healthz`: `{"status":"ok"}` (200), or `{"status":"degraded", …}`
/// (503) with the store's error when the store is failing, and `"view":
/// "stale"` with the view's age when a replica of a cluster has not read its
/// shared view for more than two intervals.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Healthz {
    /// `ok` or `degraded`.
    #[schema(pattern = "^(ok|degraded)$")]
    pub status: String,
    /// The store's error, only when degraded by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_error: Option<String>,
    /// `stale`, only when degraded by a shared view not read for more than
    /// two intervals (a replica of a cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^stale$")]
    pub view: Option<String>,
    /// How old the shared view is, in milliseconds, only with `view`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_age_ms: Option<f64>,
}

//! The shapes of the live-update events of `/api/v2/proxyhealth/events`
//! (`?view=proxies` and `?view=regions`): what changed from one generation
//! of the snapshot to another, so a dashboard follows a large fleet without
//! reading the whole list again. Built on [`crate::wire`]'s shapes.

use crate::wire::{Region, WorkspaceProxy};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// The data of a `proxies` event: the admin list's change from the
/// generation `from` to `generation`.
///
/// `changed` holds every proxy that is new or whose shown state changed
/// (status, last result, report, names, URL, version, certificate), whole
/// and as the list shows it (without `uptime`); `latencies` the proxies
/// whose only change is their latency, by more than [`LATENCY_TOLERANCE_MS`]
/// ms and a factor of four from the one last sent, as an id and the new
/// latency (a sweep on a busy machine moves many latencies, and a proxy
/// whole is twenty times the size); `removed` the ids of the proxies gone.
/// When `checked_at` is set, a sweep checked every other proxy at that time
/// with the same result: a client that holds them marks them checked then
/// and adds that result to their history, with the latency of `latencies`
/// for those listed there.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ProxyDelta {
    /// The generation this change starts from; a client that is not at it
    /// reads the list again.
    pub from: u64,
    /// The generation after the change.
    pub generation: u64,
    /// When the sweep of this change started; `null` when no sweep ran
    /// (single re-checks, deletions).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(required = true)]
    pub checked_at: Option<OffsetDateTime>,
    /// The proxies new or changed, as `GET /api/v2/workspaceproxies` lists them.
    pub changed: Vec<WorkspaceProxy>,
    /// The proxies whose latency alone changed; left out when none did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latencies: Vec<LatencyChange>,
    /// The ids of the proxies deleted or gone.
    pub removed: Vec<Uuid>,
}

/// A proxy checked by the sweep of a [`ProxyDelta`] with the same result as
/// before and a latency that moved: all a client needs to show it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct LatencyChange {
    /// The proxy's id.
    pub id: Uuid,
    /// Its latency in that check, in milliseconds, as `status.latency_ms`.
    pub latency_ms: f64,
}

/// The data of a `regions` event: `/api/v2/regions`'s change from the
/// generation `from` to `generation` (new or changed regions whole, the ids
/// of those gone).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct RegionDelta {
    /// The generation this change starts from.
    pub from: u64,
    /// The generation after the change.
    pub generation: u64,
    /// The regions new or changed.
    pub changed: Vec<Region>,
    /// The ids of the regions gone.
    pub removed: Vec<Uuid>,
}

/// The data of a `resync` event: the stream could not say what changed
/// since the client's generation (it fell too far behind); read the list
/// again. Later events start from `generation`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct Resync {
    /// The generation later events start from.
    pub generation: u64,
}

/// A latency within this many milliseconds, or within a factor of four, of
/// the one a stream last sent for a proxy does not make it count as changed
/// in a [`ProxyDelta`]: a check's latency during a sweep jitters with load.
pub const LATENCY_TOLERANCE_MS: f64 = 100.0;

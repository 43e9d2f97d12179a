//! The JSON shapes of maintenance windows: `/api/v2/proxyhealth/maintenance`,
//! and the `maintenance` a proxy carries while it is in one. Re-exported by
//! [`crate::wire`].

use proxyhealth_core::maintenance::ActiveMaintenance;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// The window a proxy is in now: present on a proxy only while it is in
/// one (absent otherwise, so Coder's clients see nothing new).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WireMaintenance {
    /// The window's id.
    pub id: Uuid,
    /// Why, as the operator said it.
    pub reason: String,
    /// When this occurrence started.
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    /// When this occurrence ends (ended early: when it was ended).
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
}

impl From<&ActiveMaintenance> for WireMaintenance {
    fn from(active: &ActiveMaintenance) -> Self {
        WireMaintenance {
            id: active.id,
            reason: active.reason.clone(),
            starts_at: active.starts_at,
            ends_at: active.ends_at,
        }
    }
}

/// Where a window is in its life, at the time of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceState {
    /// An occurrence is under way.
    Active,
    /// It starts (again) later.
    Scheduled,
    /// It ended, or was ended early, and never starts again.
    Over,
    /// It was ended before it ever started.
    Cancelled,
}

/// A maintenance window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MaintenanceWindowInfo {
    /// Its id (`maintenance end ID`).
    pub id: Uuid,
    /// The proxy it covers; `null` when it covers every proxy.
    #[schema(required = true)]
    pub proxy_id: Option<Uuid>,
    /// That proxy's name (`null` for every proxy, or a proxy deleted since).
    #[schema(required = true)]
    pub proxy_name: Option<String>,
    /// Whether it covers every proxy.
    pub all: bool,
    /// When its first occurrence starts.
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    /// When its first occurrence ends.
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    /// Whether `[starts_at, ends_at)` repeats every 7 days (in UTC).
    pub weekly: bool,
    /// Why.
    pub reason: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was ended early; `null` when it was not.
    #[schema(required = true)]
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// Where it is now.
    pub state: MaintenanceState,
    /// The occurrence under way, or the next one; `null` when none is left.
    #[schema(required = true)]
    pub current: Option<WireMaintenance>,
}

/// `GET /api/v2/proxyhealth/maintenance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MaintenanceList {
    /// Every window, by start.
    pub windows: Vec<MaintenanceWindowInfo>,
}

/// `POST /api/v2/proxyhealth/maintenance`: one proxy (`proxy`) or every
/// proxy (`all`), from `start` to `end` (RFC 3339), weekly or once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMaintenanceRequest {
    /// The proxy's name or id; give this or `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// Every proxy; give this or `proxy`.
    #[serde(default)]
    pub all: bool,
    /// When it starts: an RFC 3339 time (`2026-12-01T02:00:00Z`).
    pub start: String,
    /// When it ends: an RFC 3339 time after `start`.
    pub end: String,
    /// Whether `[start, end)` repeats every 7 days (in UTC); a weekly window
    /// lasts at most 7 days.
    #[serde(default)]
    pub weekly: bool,
    /// Why: 1 to 500 characters.
    #[schema(max_length = 500)]
    pub reason: String,
}

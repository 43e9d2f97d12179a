//! The JSON shapes of notifications: the recent deliveries of
//! `GET /api/v2/proxyhealth/notifications`. Re-exported by [`crate::wire`].

use proxyhealth_core::Status;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// One notification (an outbox row) and how its delivery went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NotificationDelivery {
    /// The row's id; receivers see it as the delivery id.
    pub id: i64,
    /// The target's configured name.
    pub target: String,
    /// The proxy.
    pub proxy_id: Uuid,
    /// The proxy's name when its status changed.
    pub proxy_name: String,
    /// The status before (null for a first status).
    #[schema(required = true)]
    pub from: Option<Status>,
    /// The status after.
    pub to: Status,
    /// When the change happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `pending`, `delivered`, `failed` or `cancelled` (superseded within
    /// the damping time).
    pub state: String,
    /// Attempts made.
    pub attempts: u32,
    /// When the row was written.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When a pending row is due next.
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    /// When it was delivered, given up or cancelled.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(required = true)]
    pub finished_at: Option<OffsetDateTime>,
    /// The last attempt's HTTP status, if an answer came.
    #[schema(required = true)]
    pub last_status: Option<u16>,
    /// The last failed attempt's error.
    #[schema(required = true)]
    pub last_error: Option<String>,
}

/// `GET /api/v2/proxyhealth/notifications`: the newest deliveries first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct NotificationsResponse {
    /// The newest notifications, newest first (at most `?limit=`, 100 by default).
    pub notifications: Vec<NotificationDelivery>,
}

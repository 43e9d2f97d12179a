//! `GET /api/v2/proxyhealth/notifications`: the newest notifications (outbox
//! rows) and how their delivery went (admin).

use crate::error::ApiError;
use crate::paging;
use axum::Json;
use axum::extract::{RawQuery, State};
use proxyhealth_api::wire::{NotificationDelivery, NotificationsResponse};
use proxyhealth_core::envelope::ErrorEnvelope;
use proxyhealth_store::ProxyStore;
use std::sync::Arc;

/// Rows listed when `?limit=` is not given.
const DEFAULT_LIMIT: usize = 100;
/// The most rows one answer lists.
const MAX_LIMIT: usize = 1000;

/// `?limit=N` from the query string (other keys are ignored).
fn limit_of(query: Option<&str>) -> Result<u32, ApiError> {
    let given = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("limit="));
    let limit = paging::limit(given, DEFAULT_LIMIT, MAX_LIMIT)?;
    // at most MAX_LIMIT, which a u32 holds
    Ok(u32::try_from(limit).unwrap_or(u32::MAX))
}

/// `GET /api/v2/proxyhealth/notifications[?limit=N]`.
#[utoipa::path(
    get,
    path = "/api/v2/proxyhealth/notifications",
    operation_id = "list_notifications",
    tag = "notifications",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "How many notifications, 1 to 1000 (100 by default)."),
    ),
    responses(
        (status = 200, description = "The newest notifications first, and how their delivery went (an empty list when the store keeps none).", body = NotificationsResponse),
        (status = 400, description = "`limit` is not a whole number from 1 to 1000.", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn list(
    State(store): State<Arc<dyn ProxyStore>>,
    RawQuery(query): RawQuery,
) -> Result<Json<NotificationsResponse>, ApiError> {
    let limit = limit_of(query.as_deref())?;
    let Some(outbox) = store.outbox() else {
        return Ok(Json(NotificationsResponse::default()));
    };
    let rows = outbox.recent(limit).await?;
    Ok(Json(NotificationsResponse {
        notifications: rows
            .into_iter()
            .map(|n| NotificationDelivery {
                id: n.id,
                target: n.target,
                proxy_id: n.transition.proxy_id,
                proxy_name: n.transition.proxy_name,
                from: n.transition.from,
                to: n.transition.to,
                at: n.transition.at,
                state: n.state.as_str().to_owned(),
                attempts: n.attempts,
                created_at: n.created_at,
                next_attempt_at: n.next_attempt_at,
                finished_at: n.finished_at,
                last_status: n.last_status,
                last_error: n.last_error,
            })
            .collect(),
    }))
}

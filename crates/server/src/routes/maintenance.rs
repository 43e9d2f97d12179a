//! `/api/v2/proxyhealth/maintenance`: maintenance windows, when proxies are
//! taken down on purpose. Probes go on and results are shown, but a proxy in
//! a window is marked so, its changes are not notified and its checks count
//! for no uptime.

use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::maintenance::Maintenance;
use crate::path_param::PathParam;
use crate::routes::proxies::find_proxy;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use proxyhealth_api::wire::{
    CreateMaintenanceRequest, MaintenanceList, MaintenanceState, MaintenanceWindowInfo,
    WireMaintenance,
};
use proxyhealth_core::envelope::ErrorEnvelope;
use proxyhealth_core::maintenance::{MaintenanceScope, MaintenanceWindow, NewMaintenance};
use proxyhealth_store::{MaintenanceError, MaintenanceStore, ProxyStore, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

impl From<MaintenanceError> for ApiError {
    fn from(err: MaintenanceError) -> Self {
        match err {
            MaintenanceError::Invalid(field) => {
                ApiError::invalid_field("Validation failed.", &field)
            }
            MaintenanceError::NotFound(_) => ApiError::not_found(err.to_string()),
            MaintenanceError::AlreadyOver(_) => {
                ApiError::new(StatusCode::CONFLICT, err.to_string())
            }
            MaintenanceError::Store(store) => store.into(),
        }
    }
}

/// The store's windows, or the refusal of a store without tables of our own.
fn windows_of(maintenance: &Maintenance) -> Result<Arc<dyn MaintenanceStore>, ApiError> {
    maintenance
        .store()
        .cloned()
        .ok_or_else(|| ApiError::from(StoreError::ReadOnly))
}

/// A window as the API shows it at `now`.
pub(crate) fn info(
    window: &MaintenanceWindow,
    names: &HashMap<Uuid, String>,
    now: OffsetDateTime,
) -> MaintenanceWindowInfo {
    let proxy_id = match window.scope {
        MaintenanceScope::Proxy(id) => Some(id),
        MaintenanceScope::All => None,
    };
    let active = window.occurrence_at(now);
    let next = window
        .next_change_after(now)
        .and_then(|at| window.occurrence_at(at));
    let state = match (&active, &next) {
        (Some(_), _) => MaintenanceState::Active,
        (None, Some(_)) => MaintenanceState::Scheduled,
        (None, None)
            if window
                .ended_at
                .is_some_and(|ended| ended <= window.starts_at) =>
        {
            MaintenanceState::Cancelled
        }
        (None, None) => MaintenanceState::Over,
    };
    MaintenanceWindowInfo {
        id: window.id,
        proxy_id,
        proxy_name: proxy_id.and_then(|id| names.get(&id).cloned()),
        all: proxy_id.is_none(),
        starts_at: window.starts_at,
        ends_at: window.ends_at,
        weekly: window.weekly,
        reason: window.reason.clone(),
        created_at: window.created_at,
        ended_at: window.ended_at,
        state,
        current: active.or(next).as_ref().map(WireMaintenance::from),
    }
}

/// The names of the proxies `windows` cover (deleted ones left out).
async fn names_of(
    store: &dyn ProxyStore,
    windows: &[MaintenanceWindow],
) -> Result<HashMap<Uuid, String>, ApiError> {
    let mut ids: Vec<Uuid> = windows
        .iter()
        .filter_map(|window| match window.scope {
            MaintenanceScope::Proxy(id) => Some(id),
            MaintenanceScope::All => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(store
        .get_proxies(&ids)
        .await?
        .into_iter()
        .filter(|proxy| !proxy.deleted)
        .map(|proxy| (proxy.id, proxy.name))
        .collect())
}

/// An RFC 3339 time sent in `field`.
fn time_of(field: &str, value: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(value.trim(), &Rfc3339).map_err(|_| {
        ApiError::bad_request("Validation failed.").with_validation(
            field,
            format!("{value:?} is not an RFC 3339 time (like 2026-12-01T02:00:00Z)"),
        )
    })
}

/// `GET /api/v2/proxyhealth/maintenance`.
#[utoipa::path(
    get,
    path = "/api/v2/proxyhealth/maintenance",
    operation_id = "list_maintenance",
    tag = "maintenance",
    responses(
        (status = 200, description = "Every maintenance window, by start, with where it is now and its current or next occurrence.", body = MaintenanceList),
        (status = 503, description = "The store is unavailable, or keeps no windows (attached read-only to Coder without a schema of our own).", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn list(
    State(store): State<Arc<dyn ProxyStore>>,
    State(maintenance): State<Maintenance>,
) -> Result<Json<MaintenanceList>, ApiError> {
    let windows = windows_of(&maintenance)?.list().await?;
    let names = names_of(store.as_ref(), &windows).await?;
    let now = maintenance.now();
    Ok(Json(MaintenanceList {
        windows: windows
            .iter()
            .map(|window| info(window, &names, now))
            .collect(),
    }))
}

/// `POST /api/v2/proxyhealth/maintenance`.
#[utoipa::path(
    post,
    path = "/api/v2/proxyhealth/maintenance",
    operation_id = "create_maintenance",
    tag = "maintenance",
    request_body = CreateMaintenanceRequest,
    responses(
        (status = 201, description = "Created: the window; a proxy in it is shown in maintenance from its start.", body = MaintenanceWindowInfo),
        (status = 400, description = "A field breaks a rule (neither or both of `proxy` and `all`, an unknown proxy, a time that is not RFC 3339, `end` not after `start`, a weekly window longer than 7 days, a missing or too long `reason`), or the body is not the expected JSON object; `validations` names the field.", body = ErrorEnvelope),
        (status = 413, description = "The body is larger than `max_body_bytes`.", body = ErrorEnvelope),
        (status = 415, description = "The body is not `application/json`.", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable or keeps no windows.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn create(
    State(store): State<Arc<dyn ProxyStore>>,
    State(maintenance): State<Maintenance>,
    JsonBody(body): JsonBody<CreateMaintenanceRequest>,
) -> Result<(StatusCode, Json<MaintenanceWindowInfo>), ApiError> {
    let windows = windows_of(&maintenance)?;
    let scope = match (body.proxy.as_deref().map(str::trim), body.all) {
        (Some(key), false) if !key.is_empty() => {
            let proxy = find_proxy(store.as_ref(), key).await.map_err(|err| {
                if err.status == StatusCode::NOT_FOUND {
                    ApiError::bad_request("Validation failed.").with_validation(
                        "proxy",
                        format!("no workspace proxy has the id or name {key:?}"),
                    )
                } else {
                    err
                }
            })?;
            MaintenanceScope::Proxy(proxy.id)
        }
        (None | Some(""), true) => MaintenanceScope::All,
        (Some(_), true) => {
            return Err(ApiError::bad_request("Validation failed.")
                .with_validation("proxy", "give a proxy or all, not both"));
        }
        (_, false) => {
            return Err(ApiError::bad_request("Validation failed.")
                .with_validation("proxy", "is required (or all)"));
        }
    };
    let new = NewMaintenance {
        scope,
        starts_at: time_of("start", &body.start)?,
        ends_at: time_of("end", &body.end)?,
        weekly: body.weekly,
        reason: body.reason,
    };
    let now = maintenance.now();
    let created = windows.create(&new, now).await?;
    if let Err(err) = maintenance.refresh().await {
        tracing::warn!(error = %err, "reading the maintenance windows failed");
    }
    tracing::info!(window = %created.id, reason = %created.reason, "maintenance window created");
    let names = names_of(store.as_ref(), std::slice::from_ref(&created)).await?;
    Ok((StatusCode::CREATED, Json(info(&created, &names, now))))
}

/// `POST /api/v2/proxyhealth/maintenance/{id}/end`.
#[utoipa::path(
    post,
    path = "/api/v2/proxyhealth/maintenance/{id}/end",
    operation_id = "end_maintenance",
    tag = "maintenance",
    params(
        ("id" = Uuid, Path, description = "The window's id."),
    ),
    responses(
        (status = 200, description = "Ended: an occurrence under way ends now, a window not started yet is cancelled; no later occurrence happens.", body = MaintenanceWindowInfo),
        (status = 400, description = "The id is not a UUID.", body = ErrorEnvelope),
        (status = 404, description = "No window has this id.", body = ErrorEnvelope),
        (status = 409, description = "The window is already over.", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable or keeps no windows.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn end(
    State(store): State<Arc<dyn ProxyStore>>,
    State(maintenance): State<Maintenance>,
    PathParam(id): PathParam<String>,
) -> Result<Json<MaintenanceWindowInfo>, ApiError> {
    end_window(store, maintenance, &id).await
}

/// `DELETE /api/v2/proxyhealth/maintenance/{id}`: the same as `…/{id}/end`.
#[utoipa::path(
    delete,
    path = "/api/v2/proxyhealth/maintenance/{id}",
    operation_id = "delete_maintenance",
    tag = "maintenance",
    params(
        ("id" = Uuid, Path, description = "The window's id."),
    ),
    responses(
        (status = 200, description = "Ended, as `POST …/{id}/end` (the window is kept, to be listed).", body = MaintenanceWindowInfo),
        (status = 400, description = "The id is not a UUID.", body = ErrorEnvelope),
        (status = 404, description = "No window has this id.", body = ErrorEnvelope),
        (status = 409, description = "The window is already over.", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable or keeps no windows.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn delete(
    State(store): State<Arc<dyn ProxyStore>>,
    State(maintenance): State<Maintenance>,
    PathParam(id): PathParam<String>,
) -> Result<Json<MaintenanceWindowInfo>, ApiError> {
    end_window(store, maintenance, &id).await
}

async fn end_window(
    store: Arc<dyn ProxyStore>,
    maintenance: Maintenance,
    id: &str,
) -> Result<Json<MaintenanceWindowInfo>, ApiError> {
    let windows = windows_of(&maintenance)?;
    let id = Uuid::parse_str(id.trim()).map_err(|_| {
        ApiError::bad_request("Validation failed.").with_validation(
            "id",
            format!("{id:?} is not a maintenance window id (a UUID)"),
        )
    })?;
    let now = maintenance.now();
    let ended = windows.end(id, now).await?;
    if let Err(err) = maintenance.refresh().await {
        tracing::warn!(error = %err, "reading the maintenance windows failed");
    }
    tracing::info!(window = %ended.id, "maintenance window ended");
    let names = names_of(store.as_ref(), std::slice::from_ref(&ended)).await?;
    Ok(Json(info(&ended, &names, now)))
}

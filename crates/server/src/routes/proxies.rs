//! The admin routes on `/api/v2/workspaceproxies` and the open `/api/v2/regions`.

use crate::audit::AuditObject;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::fleet_index::{FleetIndex, FleetIndexCache};
use crate::history_reader::HistoryReader;
use crate::maintenance::Maintenance;
use crate::path_param::PathParam;
use crate::proxy_list::ListQuery;
use crate::regions_cache::RegionsCache;
use crate::store_health::StoreHealth;
use axum::extract::Query;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use proxyhealth_api::wire::{
    CreateProxyRequest, MessageResponse, PatchProxyRequest, ProxyList, Region, RegionsResponse,
    UpdateWorkspaceProxyResponse, WireStatus, WorkspaceProxy,
};
use proxyhealth_core::envelope::ErrorEnvelope;
use proxyhealth_core::validate::{
    RESERVED_NAME, validate_display_name, validate_icon, validate_name,
};
use proxyhealth_core::{Proxy, ProxyStatus, Status};
use proxyhealth_engine::{Engine, Snapshot};
use proxyhealth_store::{NewProxy, ProxyStore, ProxyUpdate, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// The store slice of the shared state.
type Store = State<Arc<dyn ProxyStore>>;

/// Finds a non-deleted proxy by id (when the key parses as a UUID) or by name.
pub(crate) async fn find_proxy(store: &dyn ProxyStore, key: &str) -> Result<Proxy, ApiError> {
    let found = match Uuid::parse_str(key) {
        Ok(id) => store.get_proxy(id).await?,
        Err(_) => store.proxy_by_name(key).await?,
    };
    match found {
        Some(proxy) if !proxy.deleted => Ok(proxy),
        _ => Err(ApiError::not_found("Workspace proxy not found.")
            .with_detail(format!("No workspace proxy has the id or name {key:?}."))),
    }
}

/// Every non-deleted proxy, ordered by name.
///
/// When the store is unavailable, the proxies of the snapshot itself are served
/// (as they were at their last check), so readers keep the last known fleet
/// while the fault is recorded for `/healthz` and the metrics.
async fn live_proxies(
    store: &dyn ProxyStore,
    store_health: &StoreHealth,
    snapshot: &Snapshot,
) -> Result<Vec<Proxy>, ApiError> {
    let mut proxies = match store.all_proxies().await {
        Ok(proxies) => proxies,
        Err(err @ StoreError::Unavailable(_)) => {
            let error = err.to_string();
            store_health.record("read", &error);
            tracing::warn!(%error, "store unavailable; serving the proxies of the last snapshot");
            snapshot
                .statuses()
                .values()
                .map(|status| status.proxy.clone())
                .collect()
        }
        Err(err) => return Err(err.into()),
    };
    proxies.retain(|proxy| !proxy.deleted);
    // The order of `by_name`, each name lowercased once rather than at every
    // comparison.
    proxies.sort_by_cached_key(|proxy| (proxy.name.to_lowercase(), proxy.name.clone()));
    Ok(proxies)
}

/// Every non-deleted proxy with its status in `snapshot`, ordered by name.
async fn all_with_status(
    store: &dyn ProxyStore,
    store_health: &StoreHealth,
    snapshot: &Snapshot,
) -> Result<Vec<WorkspaceProxy>, ApiError> {
    let proxies = live_proxies(store, store_health, snapshot).await?;
    Ok(proxies
        .iter()
        .map(|proxy| {
            WorkspaceProxy::with_engine_status(proxy, snapshot.get(&proxy.id).map(Arc::as_ref))
        })
        .collect())
}

/// The proxies at `rows` of `index` with their results, each as the store
/// has it now (so a change made through the API shows at once, before its
/// re-check); one the store no longer lists is left out. When the store is
/// unavailable, the proxies as of their checks are served, as the whole list
/// does.
async fn page_rows(
    store: &dyn ProxyStore,
    store_health: &StoreHealth,
    index: &FleetIndex,
    rows: &[u32],
) -> Result<Vec<WorkspaceProxy>, ApiError> {
    let results: Vec<&Arc<ProxyStatus>> = rows.iter().filter_map(|&row| index.row(row)).collect();
    let ids: Vec<Uuid> = results.iter().map(|result| result.proxy.id).collect();
    let current: HashMap<Uuid, Proxy> = match store.get_proxies(&ids).await {
        Ok(proxies) => proxies.into_iter().map(|proxy| (proxy.id, proxy)).collect(),
        Err(err @ StoreError::Unavailable(_)) => {
            let error = err.to_string();
            store_health.record("read", &error);
            tracing::warn!(%error, "store unavailable; serving the proxies of the last snapshot");
            return Ok(results
                .into_iter()
                .map(|result| WorkspaceProxy::with_engine_status(&result.proxy, Some(result)))
                .collect());
        }
        Err(err) => return Err(err.into()),
    };
    Ok(results
        .into_iter()
        .filter_map(|result| {
            let proxy = current
                .get(&result.proxy.id)
                .filter(|proxy| !proxy.deleted)?;
            Some(WorkspaceProxy::with_engine_status(proxy, Some(result)))
        })
        .collect())
}

/// Marks each proxy in a maintenance window with it (one lookup each in the
/// book of the windows active now).
fn with_maintenance(maintenance: &Maintenance, proxies: &mut [WorkspaceProxy]) {
    let book = maintenance.book();
    for proxy in proxies {
        proxy.maintenance = book.of(&proxy.region.id).map(Into::into);
    }
}

/// Adds each proxy's uptime over 24 hours and 30 days when the store keeps
/// history (a failed read of it is logged and leaves the figures out: the
/// list itself does not depend on it).
async fn with_uptime(history: &HistoryReader, snapshot: &Snapshot, proxies: &mut [WorkspaceProxy]) {
    match history
        .uptimes(OffsetDateTime::now_utc(), snapshot.generation())
        .await
    {
        Ok(Some(uptimes)) => {
            for proxy in proxies {
                proxy.uptime = Some(uptimes.get(&proxy.region.id).copied().unwrap_or_default());
            }
        }
        Ok(None) => {}
        Err(err) => tracing::warn!(error = %err, "reading the uptime figures failed"),
    }
}

/// `GET /api/v2/workspaceproxies`: without parameters, Coder's whole list
/// ordered by name; with any of `status`, `name`, `sort`, `offset`, `limit`,
/// one page of the proxies that match, with how many matched. Each proxy
/// carries its uptime over 24 hours and 30 days when the store keeps history.
#[utoipa::path(
    get,
    path = "/api/v2/workspaceproxies",
    operation_id = "list_workspace_proxies",
    tag = "workspaceproxies",
    params(
        ("status" = Option<String>, Query, description = "Only proxies in these statuses, separated by commas (`unreachable,unhealthy`)."),
        ("name" = Option<String>, Query, description = "Only proxies whose name or display name holds this text, in any case."),
        ("sort" = Option<String>, Query, description = "`name` (the default), `status` (`ok` first), `latency` (fastest first, never checked last) or `changed` (when the status last changed); `-` before it for descending. Ties by name."),
        ("offset" = Option<u64>, Query, description = "Where the page starts among the matching proxies (0 by default)."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "The page size, 1 to 1000 (100 by default when any parameter is given)."),
    ),
    responses(
        (status = 200, description = "Every proxy with its status, ordered by name (no parameter), or one page with `total`, `offset` and `limit`; `uptime` when the store keeps history.", body = ProxyList),
        (status = 400, description = "`status`, `sort`, `offset` or `limit` is invalid; `validations` names it.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn list(
    State(engine): State<Engine>,
    State(store): Store,
    State(store_health): State<Arc<StoreHealth>>,
    State(history): State<Arc<HistoryReader>>,
    State(maintenance): State<Maintenance>,
    State(fleet): State<Arc<FleetIndexCache>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<ProxyList>, ApiError> {
    let query = ListQuery::from_params(&params)?;
    let snapshot = engine.snapshot_arc();
    let Some(query) = query else {
        let mut regions = all_with_status(store.as_ref(), &store_health, &snapshot).await?;
        with_uptime(&history, &snapshot, &mut regions).await;
        with_maintenance(&maintenance, &mut regions);
        return Ok(Json(ProxyList::whole(regions)));
    };
    // Once a sweep has filled the snapshot, it holds the fleet: the page is
    // found in its index, and only the page's rows are read from the store.
    let index = snapshot.last_sweep().and_then(|_| fleet.index(&snapshot));
    let (mut regions, total) = match index {
        Some(index) => {
            let (rows, total) = query.page_of(&index);
            let page = page_rows(store.as_ref(), &store_health, &index, &rows).await?;
            (page, total)
        }
        None => {
            let proxies = live_proxies(store.as_ref(), &store_health, &snapshot).await?;
            let with_status = proxies
                .iter()
                .map(|proxy| (proxy, snapshot.get(&proxy.id).map(Arc::as_ref)))
                .collect();
            let (page, total) = query.page(with_status);
            let page = page
                .into_iter()
                .map(|(proxy, status)| WorkspaceProxy::with_engine_status(proxy, status))
                .collect();
            (page, total)
        }
    };
    with_uptime(&history, &snapshot, &mut regions).await;
    with_maintenance(&maintenance, &mut regions);
    Ok(Json(ProxyList::page(
        regions,
        total,
        query.offset(),
        query.limit(),
    )))
}

/// `GET /api/v2/workspaceproxies/{proxy}`.
#[utoipa::path(
    get,
    path = "/api/v2/workspaceproxies/{proxy}",
    operation_id = "get_workspace_proxy",
    tag = "workspaceproxies",
    params(
        ("proxy" = String, Path, description = "The proxy's id (a UUID) or its name."),
    ),
    responses(
        (status = 200, description = "The proxy with its status.", body = WorkspaceProxy),
        (status = 400, description = "The path is not UTF-8 once percent-decoded.", body = ErrorEnvelope),
        (status = 404, description = "No proxy has this id or name.", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn get_one(
    State(engine): State<Engine>,
    State(store): Store,
    State(maintenance): State<Maintenance>,
    PathParam(key): PathParam<String>,
) -> Result<Json<WorkspaceProxy>, ApiError> {
    let proxy = find_proxy(store.as_ref(), &key).await?;
    let status = engine.status_of(&proxy.id);
    let mut found = WorkspaceProxy::with_engine_status(&proxy, status.as_deref());
    found.maintenance = maintenance.of(&proxy.id).as_ref().map(Into::into);
    Ok(Json(found))
}

/// Coder's name rules, with Coder's message for the reserved name.
fn check_name(name: &str) -> Result<(), ApiError> {
    if name.eq_ignore_ascii_case(RESERVED_NAME) {
        return Err(ApiError::bad_request(format!(
            "The name {RESERVED_NAME:?} is reserved for the primary region."
        ))
        .with_detail("Cannot name a workspace proxy 'primary'.")
        .with_validation("name", "Reserved name"));
    }
    validate_name(name).map_err(|err| ApiError::invalid_field("Validation failed.", &err))
}

fn check_display_name_and_icon(
    display_name: Option<&str>,
    icon: Option<&str>,
) -> Result<(), ApiError> {
    if let Some(display_name) = display_name {
        validate_display_name(display_name)
            .map_err(|err| ApiError::invalid_field("Validation failed.", &err))?;
    }
    if let Some(icon) = icon {
        validate_icon(icon).map_err(|err| ApiError::invalid_field("Validation failed.", &err))?;
    }
    Ok(())
}

/// `POST /api/v2/workspaceproxies`: 201 with the token and status `unregistered`,
/// after re-checking this proxy alone (no request is made for an unregistered
/// proxy, so this is immediate).
#[utoipa::path(
    post,
    path = "/api/v2/workspaceproxies",
    operation_id = "create_workspace_proxy",
    tag = "workspaceproxies",
    request_body = CreateProxyRequest,
    responses(
        (status = 201, description = "Created: the proxy (`unregistered`) and its token, shown only now.", body = UpdateWorkspaceProxyResponse,
            links(
                ("get" = (operation_id = "get_workspace_proxy", parameters(("proxy" = "$response.body#/proxy/id")), description = "The proxy just created.")),
                ("patch" = (operation_id = "patch_workspace_proxy", parameters(("proxy" = "$response.body#/proxy/id")), description = "Change the proxy just created.")),
                ("delete" = (operation_id = "delete_workspace_proxy", parameters(("proxy" = "$response.body#/proxy/id")), description = "Delete the proxy just created.")),
                ("history" = (operation_id = "get_proxy_history", parameters(("proxy" = "$response.body#/proxy/id")), description = "The history of the proxy just created.")),
            ),
        ),
        (status = 400, description = "A field breaks a rule, or the body is not the expected JSON object; `validations` names the field.", body = ErrorEnvelope),
        (status = 409, description = "The name is taken.", body = ErrorEnvelope),
        (status = 413, description = "The body is larger than `max_body_bytes`.", body = ErrorEnvelope),
        (status = 415, description = "The body is not `application/json`.", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable or read-only.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn create(
    State(engine): State<Engine>,
    State(store): Store,
    JsonBody(body): JsonBody<CreateProxyRequest>,
) -> Result<
    (
        StatusCode,
        Extension<AuditObject>,
        Json<UpdateWorkspaceProxyResponse>,
    ),
    ApiError,
> {
    check_name(&body.name)?;
    check_display_name_and_icon(Some(&body.display_name), Some(&body.icon))?;
    let created = store
        .create_proxy(NewProxy {
            name: body.name,
            display_name: body.display_name,
            icon: body.icon,
        })
        .await?;
    let id = created.proxy.id;
    tracing::info!(proxy = %created.proxy.name, proxy_id = %id, "proxy created");
    let status = match engine.recheck(id).await {
        Ok(status) => WireStatus::from_engine(&status),
        Err(err) => {
            tracing::warn!(proxy_id = %id, error = %err, "could not check the new proxy");
            WireStatus::placeholder(Status::Unregistered, OffsetDateTime::now_utc())
        }
    };
    Ok((
        StatusCode::CREATED,
        Extension(AuditObject(created.proxy.name.clone())),
        Json(UpdateWorkspaceProxyResponse {
            proxy: WorkspaceProxy::new(&created.proxy, status),
            proxy_token: created.token,
        }),
    ))
}

/// `PATCH /api/v2/workspaceproxies/{proxy}`: any of name, display name and icon,
/// and perhaps a new token; 200, then a re-check of this proxy in the background.
#[utoipa::path(
    patch,
    path = "/api/v2/workspaceproxies/{proxy}",
    operation_id = "patch_workspace_proxy",
    tag = "workspaceproxies",
    params(
        ("proxy" = String, Path, description = "The proxy's id (a UUID) or its name."),
    ),
    request_body = PatchProxyRequest,
    responses(
        (status = 200, description = "The proxy after the change; `proxy_token` only when regenerated (empty otherwise).", body = UpdateWorkspaceProxyResponse),
        (status = 400, description = "A field breaks a rule, the body's `id` is another proxy's, the body is not the expected JSON object, or the path is not UTF-8 once percent-decoded.", body = ErrorEnvelope),
        (status = 404, description = "No proxy has this id or name.", body = ErrorEnvelope),
        (status = 409, description = "The new name is taken.", body = ErrorEnvelope),
        (status = 413, description = "The body is larger than `max_body_bytes`.", body = ErrorEnvelope),
        (status = 415, description = "The body is not `application/json`.", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable or read-only.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn patch(
    State(engine): State<Engine>,
    State(store): Store,
    PathParam(key): PathParam<String>,
    JsonBody(body): JsonBody<PatchProxyRequest>,
) -> Result<Json<UpdateWorkspaceProxyResponse>, ApiError> {
    let mut proxy = find_proxy(store.as_ref(), &key).await?;
    if let Some(id) = body.id
        && id != proxy.id
    {
        return Err(
            ApiError::bad_request("The id in the body is not the proxy's in the path.")
                .with_validation("id", format!("expected {} or nothing", proxy.id)),
        );
    }
    if let Some(name) = &body.name {
        check_name(name)?;
    }
    check_display_name_and_icon(body.display_name.as_deref(), body.icon.as_deref())?;
    let update = ProxyUpdate {
        name: body.name,
        display_name: body.display_name,
        icon: body.icon,
    };
    if update.name.is_some() || update.display_name.is_some() || update.icon.is_some() {
        proxy = store.update_proxy(proxy.id, update).await?;
    }
    let mut proxy_token = String::new();
    if body.regenerate_token {
        let created = store.regenerate_token(proxy.id).await?;
        proxy = created.proxy;
        proxy_token = created.token;
        tracing::info!(proxy = %proxy.name, proxy_id = %proxy.id, "proxy token regenerated");
    }
    let status = engine.status_of(&proxy.id);
    engine.recheck_in_background(proxy.id);
    Ok(Json(UpdateWorkspaceProxyResponse {
        proxy: WorkspaceProxy::with_engine_status(&proxy, status.as_deref()),
        proxy_token,
    }))
}

/// `DELETE /api/v2/workspaceproxies/{proxy}`: soft delete; the proxy leaves the
/// snapshot at once.
#[utoipa::path(
    delete,
    path = "/api/v2/workspaceproxies/{proxy}",
    operation_id = "delete_workspace_proxy",
    tag = "workspaceproxies",
    params(
        ("proxy" = String, Path, description = "The proxy's id (a UUID) or its name."),
    ),
    responses(
        (status = 200, description = "Deleted (soft): `Proxy has been deleted!`.", body = MessageResponse),
        (status = 400, description = "The path is not UTF-8 once percent-decoded.", body = ErrorEnvelope),
        (status = 404, description = "No proxy has this id or name.", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable or read-only.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn delete(
    State(engine): State<Engine>,
    State(store): Store,
    PathParam(key): PathParam<String>,
) -> Result<Json<MessageResponse>, ApiError> {
    let proxy = find_proxy(store.as_ref(), &key).await?;
    store.delete_proxy(proxy.id).await?;
    engine.forget(&proxy.id);
    tracing::info!(proxy = %proxy.name, proxy_id = %proxy.id, "proxy deleted");
    Ok(Json(MessageResponse {
        message: "Proxy has been deleted!".to_owned(),
    }))
}

/// `POST /api/v2/workspaceproxies/refresh`: a sweep now, shared with concurrent
/// callers; answers with the statuses it stored.
#[utoipa::path(
    post,
    path = "/api/v2/workspaceproxies/refresh",
    operation_id = "refresh_workspace_proxies",
    tag = "workspaceproxies",
    responses(
        (status = 200, description = "The statuses the sweep stored, ordered by name.", body = RegionsResponse<WorkspaceProxy>),
        (status = 503, description = "The store is unavailable, or the service is shutting down.", body = ErrorEnvelope),
        (status = 500, description = "The sweep failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn refresh(
    State(engine): State<Engine>,
    State(store): Store,
    State(store_health): State<Arc<StoreHealth>>,
) -> Result<Json<RegionsResponse<WorkspaceProxy>>, ApiError> {
    let snapshot = engine.force_update().await?;
    let regions = all_with_status(store.as_ref(), &store_health, &snapshot).await?;
    Ok(Json(RegionsResponse { regions }))
}

/// `GET /api/v2/regions`: Coder's regions, derp-only proxies left out, served
/// from the snapshot with its JSON rendered once per snapshot (see `regions_cache`).
#[utoipa::path(
    get,
    path = "/api/v2/regions",
    operation_id = "get_regions",
    tag = "regions",
    responses(
        (status = 200, description = "Coder's regions, derp-only proxies left out; `healthy` only for `ok`.", body = RegionsResponse<Region>),
        (status = 500, description = "The regions could not be encoded.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn regions(
    State(engine): State<Engine>,
    State(regions): State<Arc<RegionsCache>>,
) -> Result<axum::response::Response, ApiError> {
    let snapshot = engine.snapshot();
    let body = regions
        .body(&snapshot)
        .map_err(|err| ApiError::internal(format!("encode the regions: {err}")))?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

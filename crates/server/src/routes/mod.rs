//! The handlers, one module per group of routes, and the router that joins them.
//!
//! Each handler and middleware takes only the slices of [`AppState`] it needs
//! (see [`crate::state`]); the handler modules never import the state itself.

pub(crate) mod health;
pub(crate) mod history;
pub(crate) mod notifications;
pub(crate) mod proxies;
pub(crate) mod register;
pub(crate) mod replicas;

use crate::assets;
use crate::auth::{require_admin, require_reader};
use crate::error::ApiError;
use crate::http_metrics::observe;
use crate::state::AppState;
use crate::store_health::record_faults;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

/// Every route of docs/api.md, with its authentication, the body limit
/// (`max_body_bytes`), the HTTP metrics, the recording of store faults and the
/// security headers.
pub(crate) fn router(state: AppState, max_body_bytes: usize) -> Router {
    let admin = Router::new()
        .route(
            "/api/v2/workspaceproxies",
            get(proxies::list).post(proxies::create),
        )
        .route("/api/v2/workspaceproxies/refresh", post(proxies::refresh))
        .route(
            "/api/v2/workspaceproxies/{proxy}",
            get(proxies::get_one)
                .patch(proxies::patch)
                .delete(proxies::delete),
        )
        .route(
            "/api/v2/workspaceproxies/{proxy}/history",
            get(history::proxy_history),
        )
        .route("/api/v2/proxyhealth/incidents", get(history::incidents))
        .route("/api/v2/proxyhealth/replicas", get(replicas::report))
        .route(
            "/api/v2/proxyhealth/notifications",
            get(notifications::list),
        )
        .route_layer(from_fn_with_state(state.auth.clone(), require_admin));
    let proxy = Router::new()
        .route(
            "/api/v2/workspaceproxies/me/register",
            post(register::register),
        )
        .route(
            "/api/v2/workspaceproxies/me/deregister",
            post(register::deregister),
        );
    let reads = Router::new()
        .route("/api/v2/regions", get(proxies::regions))
        .route("/api/v2/proxyhealth/summary", get(health::get_summary))
        .route("/api/v2/proxyhealth/events", get(health::events))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .route_layer(from_fn_with_state(state.auth.clone(), require_reader));
    let dashboard = Router::new()
        .route("/", get(assets::index))
        .route("/proxies/{proxy}", get(assets::index))
        .route("/assets/{file}", get(assets::asset));
    Router::new()
        .merge(admin)
        .merge(proxy)
        .merge(reads)
        .merge(dashboard)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(from_fn_with_state(
            state.store_health.clone(),
            record_faults,
        ))
        .layer(from_fn_with_state(state.http_metrics.clone(), observe))
        .layer(from_fn(assets::security_headers))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("Route not found.")
}

async fn method_not_allowed() -> Response {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.")
        .with_detail("This route does not accept this method.")
        .into_response()
}

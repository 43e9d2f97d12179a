//! The proxy routes: `POST /api/v2/workspaceproxies/me/register` and `/me/deregister`.
//!
//! The token in `Coder-External-Proxy-Token` alone decides which proxy acts; the
//! body cannot name another one. The token is checked before the body is read,
//! so an unauthenticated caller learns nothing about the body rules.

use crate::auth::{Auth, client_ip};
use crate::error::ApiError;
use crate::extract::JsonBody;
use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use proxyhealth_api::wire::{
    DERP_REGION_ID_OFFSET, DeregisterRequest, RegisterRequest, RegisterResponse,
};
use proxyhealth_core::envelope::ErrorEnvelope;
use proxyhealth_core::validate::{
    validate_access_url, validate_derp_flags, validate_version, validate_wildcard_hostname,
};
use proxyhealth_core::{Proxy, Status, redact_url};
use proxyhealth_engine::Engine;
use proxyhealth_store::{ProxyStore, Registration};
use std::sync::Arc;
use time::OffsetDateTime;

/// How old a proxy's `updated_at` may get before an unchanged registration
/// writes it again: a registration that changes nothing moves `updated_at` at
/// most this often (Coder moves it on every registration; a fleet registering
/// every 15 s would otherwise put one write per proxy per 15 s on the store).
const REFRESH_AFTER: time::Duration = time::Duration::minutes(5);

/// Coder's registration checks, with Coder's messages.
fn check_registration(body: &RegisterRequest) -> Result<(), ApiError> {
    validate_access_url(&body.access_url)
        .map_err(|err| ApiError::invalid_field("URL is invalid.", &err))?;
    validate_wildcard_hostname(&body.wildcard_hostname)
        .map_err(|err| ApiError::invalid_field("Wildcard URL is invalid.", &err))?;
    if body.replica_id.is_nil() {
        return Err(ApiError::bad_request("Replica ID is invalid.")
            .with_detail("replica_id must not be the nil UUID.")
            .with_validation("replica_id", "must not be the nil UUID"));
    }
    validate_derp_flags(body.derp_enabled, body.derp_only).map_err(|err| {
        ApiError::bad_request("DerpOnly cannot be true when DerpEnabled is false.")
            .with_validation(err.field, err.detail)
    })?;
    validate_version(&body.version)
        .map_err(|err| ApiError::invalid_field("Validation failed.", &err))?;
    Ok(())
}

/// `POST /api/v2/workspaceproxies/me/register`: stores what the proxy registered
/// (an unchanged registration is not written, but for `updated_at` once it is
/// [`REFRESH_AFTER`] old) and, when that changed anything or the proxy is not `ok`, re-checks it alone
/// in the background (the proxy's answer is not held up by its own probe: a
/// Coder proxy registers before it starts serving).
#[utoipa::path(
    post,
    path = "/api/v2/workspaceproxies/me/register",
    operation_id = "register_workspace_proxy",
    tag = "registration",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered; the proxy is re-checked in the background when anything changed or it is not `ok`.", body = RegisterResponse),
        (status = 400, description = "A field breaks a rule (Coder's messages), or the body is not the expected JSON object; `validations` names the field.", body = ErrorEnvelope),
        (status = 413, description = "The body is larger than `max_body_bytes`.", body = ErrorEnvelope),
        (status = 415, description = "The body is not `application/json`.", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable or read-only.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn register(
    State(auth): State<Auth>,
    State(engine): State<Engine>,
    State(store): State<Arc<dyn ProxyStore>>,
    req: Request,
) -> Response {
    match register_inner(&auth, &engine, store.as_ref(), req).await {
        Ok(response) => (StatusCode::CREATED, Json(response)).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn register_inner(
    auth: &Auth,
    engine: &Engine,
    store: &dyn ProxyStore,
    req: Request,
) -> Result<RegisterResponse, ApiError> {
    let ip = client_ip(&req);
    let before = auth.authenticate_proxy(store, req.headers(), ip).await?;
    let JsonBody(body) = JsonBody::<RegisterRequest>::from_request(req, &()).await?;
    check_registration(&body)?;
    let registration = Registration {
        url: body.access_url,
        wildcard_hostname: body.wildcard_hostname,
        derp_enabled: body.derp_enabled,
        derp_only: body.derp_only,
        version: body.version,
    };
    let changed = !registration.matches(&before);
    // An unchanged re-registration (a fleet's steady state) is a read and a
    // compare: no write, so the single SQLite writer is left to what changed.
    let after = if !changed && !needs_refresh(&before, OffsetDateTime::now_utc()) {
        before
    } else {
        store.register_proxy(before.id, registration).await?
    };
    let healthy = engine
        .status_of(&after.id)
        .is_some_and(|status| status.status == Status::Ok);
    if changed || !healthy {
        engine.recheck_in_background(after.id);
    }
    if changed {
        tracing::info!(proxy = %after.name, proxy_id = %after.id, url = %redact_url(&after.url), version = %after.version, "proxy registered");
    } else {
        tracing::debug!(proxy = %after.name, proxy_id = %after.id, "proxy re-registered");
    }
    Ok(RegisterResponse {
        derp_mesh_key: String::new(),
        derp_region_id: DERP_REGION_ID_OFFSET.saturating_add(after.region_id),
        derp_map: None,
        derp_force_websockets: false,
        sibling_replicas: Vec::new(),
    })
}

/// Whether an unchanged registration should still be written, to move the
/// proxy's `updated_at`: once it is [`REFRESH_AFTER`] old. Below that an
/// unchanged registration is a read and a compare; the single SQLite writer
/// is then left to the history and to what did change.
fn needs_refresh(proxy: &Proxy, now: OffsetDateTime) -> bool {
    now - proxy.updated_at >= REFRESH_AFTER
}

/// `POST /api/v2/workspaceproxies/me/deregister`: 204; the proxy is re-checked in
/// the background, so a proxy that went away shows as such without waiting for
/// the next sweep.
#[utoipa::path(
    post,
    path = "/api/v2/workspaceproxies/me/deregister",
    operation_id = "deregister_workspace_proxy",
    tag = "registration",
    request_body = DeregisterRequest,
    responses(
        (status = 204, description = "Deregistered; the proxy is re-checked in the background."),
        (status = 400, description = "The body is not the expected JSON object.", body = ErrorEnvelope),
        (status = 413, description = "The body is larger than `max_body_bytes`.", body = ErrorEnvelope),
        (status = 415, description = "The body is not `application/json`.", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn deregister(
    State(auth): State<Auth>,
    State(engine): State<Engine>,
    State(store): State<Arc<dyn ProxyStore>>,
    req: Request,
) -> Response {
    let result = async {
        let proxy = auth
            .authenticate_proxy(store.as_ref(), req.headers(), client_ip(&req))
            .await?;
        let JsonBody(body) = JsonBody::<DeregisterRequest>::from_request(req, &()).await?;
        tracing::info!(proxy = %proxy.name, proxy_id = %proxy.id, replica_id = %body.replica_id, "proxy deregistered");
        engine.recheck_in_background(proxy.id);
        Ok::<_, ApiError>(())
    }
    .await;
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => err.into_response(),
    }
}

//! `/api/v2/proxyhealth/vantages`: the places probes come from besides the
//! service's own replicas, and their agents' tokens (admin). A token is
//! shown once, when it is minted; only its hash is kept.

use crate::agents::AgentRoster;
use crate::audit::AuditObject;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::path_param::PathParam;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use proxyhealth_api::wire::{
    CreateVantageRequest, MessageResponse, VantageInfo, VantageLiveness, VantageTokenResponse,
    VantagesResponse,
};
use proxyhealth_core::envelope::ErrorEnvelope;
use proxyhealth_engine::{Engine, VantageFreshness};
use proxyhealth_store::{
    MintedVantage, ProxyStore, StoreError, Vantage, VantageError, VantageStore,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

impl From<VantageError> for ApiError {
    fn from(err: VantageError) -> Self {
        match err {
            VantageError::Invalid(field) => ApiError::invalid_field("Validation failed.", &field),
            VantageError::Taken(_) => ApiError::new(StatusCode::CONFLICT, err.to_string())
                .with_validation("name", "taken"),
            VantageError::NotFound(_) => ApiError::not_found(err.to_string()),
            VantageError::Store(store) => store.into(),
        }
    }
}

/// The store's vantages, or the refusal of a store without tables of our own.
fn vantages_of(store: &dyn ProxyStore) -> Result<Arc<dyn VantageStore>, ApiError> {
    store
        .vantages()
        .ok_or_else(|| ApiError::from(StoreError::ReadOnly))
}

fn info(vantage: Vantage) -> VantageInfo {
    VantageInfo {
        id: vantage.id,
        name: vantage.name.to_string(),
        created_at: vantage.created_at,
        token_minted_at: vantage.token_minted_at,
        liveness: None,
    }
}

/// A vantage with how its agents are doing at `now`: live when one of its
/// readings in `fresh` is (as `proxyhealth_vantage_up` says), its agents and
/// their newest batch as the roster (every replica's) knows them.
fn info_with_liveness(
    vantage: Vantage,
    roster: &AgentRoster,
    fresh: &HashMap<&str, VantageFreshness>,
    now: OffsetDateTime,
    interval: Duration,
) -> VantageInfo {
    let (agents, last_result_at) = roster.describe(&vantage.name, now, interval);
    let live = fresh
        .get(vantage.name.as_str())
        .is_some_and(|freshness| freshness.fresh);
    VantageInfo {
        liveness: Some(VantageLiveness {
            own: false,
            live,
            last_result_at,
            agents,
        }),
        ..info(vantage)
    }
}

fn minted(minted: MintedVantage) -> VantageTokenResponse {
    VantageTokenResponse {
        vantage: info(minted.vantage),
        agent_token: minted.token,
    }
}

/// `GET /api/v2/proxyhealth/vantages`.
#[utoipa::path(
    get,
    path = "/api/v2/proxyhealth/vantages",
    operation_id = "list_vantages",
    tag = "vantages",
    responses(
        (status = 200, description = "The service's own vantage and quorum, and every vantage with agents, by name, with its agents' liveness, last seen, version and lag (never a token).", body = VantagesResponse),
        (status = 503, description = "The store is unavailable, or keeps no vantages (attached read-only to Coder without a schema of our own).", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn list(
    State(store): State<Arc<dyn ProxyStore>>,
    State(engine): State<Engine>,
    State(roster): State<Arc<AgentRoster>>,
) -> Result<Json<VantagesResponse>, ApiError> {
    let vantages = vantages_of(store.as_ref())?.list().await?;
    let options = engine.options();
    let now = OffsetDateTime::now_utc();
    let snapshot = engine.snapshot_arc();
    let fresh = snapshot.vantage_freshness();
    Ok(Json(VantagesResponse {
        own: options.vantage.to_string(),
        quorum: options.quorum.to_string(),
        vantages: vantages
            .into_iter()
            .map(|vantage| info_with_liveness(vantage, &roster, &fresh, now, options.interval))
            .collect(),
    }))
}

/// `POST /api/v2/proxyhealth/vantages`.
#[utoipa::path(
    post,
    path = "/api/v2/proxyhealth/vantages",
    operation_id = "create_vantage",
    tag = "vantages",
    request_body = CreateVantageRequest,
    responses(
        (status = 201, description = "Created: the vantage and its agent token, shown only now.", body = VantageTokenResponse),
        (status = 400, description = "The name breaks the name rule, or the body is not the expected JSON object; `validations` names the field.", body = ErrorEnvelope),
        (status = 409, description = "A vantage has this name (ignoring case).", body = ErrorEnvelope),
        (status = 413, description = "The body is larger than `max_body_bytes`.", body = ErrorEnvelope),
        (status = 415, description = "The body is not `application/json`.", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable or keeps no vantages.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn create(
    State(store): State<Arc<dyn ProxyStore>>,
    JsonBody(body): JsonBody<CreateVantageRequest>,
) -> Result<
    (
        StatusCode,
        Extension<AuditObject>,
        Json<VantageTokenResponse>,
    ),
    ApiError,
> {
    let created = vantages_of(store.as_ref())?.create(&body.name).await?;
    tracing::info!(vantage = %created.vantage.name, "vantage created");
    let object = AuditObject(created.vantage.name.to_string());
    Ok((
        StatusCode::CREATED,
        Extension(object),
        Json(minted(created)),
    ))
}

/// `DELETE /api/v2/proxyhealth/vantages/{vantage}`.
#[utoipa::path(
    delete,
    path = "/api/v2/proxyhealth/vantages/{vantage}",
    operation_id = "delete_vantage",
    tag = "vantages",
    params(
        ("vantage" = String, Path, description = "The vantage's name (ignoring case)."),
    ),
    responses(
        (status = 200, description = "Deleted: `Vantage has been deleted!`; its agent token is refused from now on.", body = MessageResponse),
        (status = 400, description = "The path is not UTF-8 once percent-decoded.", body = ErrorEnvelope),
        (status = 404, description = "No vantage has this name.", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable or keeps no vantages.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn delete(
    State(store): State<Arc<dyn ProxyStore>>,
    State(engine): State<Engine>,
    State(roster): State<Arc<AgentRoster>>,
    PathParam(name): PathParam<String>,
) -> Result<Json<MessageResponse>, ApiError> {
    let store = vantages_of(store.as_ref())?;
    let deleted = store
        .list()
        .await?
        .into_iter()
        .find(|vantage| vantage.name.as_str().eq_ignore_ascii_case(&name));
    store.delete(&name).await?;
    if let Some(deleted) = deleted {
        engine.forget_vantage(&deleted.name).await;
        roster.forget(&deleted.name);
    }
    tracing::info!(vantage = %name, "vantage deleted");
    Ok(Json(MessageResponse {
        message: "Vantage has been deleted!".to_owned(),
    }))
}

/// `POST /api/v2/proxyhealth/vantages/{vantage}/token`.
#[utoipa::path(
    post,
    path = "/api/v2/proxyhealth/vantages/{vantage}/token",
    operation_id = "rotate_vantage_token",
    tag = "vantages",
    params(
        ("vantage" = String, Path, description = "The vantage's name (ignoring case)."),
    ),
    responses(
        (status = 200, description = "A new agent token, shown only now; the old one is refused from now on.", body = VantageTokenResponse),
        (status = 400, description = "The path is not UTF-8 once percent-decoded.", body = ErrorEnvelope),
        (status = 404, description = "No vantage has this name.", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable or keeps no vantages.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn rotate_token(
    State(store): State<Arc<dyn ProxyStore>>,
    PathParam(name): PathParam<String>,
) -> Result<Json<VantageTokenResponse>, ApiError> {
    let rotated = vantages_of(store.as_ref())?.rotate_token(&name).await?;
    tracing::info!(vantage = %rotated.vantage.name, "vantage token rotated");
    Ok(Json(minted(rotated)))
}

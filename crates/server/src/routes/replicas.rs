//! `GET /api/v2/proxyhealth/replicas`: the replicas' consistency report (admin).

use crate::error::ApiError;
use crate::replica_report::{self, ThisReplica};
use axum::Json;
use axum::extract::State;
use proxyhealth_api::wire::ReplicasResponse;
use proxyhealth_core::envelope::ErrorEnvelope;
use proxyhealth_engine::Engine;
use proxyhealth_store::ProxyStore;
use std::sync::Arc;

/// `GET /api/v2/proxyhealth/replicas`.
#[utoipa::path(
    get,
    path = "/api/v2/proxyhealth/replicas",
    operation_id = "get_replicas_report",
    tag = "proxyhealth",
    responses(
        (status = 200, description = "The replicas' consistency report: the mode, each replica's liveness and lag, disagreements and stale proxies.", body = ReplicasResponse),
        (status = 503, description = "The store is unavailable.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn report(
    State(engine): State<Engine>,
    State(store): State<Arc<dyn ProxyStore>>,
    State(this): State<ThisReplica>,
) -> Result<Json<ReplicasResponse>, ApiError> {
    Ok(Json(
        replica_report::build(&engine, store.as_ref(), this).await?,
    ))
}

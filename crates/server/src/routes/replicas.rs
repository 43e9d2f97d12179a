//! `GET /api/v2/proxyhealth/replicas`: the replicas' consistency report (admin).

use crate::error::ApiError;
use crate::replica_report::{self, ThisReplica};
use axum::Json;
use axum::extract::State;
use proxyhealth_api::wire::ReplicasResponse;
use proxyhealth_engine::Engine;
use proxyhealth_store::ProxyStore;
use std::sync::Arc;

/// `GET /api/v2/proxyhealth/replicas`.
pub(crate) async fn report(
    State(engine): State<Engine>,
    State(store): State<Arc<dyn ProxyStore>>,
    State(this): State<ThisReplica>,
) -> Result<Json<ReplicasResponse>, ApiError> {
    Ok(Json(
        replica_report::build(&engine, store.as_ref(), this).await?,
    ))
}

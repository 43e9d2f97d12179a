//! `/api/v2/proxyhealth/audit`: the audit log, newest first (admin).

use crate::error::ApiError;
use axum::Json;
use axum::extract::{Query, State};
use proxyhealth_api::wire::{AuditEntry, AuditResponse};
use proxyhealth_core::envelope::ErrorEnvelope;
use proxyhealth_store::{AuditFilter, AuditRecord, ProxyStore, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The most entries one page holds.
const MAX_LIMIT: u32 = 1000;

fn wire(record: AuditRecord) -> AuditEntry {
    let entry = record.entry;
    AuditEntry {
        id: record.id,
        at: entry.at,
        actor: entry.actor,
        credential: entry.credential,
        subject: entry.subject,
        email: entry.email,
        role: entry.role,
        action: entry.action,
        method: entry.method,
        route: entry.route,
        object: entry.object,
        client: entry.client,
        status: entry.status,
    }
}

/// The filter of a request's query.
fn filter(params: &HashMap<String, String>) -> Result<AuditFilter, ApiError> {
    let mut filter = AuditFilter::default();
    for (name, value) in params {
        match name.as_str() {
            "actor" => filter.actor = Some(value.clone()),
            "action" => filter.action = Some(value.clone()),
            "since" => {
                let since = OffsetDateTime::parse(value, &Rfc3339).map_err(|_| {
                    ApiError::invalid_param(
                        "since",
                        format!("{value:?} is not an RFC 3339 time (2026-12-01T00:00:00Z)"),
                    )
                })?;
                filter.since = Some(since);
            }
            "before" => {
                let before = value.parse::<i64>().map_err(|_| {
                    ApiError::invalid_param("before", format!("{value:?} is not an entry id"))
                })?;
                filter.before = Some(before);
            }
            "limit" => {
                filter.limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                    .ok_or_else(|| {
                        ApiError::invalid_param(
                            "limit",
                            format!("{value:?} is not a whole number from 1 to {MAX_LIMIT}"),
                        )
                    })?;
            }
            other => {
                return Err(ApiError::invalid_param(
                    other,
                    "unknown parameter: expected actor, action, since, before or limit",
                ));
            }
        }
    }
    Ok(filter)
}

/// `GET /api/v2/proxyhealth/audit`.
#[utoipa::path(
    get,
    path = "/api/v2/proxyhealth/audit",
    operation_id = "list_audit",
    tag = "audit",
    params(
        ("actor" = Option<String>, Query, description = "Only this actor's entries (`admin token`, `token ci`, an email)."),
        ("action" = Option<String>, Query, description = "Only this action's entries (`proxy.create`)."),
        ("since" = Option<String>, Query, description = "Only entries at or after this RFC 3339 time."),
        ("before" = Option<i64>, Query, description = "Only entries older than this id: the previous page's `next_before`."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "How many entries, 1 to 1000 (100 by default)."),
    ),
    responses(
        (status = 200, description = "The entries, newest first, and where the next page starts.", body = AuditResponse),
        (status = 400, description = "A parameter is malformed or unknown; `validations` names it.", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable, or keeps no audit log (attached read-only to Coder without a schema of our own).", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn list(
    State(store): State<Arc<dyn ProxyStore>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<AuditResponse>, ApiError> {
    let filter = filter(&params)?;
    let log = store
        .audit()
        .ok_or_else(|| ApiError::from(StoreError::ReadOnly))?;
    let records = log.list(&filter).await?;
    let next_before = (records.len() == filter.limit as usize)
        .then(|| records.last().map(|r| r.id))
        .flatten();
    Ok(Json(AuditResponse {
        entries: records.into_iter().map(wire).collect(),
        next_before,
    }))
}

//! The history routes (admin): a proxy's history over a window,
//! and the incidents of the fleet.

use crate::error::ApiError;
use crate::history_reader::HistoryReader;
use crate::maintenance::Maintenance;
use crate::paging;
use crate::path_param::PathParam;
use crate::routes::proxies::find_proxy;
use axum::Json;
use axum::extract::{Query, State};
use proxyhealth_api::wire::{HistoryWindow, IncidentsPage, ProxyHistory, WireMaintenance};
use proxyhealth_core::envelope::ErrorEnvelope;
use proxyhealth_core::maintenance::MaintenanceScope;
use proxyhealth_store::ProxyStore;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The incidents listed when `since` is not given: the last 7 days.
pub(crate) const DEFAULT_SINCE: Duration = Duration::from_secs(7 * 24 * 3600);
/// The page size when `limit` is not given.
pub(crate) const DEFAULT_LIMIT: usize = 50;
/// The largest page.
pub(crate) const MAX_LIMIT: usize = 500;

type Params = Query<HashMap<String, String>>;

/// 404 when the store keeps no history (attached read-only to Coder).
fn not_kept() -> ApiError {
    ApiError::not_found("History is not kept.")
        .with_detail("proxyhealth is attached read-only to a Coder database and writes no history.")
}

/// `GET /api/v2/workspaceproxies/{proxy}/history?window=24h|7d|30d|90d`.
#[utoipa::path(
    get,
    path = "/api/v2/workspaceproxies/{proxy}/history",
    operation_id = "get_proxy_history",
    tag = "history",
    params(
        ("proxy" = String, Path, description = "The proxy's id (a UUID) or its name."),
        ("window" = Option<HistoryWindow>, Query, description = "The window: `24h` (the default), `7d`, `30d` or `90d`."),
    ),
    responses(
        (status = 200, description = "The proxy's hourly buckets, transitions and incidents over the window, and the maintenance windows that overlap it (`maintenance`, absent when none).", body = ProxyHistory),
        (status = 400, description = "`window` is not one of the four (`validations` names it), or the path is not UTF-8 once percent-decoded.", body = ErrorEnvelope),
        (status = 404, description = "No proxy has this id or name, or no history is kept (attached read-only to a Coder database).", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn proxy_history(
    State(store): State<Arc<dyn ProxyStore>>,
    State(history): State<Arc<HistoryReader>>,
    State(maintenance): State<Maintenance>,
    PathParam(key): PathParam<String>,
    Query(params): Params,
) -> Result<Json<ProxyHistory>, ApiError> {
    let window = match params.get("window") {
        None => HistoryWindow::default(),
        Some(value) => value
            .parse::<HistoryWindow>()
            .map_err(|err| ApiError::invalid_param("window", err.to_string()))?,
    };
    let proxy = find_proxy(store.as_ref(), &key).await?;
    let mut answer = history
        .proxy_history(&proxy, window, OffsetDateTime::now_utc())
        .await?
        .ok_or_else(not_kept)?;
    answer.maintenance = maintenance_between(&maintenance, proxy.id, answer.since, answer.until);
    Ok(Json(answer))
}

/// The occurrences of the windows covering `proxy` that overlap
/// `[since, until)`, oldest first (for its timeline).
fn maintenance_between(
    maintenance: &Maintenance,
    proxy: uuid::Uuid,
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> Vec<WireMaintenance> {
    let mut found: Vec<WireMaintenance> = maintenance
        .windows()
        .iter()
        .filter(|window| match window.scope {
            MaintenanceScope::Proxy(id) => id == proxy,
            MaintenanceScope::All => true,
        })
        .flat_map(|window| window.occurrences_between(since, until))
        .map(|active| WireMaintenance::from(&active))
        .collect();
    found.sort_by_key(|occurrence| (occurrence.starts_at, occurrence.id));
    found
}

/// `GET /api/v2/proxyhealth/incidents?since=&limit=&offset=`.
#[utoipa::path(
    get,
    path = "/api/v2/proxyhealth/incidents",
    operation_id = "list_incidents",
    tag = "history",
    params(
        ("since" = Option<String>, Query, description = "Incidents open at or after this time: an RFC 3339 time (`2026-12-01T00:00:00Z`) or a whole number of minutes, hours or days back from now (`90m`, `24h`, `7d`); 7 days back by default."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "The page size, 1 to 500 (50 by default)."),
        ("offset" = Option<u64>, Query, description = "Where the page starts in the whole list (0 by default)."),
    ),
    responses(
        (status = 200, description = "One page of incidents, newest start first.", body = IncidentsPage),
        (status = 400, description = "`since`, `limit` or `offset` is invalid; `validations` names it.", body = ErrorEnvelope),
        (status = 404, description = "No history is kept (attached read-only to a Coder database).", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn incidents(
    State(store): State<Arc<dyn ProxyStore>>,
    State(history): State<Arc<HistoryReader>>,
    Query(params): Params,
) -> Result<Json<IncidentsPage>, ApiError> {
    let now = OffsetDateTime::now_utc();
    let since = match params.get("since") {
        None => now - DEFAULT_SINCE,
        Some(value) => parse_since(value, now).ok_or_else(|| {
            ApiError::invalid_param(
                "since",
                format!(
                    "invalid since {value:?}: expected an RFC 3339 time \
                     (2026-12-01T00:00:00Z) or a duration back from now (90m, 24h, 7d)"
                ),
            )
        })?,
    };
    let limit = paging::limit(
        params.get("limit").map(String::as_str),
        DEFAULT_LIMIT,
        MAX_LIMIT,
    )?;
    let offset = paging::offset(params.get("offset").map(String::as_str))?;
    history
        .incidents(store.as_ref(), since, offset, limit, now)
        .await?
        .map(Json)
        .ok_or_else(not_kept)
}

/// An RFC 3339 time, or a whole number of minutes, hours or days back from `now`.
fn parse_since(value: &str, now: OffsetDateTime) -> Option<OffsetDateTime> {
    if let Ok(at) = OffsetDateTime::parse(value, &Rfc3339) {
        return Some(at);
    }
    let unit = match value.chars().last()? {
        'm' => 60,
        'h' => 3600,
        'd' => 24 * 3600,
        _ => return None,
    };
    let count: u64 = value[..value.len() - 1].parse().ok()?;
    let back = Duration::from_secs(count.checked_mul(unit)?);
    now.checked_sub(time::Duration::try_from(back).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_a_time_or_a_duration_back() {
        let now = OffsetDateTime::from_unix_timestamp(1_000_000).expect("a time");
        assert_eq!(parse_since("2h", now), Some(now - time::Duration::hours(2)));
        assert_eq!(parse_since("7d", now), Some(now - time::Duration::days(7)));
        assert_eq!(
            parse_since("1970-01-01T00:00:10Z", now).map(|at| at.unix_timestamp()),
            Some(10)
        );
        assert_eq!(parse_since("yesterday", now), None);
        assert_eq!(parse_since("5w", now), None);
    }
}

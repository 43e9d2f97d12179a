//! `GET /api/v2/workspaceproxies/{proxy}/vantages/{vantage}/history` (admin):
//! how one vantage (an agents', the service's own, or a replica's) saw one
//! proxy over a window, its own checks and its own status changes, next to
//! the proxy's overall history (which is the quorum's verdict).

use crate::error::ApiError;
use crate::history_reader::wire_bucket;
use crate::path_param::PathParam;
use crate::routes::proxies::find_proxy;
use axum::Json;
use axum::extract::{Query, State};
use proxyhealth_api::wire::{HistoryWindow, VantageHistory, VantageHistoryTransition};
use proxyhealth_core::envelope::ErrorEnvelope;
use proxyhealth_core::{VantageName, VantageTransition};
use proxyhealth_engine::Engine;
use proxyhealth_store::history::view::window_start;
use proxyhealth_store::{ProxyStore, UptimeCounts, VantageError, VantageWindow};
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;

/// `GET /api/v2/workspaceproxies/{proxy}/vantages/{vantage}/history?window=24h|7d|30d|90d`.
#[utoipa::path(
    get,
    path = "/api/v2/workspaceproxies/{proxy}/vantages/{vantage}/history",
    operation_id = "get_proxy_vantage_history",
    tag = "history",
    params(
        ("proxy" = String, Path, description = "The proxy's id (a UUID) or its name."),
        ("vantage" = String, Path, description = "The vantage's name (ignoring case): one made with `vantages create`, the service's own (`serve --vantage`), or a replica's."),
        ("window" = Option<HistoryWindow>, Query, description = "The window: `24h` (the default), `7d`, `30d` or `90d`."),
    ),
    responses(
        (status = 200, description = "The vantage's hourly buckets and status changes of the proxy over the window.", body = VantageHistory),
        (status = 400, description = "`window` is not one of the four, or the vantage name breaks the name rule; `validations` names the field.", body = ErrorEnvelope),
        (status = 404, description = "No proxy has this id or name, no vantage has this name, or no history is kept (attached read-only to a Coder database).", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn vantage_history(
    State(store): State<Arc<dyn ProxyStore>>,
    State(engine): State<Engine>,
    PathParam((key, vantage)): PathParam<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<VantageHistory>, ApiError> {
    let window = match params.get("window") {
        None => HistoryWindow::default(),
        Some(value) => value
            .parse::<HistoryWindow>()
            .map_err(|err| ApiError::invalid_param("window", err.to_string()))?,
    };
    let vantage = VantageName::new(&vantage).map_err(|err| {
        ApiError::bad_request("Invalid vantage name.")
            .with_detail(err.detail.clone())
            .with_validation("vantage", err.detail)
    })?;
    let proxy = find_proxy(store.as_ref(), &key).await?;
    let Some(vantages) = store.vantages() else {
        return Err(ApiError::not_found("History is not kept.").with_detail(
            "proxyhealth is attached read-only to a Coder database and writes no history.",
        ));
    };
    let now = OffsetDateTime::now_utc();
    let since = window_start(now, window.hours());
    // the own vantage, and a replica vantage with a reading of the proxy,
    // are vantages even before their first history row
    let own = &engine.options().vantage;
    let same = |name: &VantageName| name.as_str().eq_ignore_ascii_case(vantage.as_str());
    let reading = if same(own) {
        Some(own.clone())
    } else {
        engine.snapshot().get(&proxy.id).and_then(|status| {
            status
                .vantages
                .iter()
                .map(|reading| &reading.vantage)
                .find(|name| same(name))
                .cloned()
        })
    };
    let seen = match vantages.history(&vantage, proxy.id, since).await {
        Err(VantageError::NotFound(_)) if reading.is_some() => VantageWindow::default(),
        seen => seen?,
    };
    let mut counts = UptimeCounts::default();
    for bucket in &seen.buckets {
        counts.ok += bucket.rollup.ok;
        counts.checks += bucket.rollup.checks;
    }
    let name = vantages
        .list()
        .await?
        .into_iter()
        .find(|v| same(&v.name))
        .map(|v| v.name)
        .or(reading)
        .unwrap_or(vantage)
        .to_string();
    Ok(Json(VantageHistory {
        proxy_id: proxy.id,
        proxy_name: proxy.name.clone(),
        vantage: name,
        window,
        since,
        until: now,
        uptime: counts.ratio(),
        checks: counts.checks,
        ok_checks: counts.ok,
        status_at_start: seen.status_at_start,
        buckets: seen.buckets.iter().map(wire_bucket).collect(),
        transitions: seen.transitions.iter().map(wire_transition).collect(),
    }))
}

fn wire_transition(transition: &VantageTransition) -> VantageHistoryTransition {
    VantageHistoryTransition {
        at: transition.at,
        from: transition.from,
        to: transition.to,
        report: transition.report.clone(),
    }
}

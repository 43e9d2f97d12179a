//! The read routes about the checker itself: summary, server-sent events,
//! `/healthz` and `/metrics`.

use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::duration_ms;
pub use crate::wire::{Counts, LastSweep, Summary};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use proxyhealth_core::Status;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// The content type of the Prometheus text format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// How often an idle event stream gets a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The summary of the engine's current state (no store access).
pub(crate) fn summary(state: &AppState) -> Summary {
    let snapshot = state.engine.snapshot();
    let sweep = state.engine.sweep_state();
    let mut counts = Counts::default();
    for status in snapshot.statuses().values() {
        let slot = match status.status {
            Status::Ok => &mut counts.ok,
            Status::Unhealthy => &mut counts.unhealthy,
            Status::Unreachable => &mut counts.unreachable,
            Status::Unregistered => &mut counts.unregistered,
            Status::Unknown => &mut counts.unknown,
        };
        *slot += 1;
    }
    let last_sweep = match (&sweep.last_error, snapshot.last_sweep()) {
        (Some(error), _) => Some(LastSweep {
            started_at: sweep
                .last_attempt_at
                .unwrap_or_else(OffsetDateTime::now_utc),
            duration_ms: None,
            error: Some(error.clone()),
            proxies: None,
            consecutive_failures: sweep.consecutive_failures,
        }),
        (None, Some(info)) => Some(LastSweep {
            started_at: info.started_at,
            duration_ms: Some(duration_ms(info.duration)),
            error: None,
            proxies: Some(info.proxies),
            consecutive_failures: 0,
        }),
        (None, None) => None,
    };
    Summary {
        counts,
        total: snapshot.statuses().len(),
        last_sweep,
        interval_ms: u64::try_from(state.engine.options().interval.as_millis()).unwrap_or(u64::MAX),
        generation: snapshot.generation(),
    }
}

/// `GET /api/v2/proxyhealth/summary`.
pub(crate) async fn get_summary(State(state): State<Arc<AppState>>) -> Json<Summary> {
    Json(summary(&state))
}

/// `GET /api/v2/proxyhealth/events`: a `sweep` event with the summary at once,
/// then each time a snapshot is stored (several stored while a client is slow
/// give one event), with keep-alive comments; ends when the server shuts down.
pub(crate) async fn events(
    State(state): State<Arc<AppState>>,
) -> Result<Sse<impl Stream<Item = Result<Event, axum::Error>>>, ApiError> {
    let permit = Arc::clone(&state.streams)
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::unavailable("Too many event streams are open.")
                .with_detail("Retry later, or poll /api/v2/proxyhealth/summary.")
        })?;
    let mut generations = state.engine.subscribe();
    generations.mark_changed();
    let stop = state.stop_streams.clone();
    let stream = futures::stream::unfold(
        (generations, state, permit, stop),
        |(mut generations, state, permit, stop)| async move {
            tokio::select! {
                () = stop.cancelled() => None,
                changed = generations.changed() => {
                    changed.ok()?;
                    let event = Event::default().event("sweep").json_data(summary(&state));
                    Some((event, (generations, state, permit, stop)))
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// The store's error, if any: the last sweep's, else the last fault the API saw
/// that a write probe has not cleared yet (see [`crate::store_health`]).
pub(crate) async fn store_error(state: &AppState) -> Option<String> {
    let sweep = state.engine.sweep_state();
    let error = match &sweep.last_error {
        Some(error) => Some(error.clone()),
        None => state.store_health.current(state.store.as_ref()).await,
    };
    state.store_health.set_up(sweep.last_error.is_none());
    error
}

/// `GET /healthz`: 200 `{"status":"ok"}`, or 503 with the store error when the
/// last sweep could not read the store or a store write is failing.
pub(crate) async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match store_error(&state).await {
        None => Json(serde_json::json!({"status": "ok"})).into_response(),
        Some(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "degraded", "store_error": error})),
        )
            .into_response(),
    }
}

/// `GET /metrics`: the engine's metrics (Coder's names) and the HTTP metrics.
pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    state
        .store_health
        .set_up(state.engine.sweep_state().last_error.is_none());
    let text = proxyhealth_engine::metrics::render(state.engine.registry());
    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response()
}

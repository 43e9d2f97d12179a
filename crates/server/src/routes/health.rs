//! The read routes about the checker itself: summary, server-sent events,
//! `/healthz` and `/metrics`.

use crate::auth::{Auth, ip_of};
use crate::error::ApiError;
use crate::event_streams::EventStreams;
use crate::live_deltas::{LiveDeltas, Next, View};
use crate::store_health::StoreHealth;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use proxyhealth_api::wire::Healthz;
use proxyhealth_api::wire::duration_ms;
pub use proxyhealth_api::wire::{Counts, LastSweep, Summary};
use proxyhealth_api::wire_events::Resync;
use proxyhealth_core::Status;
use proxyhealth_core::access::Role;
use proxyhealth_core::envelope::ErrorEnvelope;
use proxyhealth_engine::Engine;
use proxyhealth_store::ProxyStore;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// The content type of the Prometheus text format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// How often an idle event stream gets a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The summary of the engine's current state (no store access).
pub(crate) fn summary(engine: &Engine) -> Summary {
    let snapshot = engine.snapshot();
    let sweep = engine.sweep_state();
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
        interval_ms: u64::try_from(engine.options().interval.as_millis()).unwrap_or(u64::MAX),
        generation: snapshot.generation(),
    }
}

/// `GET /api/v2/proxyhealth/summary`.
#[utoipa::path(
    get,
    path = "/api/v2/proxyhealth/summary",
    operation_id = "get_summary",
    tag = "proxyhealth",
    responses(
        (status = 200, description = "Proxies per status and the last sweep, from the engine's snapshot.", body = Summary),
    ),
)]
pub(crate) async fn get_summary(State(engine): State<Engine>) -> Json<Summary> {
    Json(summary(&engine))
}

/// `GET /api/v2/proxyhealth/events`: a `sweep` event with the summary at once,
/// then each time a snapshot is stored (several stored while a client is slow
/// give one event), with keep-alive comments; ends when the server shuts down.
///
/// With `view=proxies` (the admin token) or `view=regions`, each `sweep`
/// event follows the `proxies` (or `regions`) events that say what changed
/// since the stream's last one; the first, at once, changes nothing and only
/// names the generation the stream starts from (see [`crate::live_deltas`]).
#[utoipa::path(
    get,
    path = "/api/v2/proxyhealth/events",
    operation_id = "stream_events",
    tag = "proxyhealth",
    params(
        ("view" = Option<String>, Query, description = "`proxies` (needs the admin token): also a `proxies` event (a `ProxyDelta`) with what changed in the admin list before each `sweep` event; `regions`: a `regions` event (a `RegionDelta`) with what changed in `/api/v2/regions`. The first such event, at once, has `from` equal to `generation` and nothing changed; a `resync` event (`Resync`) says the stream fell behind and the list must be read again."),
    ),
    responses(
        (status = 200, description = "A server-sent event stream that does not end while the server runs: an event `sweep` whose data is the `Summary` JSON, at once and each time a snapshot is stored, and a keep-alive comment every 15 s; with `view`, the `proxies` or `regions` events before each `sweep` event.", body = String, content_type = "text/event-stream"),
        (status = 400, description = "`view` is neither `proxies` nor `regions`.", body = ErrorEnvelope),
        (status = 401, description = "`view=proxies` without a token of the viewer role (or higher).", body = ErrorEnvelope),
        (status = 503, description = "Too many event streams are open.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn events(
    State(engine): State<Engine>,
    State(streams): State<EventStreams>,
    State(deltas): State<Arc<LiveDeltas>>,
    State(auth): State<Auth>,
    headers: HeaderMap,
    extensions: Extensions,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Sse<impl Stream<Item = Result<Event, axum::Error>>>, ApiError> {
    let view = match params.get("view").map(String::as_str) {
        None => None,
        Some("proxies") => {
            auth.require(&headers, ip_of(&extensions), Role::Viewer)
                .await?;
            Some(View::Proxies)
        }
        Some("regions") => Some(View::Regions),
        Some(other) => {
            return Err(ApiError::invalid_param(
                "view",
                format!("invalid view {other:?}: expected proxies or regions"),
            ));
        }
    };
    let permit = streams.open().ok_or_else(|| {
        ApiError::unavailable("Too many event streams are open.")
            .with_detail("Retry later, or poll /api/v2/proxyhealth/summary.")
    })?;
    let mut generations = engine.subscribe();
    generations.mark_changed();
    let at = match view {
        Some(_) => Some(
            deltas
                .start(&engine.snapshot_arc())
                .map_err(|err| ApiError::internal(format!("encode a change: {err}")))?,
        ),
        None => None,
    };
    let stop = streams.stop_signal();
    let follow = Follow {
        engine,
        deltas,
        view,
        at,
        first: true,
    };
    let stream = futures::stream::unfold(
        (generations, follow, permit, stop),
        |(mut generations, mut follow, permit, stop)| async move {
            tokio::select! {
                () = stop.cancelled() => None,
                changed = generations.changed() => {
                    changed.ok()?;
                    let events = follow.events();
                    Some((futures::stream::iter(events), (generations, follow, permit, stop)))
                }
            }
        },
    )
    .flatten();
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// What one event stream follows, and where it is.
struct Follow {
    engine: Engine,
    deltas: Arc<LiveDeltas>,
    view: Option<View>,
    /// The generation of the last change sent (with a view).
    at: Option<u64>,
    /// Whether nothing was sent yet.
    first: bool,
}

impl Follow {
    /// The events for a newly stored snapshot: the changes since the last
    /// ones sent (with a view), then the summary.
    fn events(&mut self) -> Vec<Result<Event, axum::Error>> {
        let mut events = Vec::new();
        if let (Some(view), Some(at)) = (self.view, self.at) {
            let name = match view {
                View::Proxies => "proxies",
                View::Regions => "regions",
            };
            if std::mem::take(&mut self.first) {
                let data = format!(
                    r#"{{"from":{at},"generation":{at},"checked_at":null,"changed":[],"removed":[]}}"#
                );
                events.push(Ok(Event::default().event(name).data(data)));
            }
            match self.deltas.next(&self.engine.snapshot_arc(), at) {
                Ok(Next::Nothing) => {}
                Ok(Next::Deltas(chain)) => {
                    for delta in chain {
                        self.at = Some(delta.to);
                        events.push(Ok(Event::default()
                            .event(name)
                            .data(String::from_utf8_lossy(delta.data(view)))));
                    }
                }
                Ok(Next::Resync(generation)) => {
                    self.at = Some(generation);
                    events.push(
                        Event::default()
                            .event("resync")
                            .json_data(Resync { generation }),
                    );
                }
                Err(err) => events.push(Err(axum::Error::new(err))),
            }
        }
        events.push(
            Event::default()
                .event("sweep")
                .json_data(summary(&self.engine)),
        );
        events
    }
}

/// The store's error, if any: the last sweep's, else the last fault the API saw
/// that a write probe has not cleared yet (see [`crate::store_health`]).
pub(crate) async fn store_error(
    engine: &Engine,
    store: &dyn ProxyStore,
    store_health: &StoreHealth,
) -> Option<String> {
    let sweep = engine.sweep_state();
    let error = match &sweep.last_error {
        Some(error) => Some(error.clone()),
        None => store_health.current(store).await,
    };
    store_health.set_up(sweep.last_error.is_none());
    error
}

/// `GET /healthz`: 200 `{"status":"ok"}`, or 503 with the store error when the
/// last sweep could not read the store or a store write is failing. A replica
/// of a cluster also answers 503 when its shared view was not read for more
/// than two intervals (`"view": "stale"` with the view's age): it keeps
/// serving its last view, but that view may be wrong.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "proxyhealth",
    responses(
        (status = 200, description = "`{\"status\":\"ok\"}`.", body = Healthz),
        (status = 503, description = "`degraded`: the store is failing (`store_error`), or a replica's shared view is stale (`view`, `view_age_ms`).", body = Healthz),
    ),
)]
pub(crate) async fn healthz(
    State(engine): State<Engine>,
    State(store): State<Arc<dyn ProxyStore>>,
    State(store_health): State<Arc<StoreHealth>>,
) -> Response {
    let stale_view = engine
        .view_age()
        .filter(|age| *age > engine.options().stale_after());
    match (
        store_error(&engine, store.as_ref(), &store_health).await,
        stale_view,
    ) {
        (None, None) => Json(Healthz {
            status: "ok".to_owned(),
            ..Healthz::default()
        })
        .into_response(),
        (store_error, stale_view) => {
            let body = Healthz {
                status: "degraded".to_owned(),
                store_error,
                view: stale_view.map(|_| "stale".to_owned()),
                view_age_ms: stale_view.map(duration_ms),
            };
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// `GET /metrics`: the engine's metrics (Coder's names) and the HTTP metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "proxyhealth",
    responses(
        (status = 200, description = "The metrics in Prometheus's text format 0.0.4.", body = String, content_type = "text/plain"),
    ),
)]
pub(crate) async fn metrics(
    State(engine): State<Engine>,
    State(store_health): State<Arc<StoreHealth>>,
) -> Response {
    store_health.set_up(engine.sweep_state().last_error.is_none());
    let text = proxyhealth_engine::metrics::render(engine.registry());
    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response()
}

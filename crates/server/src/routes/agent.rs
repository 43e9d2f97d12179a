//! The agent routes: `GET /api/v2/proxyhealth/agent/assignment` and `POST
//! /api/v2/proxyhealth/agent/results`.
//!
//! The agent token alone decides which vantage acts; it is checked before
//! the body is read. An agent token is good here and nowhere else (the admin
//! routes answer it 403). Results are judged by the service's clock and its
//! own list of proxies: a result for a proxy it does not have, older than
//! the vantage's newest, or timed in the future is refused and counted, and
//! the rest of the batch is taken.

use crate::agent_intake::{AgentIntake, NotKept};
use crate::agents::{AgentCounters, AgentRoster, falls_to};
use crate::auth::{Auth, client_ip};
use crate::error::ApiError;
use crate::extract::JsonBody;
use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use proxyhealth_api::wire::{
    AGENT_ID_HEADER, AGENT_VERSION_HEADER, AgentAssignment, AgentResultsRequest,
    AgentResultsResponse, AssignedProxy, MAX_AGENT_BATCH, ProbeSettings,
};
use proxyhealth_core::envelope::ErrorEnvelope;
use proxyhealth_core::{Status, redact_report};
use proxyhealth_engine::vantages::RemoteCheck;
use proxyhealth_engine::{CaMode, Engine, EngineOptions, RedirectPolicy};
use proxyhealth_store::{ProxyStore, Vantage, VantageError};
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// Most bytes of one batch of results: [`MAX_AGENT_BATCH`] results with
/// reports at their bounds fit well within it.
pub(crate) const AGENT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Most bytes of an agent's id or version header kept.
const MAX_AGENT_HEADER: usize = 64;

/// Who is asking: the vantage its token is for, and the agent's own id and
/// version from the headers.
struct Caller {
    vantage: Vantage,
    agent: String,
    version: String,
}

async fn caller(
    auth: &Auth,
    store: &dyn ProxyStore,
    roster: &AgentRoster,
    headers: &HeaderMap,
    ip: Option<std::net::IpAddr>,
) -> Result<Caller, ApiError> {
    let vantage = auth.authenticate_agent(store, headers, ip).await?;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|value| !value.is_empty())
    };
    let Some(agent) = header(AGENT_ID_HEADER) else {
        return Err(
            ApiError::bad_request("Missing agent id.").with_detail(format!(
                "Send a stable id of the agent's own choosing in the {AGENT_ID_HEADER} header."
            )),
        );
    };
    if agent.len() > MAX_AGENT_HEADER {
        return Err(
            ApiError::bad_request("Agent id is too long.").with_detail(format!(
                "The {AGENT_ID_HEADER} header is at most {MAX_AGENT_HEADER} bytes."
            )),
        );
    }
    let version: String = header(AGENT_VERSION_HEADER)
        .unwrap_or("unknown")
        .chars()
        .take(MAX_AGENT_HEADER)
        .collect();
    roster.seen(
        &vantage.name,
        agent,
        &version,
        ip,
        OffsetDateTime::now_utc(),
    );
    Ok(Caller {
        vantage,
        agent: agent.to_owned(),
        version,
    })
}

/// The service's probe settings, as an agent applies them.
fn probe_settings(options: &EngineOptions, ca_pem: Option<String>) -> ProbeSettings {
    let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    ProbeSettings {
        interval_ms: millis(options.interval),
        timeout_ms: millis(options.timeout),
        parallelism: options.parallelism,
        body_cap: options.body_cap,
        redirects: match options.redirects {
            RedirectPolicy::None => "none",
            RedirectPolicy::SameHost => "same-host",
        }
        .to_owned(),
        tls_insecure: options.tls_insecure,
        tls_ca_replace: ca_pem.is_some() && options.tls_ca_mode == CaMode::Replace,
        tls_ca_pem: ca_pem,
        tls_expiry_warning_s: options.tls_expiry_warning.as_secs(),
        latency_warning_ms: options.latency_warning.map(millis),
    }
}

/// `GET /api/v2/proxyhealth/agent/assignment`.
#[utoipa::path(
    get,
    path = "/api/v2/proxyhealth/agent/assignment",
    operation_id = "agent_assignment",
    tag = "agents",
    params(
        ("Proxyhealth-Agent-Id" = String, Header, description = "A stable id of the agent's own choosing (at most 64 bytes)."),
        ("Proxyhealth-Agent-Version" = Option<String>, Header, description = "The agent's version."),
    ),
    responses(
        (status = 200, description = "The probe settings and this agent's share of the registered proxies.", body = AgentAssignment),
        (status = 400, description = "The agent id header is missing or too long.", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable or keeps no vantages.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn assignment(
    State(auth): State<Auth>,
    State(engine): State<Engine>,
    State(store): State<Arc<dyn ProxyStore>>,
    State(roster): State<Arc<AgentRoster>>,
    req: Request,
) -> Result<Json<AgentAssignment>, ApiError> {
    let ip = client_ip(&req);
    let caller = caller(&auth, store.as_ref(), &roster, req.headers(), ip).await?;
    let options = engine.options();
    let now = OffsetDateTime::now_utc();
    let live = roster.live(&caller.vantage.name, now, options.interval);
    let snapshot = engine.snapshot();
    let mut proxies: Vec<AssignedProxy> = snapshot
        .statuses()
        .values()
        .filter(|status| status.host.is_some())
        .filter(|status| falls_to(&status.proxy.id, &caller.agent, &live))
        .map(|status| AssignedProxy {
            id: status.proxy.id,
            name: status.proxy.name.clone(),
            url: status.proxy.url.clone(),
        })
        .collect();
    drop(snapshot);
    proxies.sort_by(|a, b| a.name.cmp(&b.name));
    roster.assigned(&caller.vantage.name, &caller.agent, proxies.len());
    tracing::debug!(vantage = %caller.vantage.name, agent = %caller.agent, version = %caller.version, proxies = proxies.len(), "agent assignment");
    let ca_pem = match &options.tls_ca_file {
        Some(path) => Some(tokio::fs::read_to_string(path).await.map_err(|err| {
            ApiError::internal(format!("reading the CA file {}: {err}", path.display()))
        })?),
        None => None,
    };
    Ok(Json(AgentAssignment {
        vantage: caller.vantage.name.to_string(),
        probe: probe_settings(options, ca_pem),
        proxies,
        agents: live.len().max(1),
    }))
}

/// `POST /api/v2/proxyhealth/agent/results`.
#[utoipa::path(
    post,
    path = "/api/v2/proxyhealth/agent/results",
    operation_id = "agent_results",
    tag = "agents",
    request_body = AgentResultsRequest,
    params(
        ("Proxyhealth-Agent-Id" = String, Header, description = "A stable id of the agent's own choosing (at most 64 bytes)."),
        ("Proxyhealth-Agent-Version" = Option<String>, Header, description = "The agent's version."),
    ),
    responses(
        (status = 200, description = "Every result was taken.", body = AgentResultsResponse),
        (status = 400, description = "The agent id header is missing, or the body is not the expected JSON object, or a result's status is not one a check gives; `validations` names the field.", body = ErrorEnvelope),
        (status = 413, description = "More than 2,000 results, or a body over 8 MiB: nothing was taken.", body = ErrorEnvelope),
        (status = 415, description = "The body is not `application/json`.", body = ErrorEnvelope),
        (status = 422, description = "Some results were refused and counted (for a proxy the service does not have, older than the vantage's newest, or timed in the future); the others were taken. `validations` names each refused result (`results[i]`) and why (`not_assigned`, `older` or `future`, then the reason in words).", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable or keeps no vantages.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn results(
    State(auth): State<Auth>,
    State(engine): State<Engine>,
    State(store): State<Arc<dyn ProxyStore>>,
    State(roster): State<Arc<AgentRoster>>,
    State(counters): State<AgentCounters>,
    State(intake): State<AgentIntake>,
    req: Request,
) -> Response {
    let parts = Parts {
        auth: &auth,
        engine: &engine,
        store: store.as_ref(),
        roster: &roster,
        counters: &counters,
        intake: &intake,
    };
    match results_inner(parts, req).await {
        Ok(body) => Json(body).into_response(),
        Err(err) => err.into_response(),
    }
}

/// The slices of state the results route uses.
struct Parts<'a> {
    auth: &'a Auth,
    engine: &'a Engine,
    store: &'a dyn ProxyStore,
    roster: &'a AgentRoster,
    counters: &'a AgentCounters,
    intake: &'a AgentIntake,
}

async fn results_inner(parts: Parts<'_>, req: Request) -> Result<AgentResultsResponse, ApiError> {
    let Parts {
        auth,
        engine,
        store,
        roster,
        counters,
        intake: kept,
    } = parts;
    let started = std::time::Instant::now();
    let ip = client_ip(&req);
    let caller = caller(auth, store, roster, req.headers(), ip).await?;
    let vantage = caller.vantage.name.clone();
    let body = match JsonBody::<AgentResultsRequest>::from_request(req, &()).await {
        Ok(JsonBody(body)) => body,
        Err(err) => {
            if err.status == StatusCode::PAYLOAD_TOO_LARGE {
                counters.refused(&vantage, "oversized", 1);
            }
            return Err(err);
        }
    };
    if body.results.len() > MAX_AGENT_BATCH {
        counters.refused(&vantage, "oversized", 1);
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too many results in one batch.",
        )
        .with_detail(format!(
            "A batch carries at most {MAX_AGENT_BATCH} results; this one had {}.",
            body.results.len()
        )));
    }
    let limits = engine.options().report_limits;
    let snapshot = engine.snapshot_arc();
    let mut checks = Vec::with_capacity(body.results.len());
    for (at, result) in body.results.into_iter().enumerate() {
        if !matches!(
            result.status,
            Status::Ok | Status::Unhealthy | Status::Unreachable
        ) {
            return Err(ApiError::bad_request("Invalid result.")
                .with_detail(format!(
                    "A check gives ok, unhealthy or unreachable, not {}.",
                    result.status
                ))
                .with_validation(format!("results[{at}].status"), "not a check's status"));
        }
        let mut report = result.report.bounded(limits);
        if let Some(status) = snapshot.get(&result.proxy_id) {
            redact_report(&mut report, &status.proxy.url);
        }
        checks.push(RemoteCheck {
            proxy_id: result.proxy_id,
            status: result.status,
            latency_ms: result.latency_ms,
            checked_at: result.checked_at,
            report,
        });
    }
    drop(snapshot);
    let oldest = checks.iter().map(|check| check.checked_at).min();
    if tracing::enabled!(tracing::Level::DEBUG)
        && let Some(newest) = checks.iter().map(|check| check.checked_at).max()
        && let Some(oldest) = oldest
    {
        // with the agent's "batch sent", where a result's time goes before
        // it is served: the trip, reading the batch, then the publication
        let now = OffsetDateTime::now_utc();
        tracing::debug!(
            vantage = %vantage,
            results = checks.len(),
            oldest_check_ms = (now - oldest).whole_milliseconds(),
            newest_check_ms = (now - newest).whole_milliseconds(),
            read = ?started.elapsed(),
            "agent results arrived"
        );
    }
    let ids: Vec<Uuid> = checks.iter().map(|check| check.proxy_id).collect();
    // the refusals are decided now; the publication and the write are
    // shared with the other batches of a short period
    let intake = engine.accept_vantage_results(&vantage, checks);
    roster.results(&vantage, &caller.agent, oldest, OffsetDateTime::now_utc());
    counters.accepted(&vantage, intake.accepted.len());
    for refusal in &intake.refused {
        counters.refused(&vantage, refusal.reason(), 1);
    }
    let accepted = intake.accepted.len();
    if accepted > 0 {
        match kept
            .keep(vantage.clone(), intake.accepted, intake.history)
            .await
        {
            Ok(()) => {}
            Err(NotKept::NoVantage(name)) => {
                return Err(VantageError::NotFound(name.to_string()).into());
            }
            Err(NotKept::Store(err)) => return Err(err.into()),
        }
    }
    if intake.refused.is_empty() {
        return Ok(AgentResultsResponse { accepted });
    }
    tracing::warn!(vantage = %vantage, agent = %caller.agent, refused = intake.refused.len(), first = %intake.refused[0], "agent results refused");
    // each refusal named by its place in the batch
    let mut places: Vec<Option<Uuid>> = ids.into_iter().map(Some).collect();
    let mut err = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Some results were refused.",
    )
    .with_detail(format!(
        "{accepted} of {} results were taken; the others were refused and are counted \
             (see validations).",
        places.len()
    ));
    for refusal in &intake.refused {
        let id = refusal.proxy_id();
        let at = places.iter().position(|place| *place == Some(id));
        if let Some(at) = at {
            places[at] = None;
        }
        let field = at.map_or_else(|| "results".to_owned(), |at| format!("results[{at}]"));
        err = err.with_validation(field, format!("{}: {refusal}", refusal.reason()));
    }
    Err(err)
}

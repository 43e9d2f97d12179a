//! The service's own HTTP metrics and the request log line.
//!
//! Labels use the route template (`/api/v2/workspaceproxies/{proxy}`), never the
//! raw path, so a scan of random paths cannot create unbounded series.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use tokio::time::Instant;

/// Name of the request counter.
pub const REQUESTS_METRIC: &str = "proxyhealth_http_requests_total";
/// Name of the request duration histogram.
pub const DURATION_METRIC: &str = "proxyhealth_http_request_duration_seconds";
/// The route label of a request that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The HTTP metrics, registered on the engine's registry so `/metrics` shows both.
/// Cheap to clone: clones count into the same metrics.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl HttpMetrics {
    /// Creates the metrics and registers them on `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                REQUESTS_METRIC,
                "HTTP requests answered, by method, route template and status code.",
            ),
            &["method", "route", "code"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                DURATION_METRIC,
                "Time to answer an HTTP request, by method and route template, in seconds.",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method", "route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(HttpMetrics { requests, duration })
    }
}

/// Middleware: counts and times every request and writes the debug request line
/// (method, route template, status, duration; never headers, so never a token).
pub(crate) async fn observe(
    State(metrics): State<HttpMetrics>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req.extensions().get::<MatchedPath>().map_or_else(
        || UNMATCHED_ROUTE.to_owned(),
        |path| path.as_str().to_owned(),
    );
    let response = next.run(req).await;
    let elapsed = started.elapsed();
    let code = response.status().as_u16().to_string();
    metrics
        .requests
        .with_label_values(&[method.as_str(), route.as_str(), code.as_str()])
        .inc();
    metrics
        .duration
        .with_label_values(&[method.as_str(), route.as_str()])
        .observe(elapsed.as_secs_f64());
    tracing::debug!(%method, %route, status = %code, elapsed_ms = elapsed.as_secs_f64() * 1000.0, "request");
    response
}

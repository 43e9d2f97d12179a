//! `StoreHealth`: what the service knows about its store beyond the sweeps.
//!
//! A sweep only reads, so a store that answers reads but refuses writes (a file
//! locked by another process, a full disk, a read-only file) would look healthy
//! to the engine. Every answer that failed because the store was unavailable is
//! recorded here (read or write); `/healthz` reports the fault and, at most once
//! per [`PROBE_SPACING`], probes the store with a throw-away write
//! ([`ProxyStore::probe_write`]) to notice on its own when the store is back.
//! A middleware (`record_faults`) records the faults the answers carry.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use parking_lot::Mutex;
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use proxyhealth_store::ProxyStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Name of the counter of answers that failed because the store was unavailable.
pub const STORE_ERRORS_METRIC: &str = "proxyhealth_store_errors_total";
/// Name of the gauge that is 1 while the store answers reads and writes.
pub const STORE_UP_METRIC: &str = "proxyhealth_store_up";
/// The `operation` labels of [`STORE_ERRORS_METRIC`].
pub const OPERATIONS: [&str; 2] = ["read", "write"];
/// Least time between two write probes from `/healthz`.
pub const PROBE_SPACING: Duration = Duration::from_millis(500);
/// Longest a write probe may take before `/healthz` answers without it.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A response extension set by an [`crate::ApiError`] that a store failure
/// caused; carries the store's error text.
#[derive(Debug, Clone)]
pub(crate) struct StoreFault(pub String);

/// The last store fault, its metrics and the probe that clears it.
pub(crate) struct StoreHealth {
    fault: Mutex<Option<String>>,
    /// When the last write probe started; held while a probe runs, so probes
    /// never pile up.
    last_probe: tokio::sync::Mutex<Option<Instant>>,
    errors: IntCounterVec,
    up: IntGauge,
}

impl StoreHealth {
    /// Creates the metrics and registers them on `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let errors = IntCounterVec::new(
            Opts::new(
                STORE_ERRORS_METRIC,
                "API answers that failed because the store was unavailable, by operation (read or write).",
            ),
            &["operation"],
        )?;
        let up = IntGauge::new(
            STORE_UP_METRIC,
            "1 while the last sweep read the store and no store write is failing, else 0.",
        )?;
        // both series exist from the start, at 0, so a rate or an alert on
        // them has a series before the first error
        for operation in OPERATIONS {
            errors.with_label_values(&[operation]);
        }
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(up.clone()))?;
        up.set(1);
        Ok(StoreHealth {
            fault: Mutex::new(None),
            last_probe: tokio::sync::Mutex::new(None),
            errors,
            up,
        })
    }

    /// Records that an `operation` ("read" or "write") failed with `error`.
    pub fn record(&self, operation: &str, error: &str) {
        self.errors.with_label_values(&[operation]).inc();
        let mut fault = self.fault.lock();
        if fault.is_none() {
            tracing::error!(
                operation,
                error,
                "the store is failing; serving the last snapshot and refusing writes"
            );
        }
        *fault = Some(error.to_owned());
        self.up.set(0);
    }

    /// The recorded fault, after a write probe when one is due: `None` once the
    /// store takes writes again.
    pub async fn current(&self, store: &dyn ProxyStore) -> Option<String> {
        let recorded = self.fault.lock().clone()?;
        let mut last_probe = self.last_probe.lock().await;
        if last_probe.is_some_and(|at| at.elapsed() < PROBE_SPACING) {
            return self.fault.lock().clone();
        }
        *last_probe = Some(Instant::now());
        match tokio::time::timeout(PROBE_TIMEOUT, store.probe_write()).await {
            Ok(Ok(())) => {
                tracing::info!(previous_error = %recorded, "the store takes writes again");
                *self.fault.lock() = None;
                None
            }
            Ok(Err(err)) => {
                let error = err.to_string();
                *self.fault.lock() = Some(error.clone());
                Some(error)
            }
            Err(_) => Some(recorded),
        }
    }

    /// Sets the `up` gauge from the sweep outcome and the recorded fault.
    pub fn set_up(&self, sweep_ok: bool) {
        let ok = sweep_ok && self.fault.lock().is_none();
        self.up.set(i64::from(ok));
    }
}

/// Middleware: records the store fault an answer carries (a [`StoreFault`]
/// extension), as a read for `GET` and the refresh, as a write otherwise.
pub(crate) async fn record_faults(
    State(health): State<Arc<StoreHealth>>,
    req: Request,
    next: Next,
) -> Response {
    let reads = req.method() == axum::http::Method::GET
        || req
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|path| path.as_str().ends_with("/refresh"));
    let response = next.run(req).await;
    if let Some(fault) = response.extensions().get::<StoreFault>() {
        let operation = if reads { "read" } else { "write" };
        health.record(operation, &fault.0);
    }
    response
}

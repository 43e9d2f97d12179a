//! The state every handler shares, and the background re-checks of single proxies.

use crate::ServiceConfig;
use crate::http_metrics::HttpMetrics;
use crate::store_health::StoreHealth;
use crate::throttle::FailureThrottle;
use parking_lot::Mutex;
use proxyhealth_engine::{Engine, EngineError};
use proxyhealth_store::ProxyStore;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Most server-sent-event streams open at once; more are answered 503.
pub const MAX_EVENT_STREAMS: usize = 1024;

/// What the handlers share.
pub(crate) struct AppState {
    pub engine: Engine,
    pub store: Arc<dyn ProxyStore>,
    pub config: ServiceConfig,
    /// SHA-256 of the admin token.
    pub admin_hash: Vec<u8>,
    pub throttle: FailureThrottle,
    pub http_metrics: HttpMetrics,
    /// Store faults seen by the API, for `/healthz` and the metrics.
    pub store_health: StoreHealth,
    pub rechecks: Rechecks,
    /// Permits for open event streams.
    pub streams: Arc<Semaphore>,
    /// Cancelled when the server shuts down, so event streams end and in-flight
    /// requests can finish.
    pub stop_streams: CancellationToken,
    /// The rendered body of `/api/v2/regions` for the current snapshot.
    pub regions: crate::regions_cache::RegionsCache,
}

/// Re-checks of single proxies in the background, at most one in flight per
/// proxy: a request arriving while one runs makes it run once more afterwards
/// (so a re-check never misses a change made while the previous one ran).
#[derive(Default)]
pub(crate) struct Rechecks {
    /// Proxies with a re-check in flight, and whether another is wanted after it.
    in_flight: Arc<Mutex<HashMap<Uuid, bool>>>,
}

impl Rechecks {
    /// Re-checks `id` in the background (never a full sweep).
    pub fn spawn(&self, engine: &Engine, id: Uuid) {
        {
            let mut in_flight = self.in_flight.lock();
            if let Some(again) = in_flight.get_mut(&id) {
                *again = true;
                return;
            }
            in_flight.insert(id, false);
        }
        let engine = engine.clone();
        let in_flight = Arc::clone(&self.in_flight);
        tokio::spawn(async move {
            loop {
                match engine.recheck(id).await {
                    Ok(status) => {
                        tracing::debug!(proxy_id = %id, status = %status.status, "proxy re-checked");
                    }
                    Err(EngineError::ProxyNotFound(_)) => {}
                    Err(err) => {
                        tracing::warn!(proxy_id = %id, error = %err, "proxy re-check failed")
                    }
                }
                let mut in_flight = in_flight.lock();
                match in_flight.get_mut(&id) {
                    Some(again) if *again => *again = false,
                    _ => {
                        in_flight.remove(&id);
                        return;
                    }
                }
            }
        });
    }
}

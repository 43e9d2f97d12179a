//! [`AppState`]: what the handlers share, as one cheap handle per slice.
//!
//! No handler or middleware takes the whole state: each takes the slices it
//! needs (`State<Engine>`, `State<Auth>`, …), which axum extracts through the
//! [`FromRef`] impls below. So the modules that define the slices (auth, the
//! HTTP metrics, the store health, the regions cache, the event streams) never
//! import this one.

use crate::agent_intake::AgentIntake;
use crate::agents::{AgentCounters, AgentRoster};
use crate::api_description::ApiDescription;
use crate::auth::Auth;
use crate::event_streams::EventStreams;
use crate::fleet_index::FleetIndexCache;
use crate::history_reader::HistoryReader;
use crate::http_metrics::HttpMetrics;
use crate::live_deltas::LiveDeltas;
use crate::maintenance::Maintenance;
use crate::oidc::SignIn;
use crate::regions_cache::RegionsCache;
use crate::replica_report::ThisReplica;
use crate::store_health::StoreHealth;
use axum::extract::FromRef;
use proxyhealth_engine::Engine;
use proxyhealth_store::ProxyStore;
use std::sync::Arc;

/// What the handlers share. Cheap to clone: every field is a shared handle.
#[derive(Clone)]
pub(crate) struct AppState {
    /// The engine: snapshot, sweeps and re-checks.
    pub engine: Engine,
    /// The store of proxies and of the admin token's hash.
    pub store: Arc<dyn ProxyStore>,
    /// The admin token, whether reads are open, and the slow-down of failures.
    pub auth: Auth,
    /// The service's own HTTP metrics.
    pub http_metrics: HttpMetrics,
    /// Store faults seen by the API, for `/healthz` and the metrics.
    pub store_health: Arc<StoreHealth>,
    /// The open event streams and the signal that ends them.
    pub streams: EventStreams,
    /// The changes between generations the event streams share.
    pub deltas: Arc<LiveDeltas>,
    /// The rendered body of `/api/v2/regions` for the current snapshot.
    pub regions: Arc<RegionsCache>,
    /// The proxy list's index of the current snapshot.
    pub fleet: Arc<FleetIndexCache>,
    /// This process's replica id, for the consistency report.
    pub replica: ThisReplica,
    /// Persisted history, and the proxy list's uptime figures.
    pub history: Arc<HistoryReader>,
    /// The agents of each vantage as this process has seen them.
    pub agents: Arc<AgentRoster>,
    /// The count of agents' results, taken and refused.
    pub agent_counters: AgentCounters,
    /// Publishes and keeps agents' results, a short period's batches at once.
    pub agent_intake: AgentIntake,
    /// The maintenance windows, compiled for constant-time lookups.
    pub maintenance: Maintenance,
    /// Dashboard sign-in (OpenID Connect) and its sessions; empty when not
    /// configured.
    pub sign_in: SignIn,
    /// The OpenAPI description served at `/api/v2/openapi.json`; set by the
    /// router, which makes it from the routes it adds.
    pub description: ApiDescription,
}

/// `impl FromRef<AppState> for <slice>` for each field, cloning the handle.
macro_rules! slices {
    ($($field:ident: $slice:ty),* $(,)?) => {
        $(
            impl FromRef<AppState> for $slice {
                fn from_ref(state: &AppState) -> Self {
                    state.$field.clone()
                }
            }
        )*
    };
}

slices! {
    engine: Engine,
    store: Arc<dyn ProxyStore>,
    auth: Auth,
    http_metrics: HttpMetrics,
    store_health: Arc<StoreHealth>,
    streams: EventStreams,
    deltas: Arc<LiveDeltas>,
    regions: Arc<RegionsCache>,
    fleet: Arc<FleetIndexCache>,
    replica: ThisReplica,
    history: Arc<HistoryReader>,
    agents: Arc<AgentRoster>,
    agent_counters: AgentCounters,
    agent_intake: AgentIntake,
    description: ApiDescription,
    maintenance: Maintenance,
    sign_in: SignIn,
}

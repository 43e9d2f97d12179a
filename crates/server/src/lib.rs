//! The proxyhealth HTTP service: Coder-shaped API (docs/api.md), proxy
//! self-registration, the summary and its event stream, `/healthz`, `/metrics`
//! and the dashboard.
//!
//! # Layout
//!
//! Leaves first; a module only imports (`use crate::…`) modules listed above it,
//! so the imports point one way (`scripts/check-module-cycles` checks it).
//!
//! - [`wire`]: the JSON shapes (Coder's `Region`, `WorkspaceProxy`, …), from `proxyhealth-api`.
//! - `order`: the one order of every list of proxies (by name).
//! - [`throttle`]: the per-address failure counter behind the slow-down of failures.
//! - [`http_metrics`]: the service's own HTTP metrics and request log line.
//! - [`store_health`]: store faults seen by the API, their middleware, and the
//!   write probe of `/healthz`.
//! - `event_streams`: the cap on open event streams and their stop signal.
//! - [`error`]: [`ApiError`], the one error answer (Coder's envelope and a status).
//! - [`maintenance`]: the maintenance windows as this process knows them
//!   (refreshed from the store each sweep interval), the history recorder
//!   that leaves them out of uptime and notifications, and their gauge.
//! - `held_partials`: partial outages of proxies in a maintenance window
//!   held until it is over, then kept and notified once if still changed.
//! - `paging`: the `limit` and `offset` parameters of the list routes.
//! - [`extract`]: [`extract::JsonBody`], the JSON body extractor (415, 413, 400).
//! - `path_param`: the path parameter extractor (its rejections in the envelope).
//! - `fleet_index`: the proxy list's index over one snapshot (name order,
//!   statuses, lowercased names, the other sort orders), made once per snapshot.
//! - `proxy_list`: the proxy list filtered, sorted and paged for a large fleet.
//! - [`auth`]: the admin token, the proxy token and the slow-down of failures.
//! - [`oidc`]: dashboard sign-in with OpenID Connect: the login flow, the
//!   ID token's checks, sessions in the store and the CSRF rule.
//! - `assets`: the dashboard's files and the security headers.
//! - `history_reader`: persisted history in its wire shapes (a proxy's
//!   window, the incidents) and the proxy list's uptime figures.
//! - `regions_cache`: the body of `/api/v2/regions`, rendered once per snapshot.
//! - `live_deltas`: what changed between two generations, worked out once per
//!   generation and shared by the event streams (their `proxies` and
//!   `regions` events).
//! - [`replica_report`]: the replicas' consistency report (cluster, single or
//!   independent mode; liveness, lag, disagreements, stale proxies).
//! - `agents`: the agents of each vantage as this process and the store
//!   know them (liveness, lag, their shares of the proxies) and the count of
//!   their results.
//! - `agent_sync`: the agents' roster written to the store and read back
//!   every second or quarter interval, so every replica knows every agent.
//! - `agent_intake`: agents' results once the engine took them: published
//!   and kept in the store at most once per short period for every batch
//!   that arrived meanwhile.
//! - `api_description`: the OpenAPI 3.1 description's info and security
//!   schemes, what each access rule adds to the operations it guards, and the
//!   finished description the handlers share.
//! - `state`: what the handlers share, one cheap handle per slice, each
//!   extractable on its own (axum's `FromRef`).
//! - `routes`: the handlers, each taking only the slices of state it needs and
//!   described by its `#[utoipa::path]`, and the router, which hands them the
//!   state and makes the OpenAPI description from the routes it adds.
//! - this file: [`Service`], which builds the state and serves the router.
//! - [`app`]: [`Application`], the whole service (store, engine, listener,
//!   service) built from settings and run until stopped; the one way it starts.
//! - `checker_runtime`: the threads the sweep loop runs on, apart from the
//!   ones that answer requests.
//!
//! Re-checks of single proxies in the background, coalesced per proxy, are the
//! engine's ([`Engine::recheck_in_background`]).
//!
//! # Use
//! Start the service through [`Application`] (see [`app`] for an example);
//! [`Service`] alone is the HTTP part, and [`Service::router`] serves tests
//! that need no socket.

mod agent_intake;
mod agent_sync;
mod agents;
mod api_description;
pub mod app;
mod assets;
mod audit;
pub mod auth;
mod checker_runtime;
pub mod error;
mod event_streams;
pub mod extract;
mod fleet_index;
mod held_changes;
mod held_partials;
mod history_reader;
pub mod http_metrics;
mod live_deltas;
pub mod maintenance;
pub mod oidc;
mod order;
mod paging;
mod path_param;
mod proxy_list;
mod regions_cache;
pub mod replica_report;
mod routes;
mod state;
pub mod store_health;
pub mod throttle;
pub use proxyhealth_api::wire;

pub use app::{AppError, AppSettings, AppStore, Application, Stopped};
pub use assets::CSP;
pub use error::ApiError;
pub use routes::health::{Counts, LastSweep, METRICS_CONTENT_TYPE, Summary};

use crate::auth::Auth;
use crate::http_metrics::HttpMetrics;
use crate::state::AppState;
use crate::store_health::StoreHealth;
use crate::throttle::FailureThrottle;
use proxyhealth_engine::Engine;
use proxyhealth_store::{ProxyStore, StoreError};
use rand::TryRngCore;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Default largest request body: 64 KiB (a request body is a few hundred bytes).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// How long stopping may take once it is asked: the in-flight requests of
/// [`Service::serve`], and the whole [`Application`] (sweep loop and service)
/// in [`Application::run_until_stopped`]. Past it, they are left behind.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// The prefix of a generated admin token.
pub const ADMIN_TOKEN_PREFIX: &str = "phadmin_";

/// The service's settings.
#[derive(Clone)]
pub struct ServiceConfig {
    /// The admin token from configuration; `None` uses the stored hash, or
    /// generates a token at the first start (returned once by [`Service::new`]).
    pub admin_token: Option<String>,
    /// Whether `/api/v2/regions`, `/healthz`, `/metrics`, the summary and the
    /// events are readable without a token (default `true`).
    pub public_reads: bool,
    /// Largest accepted request body (default [`DEFAULT_MAX_BODY_BYTES`]); 413 above it.
    pub max_body_bytes: usize,
    /// This process's id as a replica of a cluster on PostgreSQL, set by
    /// [`Application`] once the replica is registered (following it if it has
    /// to register again); none when the store coordinates no replicas
    /// (SQLite, in-memory, a read-only Coder attach without a schema).
    pub replica: replica_report::ThisReplica,
    /// The maintenance windows, shared with the engine's history recorder
    /// ([`maintenance::MaintenanceRecorder`]); `None` makes one over the
    /// store's.
    pub maintenance: Option<maintenance::Maintenance>,
    /// Dashboard sign-in with OpenID Connect; `None` when not configured.
    pub oidc: Option<oidc::OidcSettings>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            admin_token: None,
            public_reads: true,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            replica: replica_report::ThisReplica::default(),
            maintenance: None,
            oidc: None,
        }
    }
}

impl std::fmt::Debug for ServiceConfig {
    /// Never prints the admin token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceConfig")
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("public_reads", &self.public_reads)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("replica", &self.replica)
            .field("maintenance", &self.maintenance)
            .field("oidc", &self.oidc)
            .finish()
    }
}

/// Why the service could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The store is read-only (attached to a Coder database), so no admin token
    /// can be stored or generated: one must be configured.
    #[error(
        "an admin token must be configured: the store is read-only (attached to a Coder database), \
         so no admin token can be generated or stored"
    )]
    AdminTokenRequired,
    /// The configured admin token is empty or blank.
    #[error("the configured admin token is empty")]
    EmptyAdminToken,
    /// The admin token hash could not be read or stored.
    #[error("admin token: {0}")]
    Store(#[from] StoreError),
    /// The HTTP metrics could not be registered (already registered on this
    /// engine's registry by another service, say).
    #[error("register the HTTP metrics: {0}")]
    Metrics(String),
    /// Sign-in is configured but cannot be used.
    #[error("sign-in: {0}")]
    SignIn(#[from] oidc::SignInSetupError),
    /// The operating system's random number generator failed.
    #[error("generate the admin token: {0}")]
    Random(String),
}

/// The HTTP service. Cheap to clone: clones share one state.
#[derive(Clone)]
pub struct Service {
    state: AppState,
    config: Arc<ServiceConfig>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// Builds the service; returns the admin token when it was generated now
    /// (print it once: only its SHA-256 is stored).
    pub async fn new(
        engine: Engine,
        store: Arc<dyn ProxyStore>,
        config: ServiceConfig,
    ) -> Result<(Service, Option<String>), ServiceError> {
        let (admin_hash, generated) = admin_token_hash(store.as_ref(), &config).await?;
        let http_metrics = HttpMetrics::register(engine.registry())
            .map_err(|err| ServiceError::Metrics(err.to_string()))?;
        let store_health = StoreHealth::register(engine.registry())
            .map_err(|err| ServiceError::Metrics(err.to_string()))?;
        let history = Arc::new(history_reader::HistoryReader::new(store.history()));
        let agent_counters = agents::AgentCounters::register(engine.registry())
            .map_err(|err| ServiceError::Metrics(err.to_string()))?;
        let sign_in = oidc::SignIn::new(config.oidc.clone(), store.sessions())?;
        let auth = Auth::new(admin_hash, config.public_reads, FailureThrottle::default())
            .with_personal_tokens(store.personal_tokens())
            .with_source(Arc::new(sign_in.clone()));
        let maintenance = config
            .maintenance
            .clone()
            .unwrap_or_else(|| maintenance::Maintenance::new(store.maintenance()));
        maintenance
            .register_gauge(engine.registry())
            .map_err(|err| ServiceError::Metrics(err.to_string()))?;
        if let Err(err) = maintenance.refresh().await {
            tracing::warn!(error = %err, "reading the maintenance windows failed");
        }
        let agent_intake = agent_intake::AgentIntake::start(engine.clone(), store.clone());
        let state = AppState {
            maintenance,
            sign_in,
            engine,
            store,
            history,
            agents: Default::default(),
            agent_counters,
            agent_intake,
            auth,
            http_metrics,
            store_health: Arc::new(store_health),
            streams: Default::default(),
            deltas: Default::default(),
            regions: Default::default(),
            fleet: Default::default(),
            replica: config.replica.clone(),
            description: Default::default(),
        };
        Ok((
            Service {
                state,
                config: Arc::new(config),
            },
            generated,
        ))
    }

    /// The router with every route; serve it with connection info
    /// (`into_make_service_with_connect_info::<SocketAddr>`) so failures can be
    /// throttled per address, as [`Service::serve`] does.
    pub fn router(&self) -> axum::Router {
        routes::router(self.state.clone(), self.config.max_body_bytes)
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, ends the event
    /// streams and lets in-flight requests finish (at most [`SHUTDOWN_GRACE`]).
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let app = self
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        let stop_streams = self.state.streams.stop_signal();
        // other replicas' changes to the windows are seen within a sweep
        let refresh = tokio::spawn(
            self.state
                .maintenance
                .clone()
                .run(self.state.engine.options().interval, shutdown.child_token()),
        );
        let _stop_refresh = AbortOnDrop(refresh);
        // agents that reach other replicas are listed here too
        let agents = match self.state.store.vantages() {
            Some(vantages) if !self.state.store.is_read_only() => {
                Some(AbortOnDrop(tokio::spawn(agent_sync::run(
                    Arc::clone(&self.state.agents),
                    vantages,
                    agent_sync::period(self.state.engine.options().interval),
                    shutdown.child_token(),
                ))))
            }
            _ => None,
        };
        let _stop_agents = agents;
        let store = Arc::clone(&self.state.store);
        let graceful = shutdown.clone();
        let server = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                graceful.cancelled().await;
                stop_streams.cancel();
            })
            .into_future();
        let deadline = async {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        let served = tokio::select! {
            result = server => result,
            () = deadline => {
                tracing::warn!(grace_s = SHUTDOWN_GRACE.as_secs(), "requests still in flight after the grace period; stopping anyway");
                Ok(())
            }
        };
        // every answered batch of agents' results is with the store now
        agent_intake::flush_held(store.as_ref(), proxyhealth_store::Flush::Everything).await;
        served
    }
}

/// The admin token's hash, and the token itself when it was generated now.
async fn admin_token_hash(
    store: &dyn ProxyStore,
    config: &ServiceConfig,
) -> Result<(Vec<u8>, Option<String>), ServiceError> {
    if let Some(token) = &config.admin_token {
        if token.trim().is_empty() {
            return Err(ServiceError::EmptyAdminToken);
        }
        return Ok((auth::hash_token(token), None));
    }
    if store.is_read_only() {
        return Err(ServiceError::AdminTokenRequired);
    }
    if let Some(hash) = store.admin_token_hash().await? {
        return Ok((hash, None));
    }
    let token = generate_admin_token()?;
    let hash = auth::hash_token(&token);
    if store.set_admin_token_hash_if_absent(hash.clone()).await? {
        tracing::info!("generated a new admin token");
        return Ok((hash, Some(token)));
    }
    // Another replica stored its token first: use that one.
    match store.admin_token_hash().await? {
        Some(hash) => Ok((hash, None)),
        None => Err(ServiceError::Store(StoreError::Internal(
            "the admin token hash vanished right after another replica stored it".to_owned(),
        ))),
    }
}

/// `phadmin_` and 48 random hex characters (24 bytes from the OS).
fn generate_admin_token() -> Result<String, ServiceError> {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|err| ServiceError::Random(err.to_string()))?;
    Ok(format!("{ADMIN_TOKEN_PREFIX}{}", hex::encode(bytes)))
}

/// Aborts a task when dropped (the refresh of the maintenance windows ends
/// with the service).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

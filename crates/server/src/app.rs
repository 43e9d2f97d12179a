//! The whole service as one [`Application`]: built from [`AppSettings`], run
//! until a stop is asked, stopped within [`SHUTDOWN_GRACE`].
//!
//! Building opens the store (or takes an opened one), builds the engine, binds
//! the listener and builds the [`Service`], in that order, so the first setting
//! at fault is the one reported. Running spawns the engine's sweep loop and the
//! HTTP service; when the `stop` future finishes (or the service fails), both
//! are told to stop and get one grace period to do so. `proxyhealth serve`,
//! `proxyhealth demo`, the server's test harness and the benchmarks all start
//! the service here, so there is one assembly and one shutdown to keep right.
//!
//! What the caller does on a signal (log it, print it, exit at once on a second
//! one) stays with the caller: it chooses the `stop` future, and may race
//! [`Application::run_until_stopped`] with anything else.
//!
//! ```no_run
//! # async fn run() -> Result<(), proxyhealth_server::app::AppError> {
//! use proxyhealth_server::app::{AppSettings, AppStore, Application, Stopped};
//! let store = AppStore::Open {
//!     spec: "sqlite:///var/lib/proxyhealth/proxyhealth.db".to_owned(),
//!     options: Default::default(),
//! };
//! let listen = "127.0.0.1:8080".parse().expect("an address");
//! let app = Application::build(AppSettings::new(listen, store)).await?;
//! println!("listening on http://{}", app.addr());
//! if let Some(token) = app.generated_admin_token() {
//!     println!("admin token (shown once): {token}");
//! }
//! let stop = async {
//!     let _ = tokio::signal::ctrl_c().await;
//! };
//! if app.run_until_stopped(stop).await? == Stopped::GraceExpired {
//!     eprintln!("stopping took too long; exiting anyway");
//! }
//! # Ok(()) }
//! ```

use crate::{SHUTDOWN_GRACE, Service, ServiceConfig, ServiceError};
use proxyhealth_core::ProxySource;
use proxyhealth_engine::{Engine, EngineError, EngineOptions};
use proxyhealth_store::{OpenOptions, ProxyStore, StoreError, open_store, redact};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Where the application's store comes from.
pub enum AppStore {
    /// Open this spec with [`open_store`] (what `serve` and `demo` do).
    Open {
        /// The store spec (`sqlite://…`, `postgres://…`, `memory:`).
        spec: String,
        /// How to open it.
        options: OpenOptions,
    },
    /// Use a store opened already (tests and benchmarks that fill or break it).
    Ready(Arc<dyn ProxyStore>),
}

impl AppStore {
    /// The store: opened now, or the one given. A spec the store does not
    /// understand is [`AppError::StoreSpec`]; one it cannot open, [`AppError::Store`].
    /// (`proxyhealth check` opens its store this way too, without the service.)
    pub async fn open(self) -> Result<Arc<dyn ProxyStore>, AppError> {
        match self {
            AppStore::Open { spec, options } => match open_store(&spec, options).await {
                Ok(store) => Ok(store),
                Err(StoreError::Config(message)) => Err(AppError::StoreSpec(message)),
                Err(err) => Err(AppError::Store(err)),
            },
            AppStore::Ready(store) => Ok(store),
        }
    }
}

impl std::fmt::Debug for AppStore {
    /// Hides a password in the spec.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppStore::Open { spec, options } => f
                .debug_struct("Open")
                .field("spec", &redact(spec))
                .field("options", options)
                .finish(),
            AppStore::Ready(_) => f.write_str("Ready(..)"),
        }
    }
}

/// Everything the application is built from, resolved (no defaults left to
/// apply but the engine's own).
#[derive(Debug)]
pub struct AppSettings {
    /// Where the service listens (port 0 picks a free one; see [`Application::addr`]).
    pub listen: SocketAddr,
    /// The store.
    pub store: AppStore,
    /// The engine's settings.
    pub engine: EngineOptions,
    /// The HTTP service's settings (the admin token among them).
    pub service: ServiceConfig,
    /// Whether [`Application::run_until_stopped`] runs the engine's sweep loop
    /// (`true` by default). Tests and benchmarks that sweep only when they ask
    /// turn it off.
    pub sweep_loop: bool,
}

impl AppSettings {
    /// Settings with the engine's and the service's defaults and the sweep loop on.
    pub fn new(listen: SocketAddr, store: AppStore) -> AppSettings {
        AppSettings {
            listen,
            store,
            engine: EngineOptions::default(),
            service: ServiceConfig::default(),
            sweep_loop: true,
        }
    }
}

/// Why the application could not be built, or failed while it ran. The texts
/// name the setting as the `proxyhealth` command line spells it, since that is
/// what an operator reads.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The store spec is not one the store understands (a settings mistake).
    #[error("--db: {0}")]
    StoreSpec(String),
    /// The store could not be opened (unreachable, unreadable, …).
    #[error("opening the store")]
    Store(#[source] StoreError),
    /// The engine refused its settings (a settings mistake).
    #[error("engine settings: {0}")]
    Engine(EngineError),
    /// The listen address could not be bound.
    #[error("--listen {addr}: cannot listen")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        #[source]
        source: std::io::Error,
    },
    /// The bound listener's address could not be read.
    #[error("reading the listen address")]
    ListenAddress(#[source] std::io::Error),
    /// The HTTP service could not be built (the admin token, say).
    #[error("starting the service")]
    Service(#[source] ServiceError),
    /// Serving HTTP failed.
    #[error("serving HTTP")]
    Serve(#[source] std::io::Error),
    /// The task serving HTTP panicked or was cancelled.
    #[error("the HTTP service task failed")]
    ServeTask(#[source] tokio::task::JoinError),
}

impl AppError {
    /// Whether the error is a mistake in the settings (a bad store spec or engine
    /// option) rather than a failure at run time; the CLI exits 2 for these.
    pub fn is_settings(&self) -> bool {
        matches!(self, AppError::StoreSpec(_) | AppError::Engine(_))
    }
}

/// How [`Application::run_until_stopped`] ended, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The sweep loop and the service stopped within the grace period.
    Cleanly,
    /// They were still stopping after [`SHUTDOWN_GRACE`]; they were left behind.
    GraceExpired,
}

/// The built service: a bound listener, an engine and the HTTP service over one
/// store, ready to run.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    engine: Engine,
    store: Arc<dyn ProxyStore>,
    service: Service,
    generated_admin_token: Option<String>,
    sweep_loop: bool,
}

impl std::fmt::Debug for Application {
    /// Never prints the admin token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("addr", &self.addr)
            .field("service", &self.service)
            .field("sweep_loop", &self.sweep_loop)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Opens the store, builds the engine, binds the listener and builds the
    /// service. Nothing runs yet: see [`Application::run_until_stopped`].
    pub async fn build(settings: AppSettings) -> Result<Application, AppError> {
        let store = settings.store.open().await?;
        let engine = Engine::builder()
            .store(Arc::clone(&store) as Arc<dyn ProxySource>)
            .options(settings.engine)
            .build()
            .map_err(AppError::Engine)?;
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| AppError::Listen {
                    addr: settings.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(AppError::ListenAddress)?;
        let (service, generated_admin_token) =
            Service::new(engine.clone(), Arc::clone(&store), settings.service)
                .await
                .map_err(AppError::Service)?;
        Ok(Application {
            listener,
            addr,
            engine,
            store,
            service,
            generated_admin_token,
            sweep_loop: settings.sweep_loop,
        })
    }

    /// The address the service listens on (the port chosen when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin token generated at this start, if one was (print it once:
    /// only its hash is kept). `None` when one was configured or stored.
    pub fn generated_admin_token(&self) -> Option<&str> {
        self.generated_admin_token.as_deref()
    }

    /// The engine (its settings in force, its snapshot, sweeps on demand).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The store the engine and the service share.
    pub fn store(&self) -> &Arc<dyn ProxyStore> {
        &self.store
    }

    /// Runs the sweep loop (when on) and the HTTP service until `stop` finishes
    /// or the service fails, then tells both to stop and waits for them at most
    /// [`SHUTDOWN_GRACE`]. Dropping the returned future tells them to stop too,
    /// without waiting: that is how a caller exits at once (on a second signal,
    /// say) by racing this future.
    pub async fn run_until_stopped(
        self,
        stop: impl Future<Output = ()>,
    ) -> Result<Stopped, AppError> {
        let shutdown = CancellationToken::new();
        let _stop_when_dropped = shutdown.clone().drop_guard();
        let engine_task = self.sweep_loop.then(|| {
            let engine = self.engine.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move { engine.run(shutdown).await })
        });
        let mut serve_task = tokio::spawn(self.service.serve(self.listener, shutdown.clone()));

        let served_early = tokio::select! {
            () = stop => None,
            joined = &mut serve_task => Some(joined),
        };
        shutdown.cancel();
        let finished = async {
            let served = match served_early {
                Some(joined) => joined,
                None => serve_task.await,
            };
            if let Some(engine_task) = engine_task {
                let _ = engine_task.await;
            }
            served
        };
        match tokio::time::timeout(SHUTDOWN_GRACE, finished).await {
            Err(_) => Ok(Stopped::GraceExpired),
            Ok(Ok(Ok(()))) => Ok(Stopped::Cleanly),
            Ok(Ok(Err(err))) => Err(AppError::Serve(err)),
            Ok(Err(err)) => Err(AppError::ServeTask(err)),
        }
    }
}

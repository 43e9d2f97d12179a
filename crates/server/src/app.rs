//! The whole service as one [`Application`]: built from [`AppSettings`], run
//! until a stop is asked, stopped within [`SHUTDOWN_GRACE`].
//!
//! Building opens the store (or takes an opened one), builds the engine, binds
//! the listener and builds the [`Service`], in that order, so the first setting
//! at fault is the one reported. Running spawns the engine's sweep loop, on
//! threads of its own so a sweep's burst never queues ahead of requests (the
//! `checker_runtime` module), and the HTTP service; when the `stop` future
//! finishes (or the service fails), both are told to stop and get one grace
//! period to do so.
//!
//! Several replicas: on a store that coordinates replicas
//! (writable PostgreSQL), building also registers this process as a replica
//! ([`proxyhealth_cluster::Replica`]) and sets [`ServiceConfig::replica`];
//! running then runs the replica's loops instead of the engine's sweep loop,
//! and re-checks asked through the API become one check in the cluster. On a
//! store with one writer (SQLite), building takes the store's instance lock and
//! holds it while the application lives: a second `serve` on the same file is
//! refused with a message naming the running one. `proxyhealth serve`,
//! `proxyhealth demo`, the server's test harness and the benchmarks all start
//! the service here, so there is one assembly and one shutdown to keep right.
//!
//! Notifications: with targets configured, building tells the
//! store's outbox the targets and damping (rows are written with the
//! transitions), and running runs the delivery worker beside the sweeps
//! (every replica runs one; each row is claimed by one).
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

use crate::checker_runtime::CheckerRuntime;
use crate::held_partials::HeldPartials;
use crate::maintenance::{Maintenance, MaintenanceRecorder};
use crate::replica_report::ThisReplica;
use crate::{SHUTDOWN_GRACE, Service, ServiceConfig, ServiceError};
use proxyhealth_cluster::{ClusterError, ClusterSettings, Replica, ReplicaEngine};
use proxyhealth_core::ProxySource;
use proxyhealth_engine::{Engine, EngineError, EngineOptions};
use proxyhealth_notify::{Notifier, NotifierError, NotifySettings};
use proxyhealth_store::history::retention::{self, RetentionSettings};
use proxyhealth_store::{
    InstanceGuard, InstanceInfo, InstanceLockError, OpenOptions, ProxyStore, ReplicaInfo,
    StoreError, open_store, redact,
};
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
    /// Opens a spec writing notification rows by `policy`; a store given
    /// ready was opened by its caller, with its own policy (a notifier
    /// refuses a store opened for other targets).
    pub fn with_outbox_policy(self, policy: proxyhealth_store::OutboxPolicy) -> Self {
        match self {
            AppStore::Open { spec, options } => AppStore::Open {
                spec,
                options: OpenOptions {
                    outbox_policy: policy,
                    ..options
                },
            },
            ready @ AppStore::Ready(_) => ready,
        }
    }

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
    /// turn it off. On a store that coordinates replicas, `true` runs the
    /// replica instead (and `false` runs neither: the process is no replica).
    pub sweep_loop: bool,
    /// Whether, with two or more live replicas, a failing check of an `ok`
    /// proxy is confirmed by another replica before its status changes
    /// (`true` by default; no effect with one replica).
    pub second_opinion: bool,
    /// Notifications on status changes; with no targets (the
    /// default) nothing is written to the outbox and no worker runs.
    pub notify: NotifySettings,
    /// How long persisted history is kept (default 90 days); pruned in the
    /// background while the sweep loop (or the replica) runs.
    pub history_retention: std::time::Duration,
    /// How long the audit log is kept (default 365 days); pruned in the
    /// background while the sweep loop (or the replica) runs.
    pub audit_retention: std::time::Duration,
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
            second_opinion: proxyhealth_cluster::settings::SECOND_OPINION,
            notify: NotifySettings::default(),
            history_retention: proxyhealth_store::history::retention::DEFAULT_RETENTION,
            audit_retention: proxyhealth_store::audit::retention::DEFAULT_AUDIT_RETENTION,
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
    /// Other vantages' newest results could not be read back from the store.
    #[error("reading the vantages' kept results: {0}")]
    VantageReadings(#[source] proxyhealth_store::VantageError),
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
    /// Another process serves the same one-writer store (SQLite); the text
    /// names it (host, pid, address).
    #[error("{0}")]
    InstanceLock(InstanceLockError),
    /// This process could not join the replicas on the store.
    #[error("starting the replica")]
    Cluster(#[source] ClusterError),
    /// Serving HTTP failed.
    #[error("serving HTTP")]
    Serve(#[source] std::io::Error),
    /// The task serving HTTP panicked or was cancelled.
    #[error("the HTTP service task failed")]
    ServeTask(#[source] tokio::task::JoinError),
    /// Notifications could not be set up (two targets of one name, say).
    #[error("notifications: {0}")]
    Notify(#[source] NotifierError),
    /// Notification targets are configured on a store proxyhealth cannot
    /// write its outbox to.
    #[error(
        "notifications: notification targets need a store proxyhealth writes to \
         (not a read-only --coder attach without --coordination-schema)"
    )]
    NotifyNeedsWritableStore,
}

impl AppError {
    /// Whether the error is a mistake in the settings (a bad store spec or engine
    /// option) rather than a failure at run time; the CLI exits 2 for these.
    pub fn is_settings(&self) -> bool {
        matches!(
            self,
            AppError::StoreSpec(_)
                | AppError::Engine(_)
                | AppError::Notify(_)
                | AppError::NotifyNeedsWritableStore
        )
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
    /// The replica this process is, on a store that coordinates replicas.
    replica: Option<Replica>,
    /// The one-writer store's lock, held while the application lives.
    instance: Option<InstanceGuard>,
    /// The notification worker, when targets are configured.
    notifier: Option<Notifier>,
    /// How history is pruned (with the sweep loop), when the store keeps it.
    retention: RetentionSettings,
    /// How long the audit log is kept.
    audit_retention: std::time::Duration,
    /// The partial outages held in maintenance windows, when they are kept.
    held_partials: Option<Arc<HeldPartials>>,
}

impl std::fmt::Debug for Application {
    /// Never prints the admin token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("addr", &self.addr)
            .field("service", &self.service)
            .field("sweep_loop", &self.sweep_loop)
            .field("replica", &self.replica)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Opens the store, builds the engine, binds the listener and builds the
    /// service. Nothing runs yet: see [`Application::run_until_stopped`].
    pub async fn build(settings: AppSettings) -> Result<Application, AppError> {
        // the journal writes notification rows from the first batch on, so
        // the store knows the targets from the moment it is opened
        let store = settings
            .store
            .with_outbox_policy(settings.notify.outbox_policy())
            .open()
            .await?;
        // a replica only when it will run: otherwise re-checks stay local
        let coordination = store.coordination().filter(|_| settings.sweep_loop);
        // the windows are judged by the recorder from the first batch on
        let maintenance = settings
            .service
            .maintenance
            .clone()
            .unwrap_or_else(|| Maintenance::new(store.maintenance()));
        // partial outages in a window held like status changes
        let held_partials = store.history().map(|history| {
            Arc::new(HeldPartials::new(
                proxyhealth_store::partial_recorder(history, settings.notify.partial),
                maintenance.clone(),
            ))
        });
        let builder = Engine::builder()
            .store(Arc::clone(&store) as Arc<dyn ProxySource>)
            .options(settings.engine);
        let (engine, replica_engine) = match &coordination {
            Some(coordination) => {
                let built = ReplicaEngine::build(builder, Arc::clone(coordination))
                    .map_err(AppError::Engine)?;
                // partial outages kept by the store, once for the cluster
                let built = match &held_partials {
                    Some(held) => built.with_partial_outages(Arc::clone(held) as _),
                    None => built,
                };
                // the replica's vantage's history, with its accepted results
                let built = match store.vantages() {
                    Some(vantages) => built.with_own_history(
                        proxyhealth_store::vantages::own_history_recorder(vantages),
                    ),
                    None => built,
                };
                (built.engine().clone(), Some(built))
            }
            // one replica: the engine writes history before it publishes
            None => {
                let builder = match store.history() {
                    Some(history) => builder.history(Arc::new(MaintenanceRecorder::new(
                        proxyhealth_store::history::recorder(history),
                        maintenance.clone(),
                    ))),
                    None => builder,
                };
                let builder = match &held_partials {
                    Some(held) => builder.partial_outages(Arc::clone(held) as _),
                    None => builder,
                };
                let builder = match store.vantages() {
                    Some(vantages) => builder
                        .own_history(proxyhealth_store::vantages::own_history_recorder(vantages)),
                    None => builder,
                };
                (builder.build().map_err(AppError::Engine)?, None)
            }
        };
        // other vantages' newest results, so the first sweep judges with them
        if let Some(vantages) = store.vantages() {
            let readings = vantages
                .readings()
                .await
                .map_err(AppError::VantageReadings)?;
            engine.restore_vantage_readings(readings);
        }
        // before the first batch is recorded: the outbox writes rows by the
        // targets it is told here
        let notifier = match store.outbox() {
            Some(outbox) if !settings.notify.targets.is_empty() => Some(
                Notifier::new(outbox, settings.notify, engine.registry())
                    .map_err(AppError::Notify)?,
            ),
            None if !settings.notify.targets.is_empty() => {
                return Err(AppError::NotifyNeedsWritableStore);
            }
            _ => None,
        };
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| AppError::Listen {
                    addr: settings.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(AppError::ListenAddress)?;
        let instance = store
            .instance_lock(&InstanceInfo {
                hostname: hostname(),
                pid: std::process::id(),
                listen_addr: addr.to_string(),
                started_at: time::OffsetDateTime::now_utc(),
            })
            .map_err(AppError::InstanceLock)?;
        let mut service_config = settings.service;
        service_config.maintenance = Some(maintenance);
        let replica = match replica_engine {
            Some(replica_engine) => {
                let cluster = ClusterSettings {
                    second_opinion: settings.second_opinion,
                    ..ClusterSettings::for_engine(engine.options())
                };
                let info = ReplicaInfo {
                    hostname: hostname(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    listen_addr: addr.to_string(),
                    pid: std::process::id(),
                    vantage: engine.options().vantage.to_string(),
                };
                let source = Arc::clone(&store) as Arc<dyn ProxySource>;
                let replica = Replica::start(&replica_engine, source, info, cluster)
                    .await
                    .map_err(AppError::Cluster)?;
                let id = replica.id_handle();
                service_config.replica = ThisReplica::following(move || id.get());
                Some(replica)
            }
            None => None,
        };
        let (service, generated_admin_token) =
            match Service::new(engine.clone(), Arc::clone(&store), service_config).await {
                Ok(built) => built,
                Err(err) => {
                    if let Some(replica) = replica {
                        replica.stop_now().await;
                    }
                    return Err(AppError::Service(err));
                }
            };
        Ok(Application {
            listener,
            addr,
            engine,
            store,
            service,
            generated_admin_token,
            sweep_loop: settings.sweep_loop,
            replica,
            instance,
            notifier,
            retention: RetentionSettings {
                keep: settings.history_retention,
                ..RetentionSettings::default()
            },
            audit_retention: settings.audit_retention,
            held_partials,
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
        let _instance = self.instance;
        // dropped last (declared first), after the loops it runs have stopped
        let checker = CheckerRuntime::beside_current();
        let engine_task = match self.replica {
            // the replica's loops replace the engine's sweep loop
            Some(replica) => Some(checker.spawn(replica.run(shutdown.clone()))),
            None => self.sweep_loop.then(|| {
                let engine = self.engine.clone();
                let shutdown = shutdown.clone();
                checker.spawn(async move { engine.run(shutdown).await })
            }),
        };
        let notify_task = self
            .notifier
            .map(|notifier| tokio::spawn(notifier.run(shutdown.clone())));
        let retention_task = match self.store.history() {
            Some(history) if self.sweep_loop => {
                let stop = shutdown.clone().cancelled_owned();
                Some(tokio::spawn(retention::run(
                    history,
                    self.store
                        .vantages()
                        .map(proxyhealth_store::vantages::pruning),
                    self.retention,
                    stop,
                )))
            }
            _ => None,
        };
        let audit_task = match self.store.audit() {
            Some(log) if self.sweep_loop => {
                let stop = shutdown.clone().cancelled_owned();
                Some(tokio::spawn(proxyhealth_store::audit::retention::run(
                    log,
                    self.audit_retention,
                    self.retention.period,
                    stop,
                )))
            }
            _ => None,
        };
        // a partial outage held in a window is kept when the window is over,
        // whether or not it changes again
        let held_task = self
            .held_partials
            .map(|held| tokio::spawn(held.run(self.engine.options().interval, shutdown.clone())));
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
            if let Some(notify_task) = notify_task {
                let _ = notify_task.await;
            }
            if let Some(audit_task) = audit_task {
                let _ = audit_task.await;
            }
            if let Some(retention_task) = retention_task {
                let _ = retention_task.await;
            }
            if let Some(held_task) = held_task {
                let _ = held_task.await;
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

/// This machine's host name, as a replica and the instance lock name it
/// (`/proc/sys/kernel/hostname`, else `$HOSTNAME`, else `unknown`).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| {
            std::env::var("HOSTNAME")
                .ok()
                .filter(|name| !name.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

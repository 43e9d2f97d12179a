//! Where the replicas of a test coordinate (one `MemoryCoordination` in this
//! process, or a fresh PostgreSQL database), replicas started on it, fake
//! proxies, and the helpers the tests share.

use proxyhealth_cluster::{ClusterSettings, Replica, ReplicaEngine};
use proxyhealth_core::{ProxySource, Status};
use proxyhealth_engine::{Engine, EngineOptions};
use proxyhealth_store::{
    Coordination, MemoryCoordination, MemoryStore, NewProxy, OpenOptions, OutboxPolicy, ProxyStore,
    Registration, ReplicaId, ReplicaInfo, open_store,
};
use proxyhealth_testkit::{FakeProxy, TestDatabase, shared_postgres_url};
use sqlx::PgConnection;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The healthy report a Coder proxy serves.
pub const HEALTHY: &str = r#"{"errors":[],"warnings":[]}"#;

/// The interval the test replicas check at.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// What the replicas of a test share: one store of proxies, and the
/// coordination they join.
pub struct TestCluster {
    backing: Backing,
    /// A store for setting up proxies (and reading history).
    pub store: Arc<dyn ProxyStore>,
}

/// Where a [`TestCluster`] keeps its state.
enum Backing {
    /// One coordination in this process, shared by every replica (run the
    /// test with paused time: leases and intervals pass without waiting).
    Memory(Arc<MemoryCoordination>),
    /// A fresh database; each replica opens its own store pool on it, with
    /// these options.
    Postgres(TestDatabase, OpenOptions),
}

impl TestCluster {
    /// A cluster in memory.
    pub fn memory() -> TestCluster {
        let store: Arc<dyn ProxyStore> = Arc::new(MemoryStore::new());
        let coordination = Arc::new(MemoryCoordination::new(Arc::clone(&store)));
        TestCluster {
            backing: Backing::Memory(coordination),
            store,
        }
    }

    /// A cluster on a fresh, migrated database; `None` (loudly) when
    /// PostgreSQL tests are skipped; a panic under `CI=true` without a server.
    pub async fn postgres() -> Option<TestCluster> {
        let server_url = shared_postgres_url()?;
        Some(TestCluster::postgres_on(server_url).await)
    }

    /// A cluster on a fresh, migrated database on the server at `server_url`.
    pub async fn postgres_on(server_url: String) -> TestCluster {
        TestCluster::postgres_with(server_url, OpenOptions::default()).await
    }

    /// A cluster on a fresh database whose stores (the setup one and each
    /// replica's) open with `options` (an outbox policy, say).
    pub async fn postgres_with(server_url: String, options: OpenOptions) -> TestCluster {
        let database = TestDatabase::create_on(&server_url).await;
        let store = open_store(&database.url, options.clone())
            .await
            .expect("open the store");
        TestCluster {
            backing: Backing::Postgres(database, options),
            store,
        }
    }

    /// The coordination of the setup store.
    pub fn coordination(&self) -> Arc<dyn Coordination> {
        match &self.backing {
            Backing::Memory(coordination) => Arc::clone(coordination) as Arc<dyn Coordination>,
            Backing::Postgres(..) => self.store.coordination().expect("PostgreSQL coordinates"),
        }
    }

    /// What a new replica runs on: its store and its coordination (on
    /// PostgreSQL a pool of its own, as a separate process would have).
    async fn replica_parts(&self) -> (Arc<dyn ProxyStore>, Arc<dyn Coordination>) {
        match &self.backing {
            Backing::Memory(_) => (Arc::clone(&self.store), self.coordination()),
            Backing::Postgres(database, options) => {
                let store = open_store(&database.url, options.clone())
                    .await
                    .expect("open the replica's store");
                let coordination = store.coordination().expect("PostgreSQL coordinates");
                (store, coordination)
            }
        }
    }

    /// A registered proxy at `url`, with its check row due now.
    pub async fn proxy(&self, name: &str, url: &str) -> Uuid {
        let created = self
            .store
            .create_proxy(NewProxy {
                name: name.to_owned(),
                display_name: name.to_owned(),
                icon: String::new(),
            })
            .await
            .expect("create a proxy");
        let id = created.proxy.id;
        self.store
            .register_proxy(
                id,
                Registration {
                    url: url.to_owned(),
                    wildcard_hostname: String::new(),
                    derp_enabled: true,
                    derp_only: false,
                    version: "v2.20.0".to_owned(),
                },
            )
            .await
            .expect("register the proxy");
        // what the service's create and registration do
        self.coordination()
            .request_check(id)
            .await
            .expect("request a check");
        id
    }

    /// A single connection to the database, for killing sessions and
    /// deleting rows behind the store's back (PostgreSQL only).
    pub async fn connect(&self) -> PgConnection {
        match &self.backing {
            Backing::Postgres(database, _) => database.connect().await,
            Backing::Memory(_) => panic!("a memory cluster has no database to connect to"),
        }
    }

    /// Drops the database, disconnecting whoever still uses it.
    pub async fn finish(self) {
        if let Backing::Postgres(database, _) = self.backing {
            database.drop_db().await;
        }
    }
}

/// A cluster whose stores write a notification row per change for `hook`,
/// at once (no damping).
pub async fn notifying_cluster() -> Option<TestCluster> {
    let url = shared_postgres_url()?;
    let options = OpenOptions {
        outbox_policy: OutboxPolicy {
            targets: vec!["hook".to_owned()],
            damping: Duration::ZERO,
        },
        ..OpenOptions::default()
    };
    Some(TestCluster::postgres_with(url, options).await)
}

/// The notification rows of the proxy, as (from, to) words.
pub async fn notification_rows(db: &TestCluster, proxy: Uuid) -> Vec<(Option<String>, String)> {
    let mut conn = db.connect().await;
    sqlx::query_as(
        "SELECT from_status, to_status FROM proxyhealth_notifications \
         WHERE proxy_id = $1 ORDER BY at, id",
    )
    .bind(proxy)
    .fetch_all(&mut conn)
    .await
    .expect("read the notification rows")
}

/// `count` healthy fake proxies registered in `db` as `p0`, `p1`, …, and
/// their ids, in that order.
pub async fn healthy_fleet(db: &TestCluster, count: usize) -> (Vec<FakeProxy>, Vec<Uuid>) {
    let mut fakes = Vec::with_capacity(count);
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let fake = healthy_proxy().await;
        ids.push(db.proxy(&format!("p{i}"), &fake.url).await);
        fakes.push(fake);
    }
    (fakes, ids)
}

/// `count` replicas with the default settings, named `a`, `b`, `c`, ….
pub async fn plain_replicas(db: &TestCluster, count: u8) -> Vec<Running> {
    let mut replicas = Vec::with_capacity(usize::from(count));
    for letter in (b'a'..).take(usize::from(count)) {
        let name = char::from(letter).to_string();
        replicas.push(Running::start(db, &name, None, |_| {}).await);
    }
    replicas
}

/// A fake proxy that always serves a healthy report.
pub async fn healthy_proxy() -> FakeProxy {
    FakeProxy::fixed(200, Some("application/json"), HEALTHY).await
}

/// The engine settings of the test replicas: a short interval and timeout.
pub fn engine_options() -> EngineOptions {
    EngineOptions {
        interval: INTERVAL,
        timeout: Duration::from_secs(2),
        parallelism: 64,
        ..EngineOptions::default()
    }
}

/// The replica settings of the tests: quick heartbeats, polls and reads.
pub fn cluster_settings(options: &EngineOptions) -> ClusterSettings {
    ClusterSettings {
        heartbeat: Duration::from_millis(500),
        poll: Duration::from_millis(200),
        batch: Duration::from_millis(100),
        safety_read: Duration::from_secs(1),
        ..ClusterSettings::for_engine(options)
    }
}

/// A replica running in this process, with its own engine (and, on
/// PostgreSQL, its own store pool).
pub struct Running {
    /// Its engine (its snapshot is the cluster's view).
    pub engine: Engine,
    /// Its id when it started.
    pub id: ReplicaId,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// Starts a replica on `db`; `client` replaces the engine's HTTP client
    /// (a broken one makes every check of this replica fail).
    pub async fn start(
        db: &TestCluster,
        name: &str,
        client: Option<reqwest::Client>,
        tweak: impl FnOnce(&mut ClusterSettings),
    ) -> Running {
        Running::start_with(db, name, engine_options(), client, tweak).await
    }

    /// Starts a replica on `db` whose engine runs with `options` (its
    /// vantage, the address its checks come from).
    pub async fn start_with(
        db: &TestCluster,
        name: &str,
        options: EngineOptions,
        client: Option<reqwest::Client>,
        tweak: impl FnOnce(&mut ClusterSettings),
    ) -> Running {
        let (store, coordination) = db.replica_parts().await;
        let mut builder = Engine::builder()
            .store(Arc::clone(&store) as Arc<dyn ProxySource>)
            .options(options.clone());
        if let Some(client) = client {
            builder = builder.client(client);
        }
        let mut replica_engine = ReplicaEngine::build(builder, coordination).expect("engine");
        // as `serve --notify-partial` does: partial outages kept, and notified
        // when the store has targets
        if let Some(history) = store.history() {
            replica_engine = replica_engine
                .with_partial_outages(proxyhealth_store::partial_recorder(history, true));
        }
        // as `serve` does: the replica's vantage keeps its own history
        if let Some(vantages) = store.vantages() {
            replica_engine = replica_engine
                .with_own_history(proxyhealth_store::vantages::own_history_recorder(vantages));
        }
        let engine = replica_engine.engine().clone();
        let mut settings = cluster_settings(&options);
        tweak(&mut settings);
        let replica = Replica::start(
            &replica_engine,
            store as Arc<dyn ProxySource>,
            ReplicaInfo {
                hostname: name.to_owned(),
                version: "test".to_owned(),
                listen_addr: "127.0.0.1:1".to_owned(),
                pid: std::process::id(),
                vantage: options.vantage.to_string(),
            },
            settings,
        )
        .await
        .expect("the replica starts");
        let id = replica.id();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(replica.run(shutdown.clone()));
        Running {
            engine,
            id,
            shutdown,
            task: Some(task),
        }
    }

    /// The status of a proxy in this replica's view.
    pub fn status(&self, id: &Uuid) -> Option<Status> {
        self.engine.status_of(id).map(|status| status.status)
    }

    /// A metric of this replica (0 when absent).
    pub fn metric(&self, name: &str) -> f64 {
        metric(&self.engine, name)
    }

    /// Stops the replica and waits for it (its last write, then its stop).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// An unlabelled counter or gauge on the engine's registry (0 when absent).
pub fn metric(engine: &Engine, name: &str) -> f64 {
    let text = proxyhealth_engine::metrics::render(engine.registry());
    text.lines()
        .find_map(|line| {
            let (metric, value) = line.split_once(' ')?;
            (metric == name).then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0.0)
}

/// Waits until `check` holds ([`proxyhealth_testkit::eventually`]).
pub async fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    proxyhealth_testkit::eventually(limit, what, async || check()).await;
}

/// Waits until every replica's view shows `status` for the proxy `id`;
/// fails naming `what` after `limit`.
pub async fn every_view_shows(
    replicas: &[Running],
    id: &Uuid,
    status: Status,
    limit: Duration,
    what: &str,
) {
    eventually(limit, what, || {
        replicas.iter().all(|r| r.status(id) == Some(status))
    })
    .await;
}

/// A client whose every request goes through a proxy that refuses
/// connections: every check of a replica using it fails (`unreachable`).
pub async fn broken_client() -> reqwest::Client {
    let refused = proxyhealth_testkit::fake_proxy::refused_url().await;
    proxyhealth_api::http::client_builder()
        .proxy(reqwest::Proxy::all(refused).expect("proxy URL"))
        .build()
        .expect("client")
}

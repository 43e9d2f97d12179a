//! What the replicas' end-to-end tests share: a database of the test's own,
//! fake proxies that count and time their requests, `proxyhealth serve`
//! replicas and what they answer, and waiting for a condition with a bound.

use crate::support::Server;
use proxyhealth_api::ApiClient;
use proxyhealth_api::wire::CreateProxyRequest;
use proxyhealth_cluster::ClusterSettings;
use proxyhealth_cluster::metrics::{LISTENER_CONNECTED, LIVE_REPLICAS};
use proxyhealth_core::Status;
use proxyhealth_engine::EngineOptions;
use proxyhealth_testkit::fake_proxy::json;
use proxyhealth_testkit::{FakeProxy, TestDatabase};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// The admin token every replica of a test shares.
const ADMIN: &str = "e2e-cluster-admin-token";
/// The interval of the test replicas.
pub(super) const INTERVAL: Duration = Duration::from_secs(1);
/// Their check timeout (a lease of 2 × 2 s + 5 s = 9 s).
pub(super) const TIMEOUT: Duration = Duration::from_secs(2);
/// What a healthy proxy answers.
const HEALTHY: &str = r#"{"errors":[],"warnings":[]}"#;
/// What a failing proxy answers (with a 500).
const BROKEN: &str = r#"{"message":"the proxy is broken"}"#;

/// The runtime's settings for an engine with this interval and timeout: the
/// lease, poll and batch the bounds are made of.
pub(super) fn runtime_settings(interval: Duration, timeout: Duration) -> ClusterSettings {
    ClusterSettings::for_engine(&EngineOptions {
        interval,
        timeout,
        ..EngineOptions::default()
    })
}

/// How many checks one proxy gets in `window` when the cluster checks it
/// once per interval (`least..=most`): a proxy is due one interval (± 5 %)
/// after its result is written and is claimed at the next poll of any
/// replica, so checks are at least 0.95 × interval + batch apart and at most
/// interval + batch + poll.
pub(super) fn checks_in(window: Duration) -> (usize, usize) {
    let settings = runtime_settings(INTERVAL, TIMEOUT);
    let shortest = INTERVAL.mul_f64(0.95) + settings.batch;
    let longest = INTERVAL + settings.batch + settings.poll;
    let most = (window.as_secs_f64() / shortest.as_secs_f64()).floor() as usize + 1;
    let least = (window.as_secs_f64() / longest.as_secs_f64()).floor() as usize - 1;
    (least, most)
}

// ------------------------------------------------------------------ database

/// A fresh database on a PostgreSQL server, and a pool for the test's own
/// queries.
pub(super) struct TestDb {
    database: TestDatabase,
    pub(super) url: String,
}

impl TestDb {
    /// A database on the shared test server, or `None` (after a loud notice)
    /// when PostgreSQL tests are skipped; with `CI=true` a missing server fails.
    pub(super) async fn create() -> Option<TestDb> {
        Some(TestDb::from(TestDatabase::create().await?))
    }

    /// A database on the server at `server_url`.
    pub(super) async fn on(server_url: &str) -> TestDb {
        TestDb::from(TestDatabase::create_on(server_url).await)
    }

    /// The database itself (its name and server).
    pub(super) fn database(&self) -> &TestDatabase {
        &self.database
    }

    /// Gives back the database, for cleanups that need more than a drop.
    pub(super) fn into_database(self) -> TestDatabase {
        self.database
    }

    fn from(database: TestDatabase) -> TestDb {
        let url = database.url.clone();
        TestDb { database, url }
    }

    /// A small pool on the test database, for the test's own queries.
    pub(super) async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.url)
            .await
            .expect("connect to the test database")
    }

    /// Drops the database, disconnecting whoever still uses it.
    pub(super) async fn drop_db(self) {
        self.database.drop_db().await;
    }
}

/// A live lease: who holds which proxy, and for how much longer (seconds, on
/// the database's clock).
#[derive(Debug, Clone)]
pub(super) struct Lease {
    pub(super) pid: u32,
    pub(super) replica_id: Uuid,
    pub(super) proxy_id: Uuid,
    pub(super) left: f64,
}

pub(super) async fn live_leases(pool: &PgPool) -> Vec<Lease> {
    let rows: Vec<(i64, Uuid, Uuid, f64)> = sqlx::query_as(
        "SELECT r.pid, r.id, c.proxy_id, \
                extract(epoch FROM c.lease_until - now())::float8 \
         FROM proxyhealth_checks c JOIN proxyhealth_replicas r ON r.id = c.lease_owner \
         WHERE c.lease_until > now() ORDER BY c.lease_until",
    )
    .fetch_all(pool)
    .await
    .expect("read the leases");
    rows.into_iter()
        .map(|(pid, replica_id, proxy_id, left)| Lease {
            pid: u32::try_from(pid).expect("a pid"),
            replica_id,
            proxy_id,
            left,
        })
        .collect()
}

/// Each proxy's newest stored result: its status, who wrote it and its
/// generation.
pub(super) async fn stored_results(pool: &PgPool) -> BTreeMap<Uuid, (String, Uuid, i64)> {
    let rows: Vec<(Uuid, String, Uuid, i64)> = sqlx::query_as(
        "SELECT proxy_id, status, checked_by, generation FROM proxyhealth_checks \
         WHERE status IS NOT NULL",
    )
    .fetch_all(pool)
    .await
    .expect("read the stored results");
    rows.into_iter()
        .map(|(id, status, by, generation)| (id, (status, by, generation)))
        .collect()
}

/// Seconds since each proxy's newest stored result was written, on the
/// database's clock.
pub(super) async fn result_ages(pool: &PgPool) -> BTreeMap<Uuid, f64> {
    let rows: Vec<(Uuid, f64)> = sqlx::query_as(
        "SELECT proxy_id, extract(epoch FROM now() - checked_at)::float8 \
         FROM proxyhealth_checks WHERE checked_at IS NOT NULL",
    )
    .fetch_all(pool)
    .await
    .expect("read the result ages");
    rows.into_iter().collect()
}

/// What each replica last saw of a proxy: (replica, status, message).
pub(super) async fn observations(pool: &PgPool, proxy: Uuid) -> Vec<(Uuid, String, String)> {
    sqlx::query_as(
        "SELECT replica_id, status, message FROM proxyhealth_observations \
         WHERE proxy_id = $1 ORDER BY replica_id",
    )
    .bind(proxy)
    .fetch_all(pool)
    .await
    .expect("read the observations")
}

// -------------------------------------------------------------------- fleet

/// A fake proxy created and registered through the first replica: it counts
/// its requests, answers after `delay`, and fails (500) while told to. The
/// answer is decided when a request arrives, so a request in flight keeps
/// the answer it had.
pub(super) struct Fake {
    pub(super) name: String,
    pub(super) id: Uuid,
    proxy: FakeProxy,
    failing: Arc<AtomicBool>,
    pub(super) in_flight: Arc<AtomicUsize>,
    /// When each request arrived.
    arrivals: Arc<std::sync::Mutex<Vec<Instant>>>,
}

/// Decrements a counter when dropped (a request whose client left too).
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Fake {
    pub(super) async fn create(replica: &Replica, name: &str, delay: Duration) -> Fake {
        let failing = Arc::new(AtomicBool::new(false));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let arrivals = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (f, i, a) = (
            Arc::clone(&failing),
            Arc::clone(&in_flight),
            Arc::clone(&arrivals),
        );
        let proxy = FakeProxy::start(move |_| {
            a.lock().expect("not poisoned").push(Instant::now());
            let failing = f.load(Ordering::SeqCst);
            i.fetch_add(1, Ordering::SeqCst);
            let guard = InFlight(Arc::clone(&i));
            async move {
                tokio::time::sleep(delay).await;
                drop(guard);
                if failing {
                    json(500, BROKEN)
                } else {
                    json(200, HEALTHY)
                }
            }
        })
        .await;
        let api = replica.api();
        let created = api
            .create_proxy(&CreateProxyRequest {
                name: name.to_owned(),
                display_name: name.to_owned(),
                icon: String::new(),
            })
            .await
            .unwrap_or_else(|err| panic!("create {name}: {err}"));
        let token = created.value.proxy_token;
        let registered = api
            .register(
                &token,
                &proxyhealth_testkit::api::registration(&proxy.url, "e2e"),
            )
            .await
            .unwrap_or_else(|err| panic!("register {name}: {err}"));
        assert_eq!(registered.status, 201, "register {name}");
        Fake {
            name: name.to_owned(),
            id: created.value.proxy.region.id,
            proxy,
            failing,
            in_flight,
            arrivals,
        }
    }

    /// When the requests between `from` and `to` arrived.
    pub(super) fn requests(&self, from: Instant, to: Instant) -> Vec<Instant> {
        let arrivals = self.arrivals.lock().expect("not poisoned");
        arrivals
            .iter()
            .copied()
            .filter(|at| (from..to).contains(at))
            .collect()
    }

    pub(super) fn hits(&self) -> usize {
        self.proxy.hits()
    }

    pub(super) fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

pub(super) async fn fleet(replica: &Replica, names: &[&str], delay: Duration) -> Vec<Fake> {
    let mut fakes = Vec::with_capacity(names.len());
    for name in names {
        fakes.push(Fake::create(replica, name, delay).await);
    }
    fakes
}

pub(super) fn hits(fakes: &[Fake]) -> Vec<usize> {
    fakes.iter().map(Fake::hits).collect()
}

// ----------------------------------------------------------------- replicas

/// One `proxyhealth serve` on the test database; killed when dropped.
pub(super) struct Replica {
    server: Server,
    pub(super) label: &'static str,
}

impl Replica {
    /// Starts a replica with the test's interval and `timeout`.
    pub(super) async fn start(label: &'static str, db: &TestDb, timeout: Duration) -> Replica {
        Replica::start_with(label, db, INTERVAL, timeout).await
    }

    pub(super) async fn start_with(
        label: &'static str,
        db: &TestDb,
        interval: Duration,
        timeout: Duration,
    ) -> Replica {
        Replica::start_on(label, &db.url, interval, timeout, &[]).await
    }

    /// Starts a replica with `extra` flags too (notification targets, say).
    pub(super) async fn start_with_flags(
        label: &'static str,
        db: &TestDb,
        interval: Duration,
        timeout: Duration,
        extra: &[&str],
    ) -> Replica {
        Replica::start_on(label, &db.url, interval, timeout, extra).await
    }

    /// Starts a replica on the database at `url` with `extra` arguments.
    pub(super) async fn start_on(
        label: &'static str,
        url: &str,
        interval: Duration,
        timeout: Duration,
        extra: &[&str],
    ) -> Replica {
        let url = url.to_owned();
        let interval = humantime::format_duration(interval).to_string();
        let timeout = humantime::format_duration(timeout).to_string();
        let extra: Vec<String> = extra.iter().map(|arg| (*arg).to_owned()).collect();
        let mut server = tokio::task::spawn_blocking(move || {
            let mut args = vec![
                "--interval",
                &interval,
                "--timeout",
                &timeout,
                "--admin-token",
                ADMIN,
            ];
            args.extend(extra.iter().map(String::as_str));
            Server::start_on(&url, &args)
        })
        .await
        .expect("start a replica");
        server.token = ADMIN.to_owned();
        Replica { server, label }
    }

    pub(super) fn pid(&self) -> u32 {
        self.server.program.pid()
    }

    /// `http://127.0.0.1:PORT`: where an agent reaches this replica.
    pub(super) fn url(&self) -> &str {
        &self.server.url
    }

    pub(super) fn api(&self) -> ApiClient {
        self.server.api()
    }

    /// Each proxy's status in this replica's proxy list, by name.
    pub(super) async fn statuses(&self) -> BTreeMap<String, Status> {
        let list = self
            .api()
            .list_proxies()
            .await
            .unwrap_or_else(|err| panic!("{}: list the proxies: {err}", self.label));
        list.value
            .regions
            .into_iter()
            .map(|proxy| (proxy.region.name, proxy.status.status))
            .collect()
    }

    /// `/api/v2/regions` as this replica answers it, ordered by name.
    pub(super) async fn regions(&self) -> Value {
        let answer = self
            .api()
            .regions()
            .await
            .unwrap_or_else(|err| panic!("{}: regions: {err}", self.label));
        let mut regions = answer.raw().expect("regions JSON");
        if let Some(list) = regions["regions"].as_array_mut() {
            list.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        }
        regions
    }

    pub(super) async fn get(&self, path: &str) -> (u16, String) {
        let response = proxyhealth_api::http::client()
            .get(format!("{}{path}", self.server.url))
            .bearer_auth(ADMIN)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap_or_else(|err| panic!("{}: GET {path}: {err}", self.label));
        let status = response.status().as_u16();
        (status, response.text().await.expect("a body"))
    }

    /// POSTs `body` to `path` with the admin token: the status and the body.
    pub(super) async fn post(&self, path: &str, body: &Value) -> (u16, String) {
        let response = proxyhealth_api::http::client()
            .post(format!("{}{path}", self.server.url))
            .bearer_auth(ADMIN)
            .json(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap_or_else(|err| panic!("{}: POST {path}: {err}", self.label));
        let status = response.status().as_u16();
        (status, response.text().await.expect("a body"))
    }

    async fn metrics(&self) -> String {
        self.get("/metrics").await.1
    }

    /// The value of an unlabelled metric (0 when it is not exported).
    pub(super) async fn metric(&self, name: &str) -> f64 {
        metric_value(&self.metrics().await, name)
    }

    /// `coderd_proxyhealth_health_check_results`, by proxy id.
    pub(super) async fn gauges(&self) -> BTreeMap<String, f64> {
        let prefix = "coderd_proxyhealth_health_check_results{proxy_id=\"";
        self.metrics()
            .await
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix(prefix)?;
                let (id, value) = rest.split_once("\"} ")?;
                Some((id.to_owned(), value.trim().parse().ok()?))
            })
            .collect()
    }

    pub(super) async fn healthz(&self) -> (u16, Value) {
        let (status, body) = self.get("/healthz").await;
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    pub(super) fn signal(&self, signal: &str) {
        self.server.program.signal(signal);
    }

    pub(super) fn log(&self) -> String {
        self.server.log_text()
    }
}

fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let (key, value) = line.split_once(' ')?;
            (key == name).then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0.0)
}

/// Starts `n` replicas (named a, b, c, …) with `timeout`.
pub(super) async fn replicas(db: &TestDb, n: usize, timeout: Duration) -> Vec<Replica> {
    const LABELS: [&str; 3] = ["a", "b", "c"];
    let mut out = Vec::with_capacity(n);
    for label in LABELS.into_iter().take(n) {
        out.push(Replica::start(label, db, timeout).await);
    }
    out
}

/// [`proxyhealth_testkit::eventually`], also saying how long it took (the
/// bounds docs/replicas.md states are what these tests compare).
pub(super) async fn eventually<T>(
    bound: Duration,
    what: &str,
    check: impl AsyncFnMut() -> Result<T, String>,
) -> (T, Duration) {
    let started = Instant::now();
    let value = proxyhealth_testkit::eventually(bound, what, check).await;
    (value, started.elapsed())
}

/// Every replica shows every proxy with the status `expected` gives it.
pub(super) async fn views_show(
    replicas: &[&Replica],
    fakes: &[Fake],
    expected: impl Fn(&Fake) -> Status,
    bound: Duration,
    what: &str,
) -> Duration {
    let want: BTreeMap<String, Status> = fakes
        .iter()
        .map(|fake| (fake.name.clone(), expected(fake)))
        .collect();
    eventually(bound, what, || async {
        for replica in replicas {
            let seen = replica.statuses().await;
            if seen != want {
                return Err(format!("{} shows {seen:?}, want {want:?}", replica.label));
            }
        }
        Ok(())
    })
    .await
    .1
}

/// Every replica counts `n` live replicas.
pub(super) async fn all_live(replicas: &[&Replica], n: usize, bound: Duration) {
    eventually(bound, "the replicas count each other live", || async {
        for replica in replicas {
            let live = replica.metric(LIVE_REPLICAS).await;
            if live != n as f64 {
                return Err(format!("{} counts {live} live", replica.label));
            }
        }
        Ok(())
    })
    .await;
}

pub(super) fn all_ok(_: &Fake) -> Status {
    Status::Ok
}

/// Waits until every replica shows every proxy `ok` (within `bound`) and
/// counts every replica live (within 10 s): where each scenario starts from.
pub(super) async fn settled(replicas: &[&Replica], fakes: &[Fake], bound: Duration) {
    views_show(replicas, fakes, all_ok, bound, "all proxies ok everywhere").await;
    all_live(replicas, replicas.len(), Duration::from_secs(10)).await;
}

/// Collects the replicas' logs for a failure message.
pub(super) fn logs(replicas: &[&Replica]) -> String {
    replicas
        .iter()
        .map(|r| format!("--- replica {} (pid {}):\n{}", r.label, r.pid(), r.log()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Kills the sessions of `db` whose last statement matches `like`; returns how many.
pub(super) async fn terminate(pool: &PgPool, like: &str) -> usize {
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE $1",
    )
    .bind(like)
    .fetch_all(pool)
    .await
    .expect("terminate sessions");
    killed.into_iter().filter(|k| *k).count()
}

/// Every replica answers `/healthz` 200 `ok` and has its listener connected.
pub(super) async fn all_healthy(replicas: &[&Replica], bound: Duration, what: &str) -> Duration {
    eventually(bound, what, || async {
        for replica in replicas {
            let (status, body) = replica.healthz().await;
            if status != 200 {
                return Err(format!("{}: {status} {body}", replica.label));
            }
            if replica.metric(LISTENER_CONNECTED).await != 1.0 {
                return Err(format!("{}: listener not connected", replica.label));
            }
        }
        Ok(())
    })
    .await
    .1
}

/// The shortest time between two of each proxy's requests (`none` when it
/// had fewer than two).
pub(super) fn shortest_gaps(requests: &[Vec<Instant>], none: Duration) -> Vec<Duration> {
    requests
        .iter()
        .map(|times| {
            times
                .windows(2)
                .map(|pair| pair[1] - pair[0])
                .min()
                .unwrap_or(none)
        })
        .collect()
}

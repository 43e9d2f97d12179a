//! Several `proxyhealth serve` replicas on one PostgreSQL (issue 13): real
//! processes, each test on a database of its own on the server `scripts/test`
//! starts (`PROXYHEALTH_TEST_PG_URL`; the restart test starts a server of its
//! own), a fleet of fake proxies on loopback that count the requests they get,
//! a 1 s interval. Each test is one behaviour, with the numbers it saw printed
//! (`--nocapture`) and asserted against the bounds of docs/replicas.md, which
//! are read from the runtime's own settings ([`ClusterSettings`]).

use crate::support::Server;
use proxyhealth_api::ApiClient;
use proxyhealth_api::wire::CreateProxyRequest;
use proxyhealth_cluster::ClusterSettings;
use proxyhealth_cluster::metrics::{
    CLAIMS, LISTENER_CONNECTED, LISTENER_RECONNECTS, LIVE_REPLICAS, REJECTED, SECOND_OPINIONS,
    TAKEOVERS,
};
use proxyhealth_core::Status;
use proxyhealth_engine::EngineOptions;
use proxyhealth_testkit::FakeProxy;
use proxyhealth_testkit::fake_proxy::json;
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// The admin token every replica of a test shares.
const ADMIN: &str = "e2e-cluster-admin-token";
/// The interval of the test replicas.
const INTERVAL: Duration = Duration::from_secs(1);
/// Their check timeout (a lease of 2 × 2 s + 5 s = 9 s).
const TIMEOUT: Duration = Duration::from_secs(2);
/// What a healthy proxy answers.
const HEALTHY: &str = r#"{"errors":[],"warnings":[]}"#;
/// What a failing proxy answers (with a 500).
const BROKEN: &str = r#"{"message":"the proxy is broken"}"#;
/// The env var naming the shared test server.
const PG_URL_ENV: &str = "PROXYHEALTH_TEST_PG_URL";

/// The runtime's settings for an engine with this interval and timeout: the
/// lease, poll and batch the bounds are made of.
fn runtime_settings(interval: Duration, timeout: Duration) -> ClusterSettings {
    ClusterSettings::for_engine(&EngineOptions {
        interval,
        timeout,
        ..EngineOptions::default()
    })
}

// ------------------------------------------------------------------ database

/// A fresh database `e2e_<random>` on a PostgreSQL server.
struct TestDb {
    server_url: String,
    name: String,
    url: String,
}

impl TestDb {
    /// A database on the shared test server, or `None` (after a loud notice)
    /// when PostgreSQL tests are skipped; with `CI=true` a missing server fails.
    async fn create() -> Option<TestDb> {
        match std::env::var(PG_URL_ENV) {
            Ok(url) if !url.is_empty() => Some(TestDb::on(&url).await),
            _ if proxyhealth_testkit::in_ci() => panic!(
                "{PG_URL_ENV} is not set and CI=true: the replicas' end-to-end tests must run in \
                 CI (start a server with scripts/lib/postgres.sh: pg_start)"
            ),
            _ => {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "!!! skipped: {PG_URL_ENV} not set (the replicas' end-to-end test did not run) !!!"
                );
                None
            }
        }
    }

    /// A database on the server at `server_url`.
    async fn on(server_url: &str) -> TestDb {
        let name = format!("e2e_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(server_url)
            .await
            .expect("connect to the test server");
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        let mut url = url::Url::parse(server_url).expect("test server URL");
        url.set_path(&format!("/{name}"));
        TestDb {
            server_url: server_url.to_owned(),
            name,
            url: url.to_string(),
        }
    }

    /// A small pool on the test database, for the test's own queries.
    async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.url)
            .await
            .expect("connect to the test database")
    }

    /// Drops the database, disconnecting whoever still uses it.
    async fn drop_db(self) {
        if let Ok(mut admin) = PgConnection::connect(&self.server_url).await {
            let _ = sqlx::query(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut admin)
            .await;
            let _ = admin.close().await;
        }
    }
}

/// A live lease: who holds which proxy, and for how much longer (seconds, on
/// the database's clock).
#[derive(Debug, Clone)]
struct Lease {
    pid: u32,
    replica_id: Uuid,
    proxy_id: Uuid,
    left: f64,
}

async fn live_leases(pool: &PgPool) -> Vec<Lease> {
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
async fn stored_results(pool: &PgPool) -> BTreeMap<Uuid, (String, Uuid, i64)> {
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
async fn result_ages(pool: &PgPool) -> BTreeMap<Uuid, f64> {
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
async fn observations(pool: &PgPool, proxy: Uuid) -> Vec<(Uuid, String, String)> {
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
struct Fake {
    name: String,
    id: Uuid,
    proxy: FakeProxy,
    failing: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
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
    async fn create(replica: &Replica, name: &str, delay: Duration) -> Fake {
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
    fn requests(&self, from: Instant, to: Instant) -> Vec<Instant> {
        let arrivals = self.arrivals.lock().expect("not poisoned");
        arrivals
            .iter()
            .copied()
            .filter(|at| (from..to).contains(at))
            .collect()
    }

    fn hits(&self) -> usize {
        self.proxy.hits()
    }

    fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

async fn fleet(replica: &Replica, names: &[&str], delay: Duration) -> Vec<Fake> {
    let mut fakes = Vec::with_capacity(names.len());
    for name in names {
        fakes.push(Fake::create(replica, name, delay).await);
    }
    fakes
}

fn hits(fakes: &[Fake]) -> Vec<usize> {
    fakes.iter().map(Fake::hits).collect()
}

// ----------------------------------------------------------------- replicas

/// One `proxyhealth serve` on the test database; killed when dropped.
struct Replica {
    server: Server,
    label: &'static str,
}

impl Replica {
    /// Starts a replica with the test's interval and `timeout`.
    async fn start(label: &'static str, db: &TestDb, timeout: Duration) -> Replica {
        Replica::start_with(label, db, INTERVAL, timeout).await
    }

    async fn start_with(
        label: &'static str,
        db: &TestDb,
        interval: Duration,
        timeout: Duration,
    ) -> Replica {
        let url = db.url.clone();
        let interval = humantime::format_duration(interval).to_string();
        let timeout = humantime::format_duration(timeout).to_string();
        let mut server = tokio::task::spawn_blocking(move || {
            Server::start_on(
                &url,
                &[
                    "--interval",
                    &interval,
                    "--timeout",
                    &timeout,
                    "--admin-token",
                    ADMIN,
                ],
            )
        })
        .await
        .expect("start a replica");
        server.token = ADMIN.to_owned();
        Replica { server, label }
    }

    fn pid(&self) -> u32 {
        self.server.child.id()
    }

    fn api(&self) -> ApiClient {
        self.server.api()
    }

    /// Each proxy's status in this replica's proxy list, by name.
    async fn statuses(&self) -> BTreeMap<String, Status> {
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
    async fn regions(&self) -> Value {
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

    async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.server.url))
            .bearer_auth(ADMIN)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap_or_else(|err| panic!("{}: GET {path}: {err}", self.label));
        let status = response.status().as_u16();
        (status, response.text().await.expect("a body"))
    }

    async fn metrics(&self) -> String {
        self.get("/metrics").await.1
    }

    /// The value of an unlabelled metric (0 when it is not exported).
    async fn metric(&self, name: &str) -> f64 {
        metric_value(&self.metrics().await, name)
    }

    /// `coderd_proxyhealth_health_check_results`, by proxy id.
    async fn gauges(&self) -> BTreeMap<String, f64> {
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

    async fn healthz(&self) -> (u16, Value) {
        let (status, body) = self.get("/healthz").await;
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    fn signal(&self, signal: &str) {
        let sent = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} {}", self.label);
    }

    fn log(&self) -> String {
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
async fn replicas(db: &TestDb, n: usize, timeout: Duration) -> Vec<Replica> {
    const LABELS: [&str; 3] = ["a", "b", "c"];
    let mut out = Vec::with_capacity(n);
    for label in LABELS.into_iter().take(n) {
        out.push(Replica::start(label, db, timeout).await);
    }
    out
}

/// Polls `check` every 50 ms until it gives `Ok`, or panics after `bound`
/// with what it said last. Returns the value and how long it took.
async fn eventually<T, F, Fut>(bound: Duration, what: &str, mut check: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        match check().await {
            Ok(value) => return (value, started.elapsed()),
            Err(why) if started.elapsed() > bound => {
                panic!("{what}: not within {bound:?}; last: {why}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Every replica shows every proxy with the status `expected` gives it.
async fn views_show(
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
async fn all_live(replicas: &[&Replica], n: usize, bound: Duration) {
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

fn all_ok(_: &Fake) -> Status {
    Status::Ok
}

/// Collects the replicas' logs for a failure message.
fn logs(replicas: &[&Replica]) -> String {
    replicas
        .iter()
        .map(|r| format!("--- replica {} (pid {}):\n{}", r.label, r.pid(), r.log()))
        .collect::<Vec<_>>()
        .join("\n")
}

// -------------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_proxy_is_checked_about_once_per_interval_with_one_two_or_three_replicas() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    const WINDOW: u32 = 10;
    let settings = runtime_settings(INTERVAL, TIMEOUT);
    let window = INTERVAL * WINDOW;
    // A proxy is due one interval (± 5 %) after its result is written and is
    // claimed at the next poll of any replica: checks are at least
    // 0.95 × interval + batch apart and at most interval + batch + poll.
    let shortest = INTERVAL.mul_f64(0.95) + settings.batch;
    let longest = INTERVAL + settings.batch + settings.poll;
    let most = (window.as_secs_f64() / shortest.as_secs_f64()).floor() as usize + 1;
    let least = (window.as_secs_f64() / longest.as_secs_f64()).floor() as usize - 1;
    let names = ["p0", "p1", "p2", "p3", "p4", "p5"];
    let mut running = vec![Replica::start("a", &db, TIMEOUT).await];
    let fakes = fleet(&running[0], &names, Duration::ZERO).await;
    views_show(
        &[&running[0]],
        &fakes,
        all_ok,
        Duration::from_secs(10),
        "the first replica shows every proxy ok",
    )
    .await;
    for n in 1..=3_usize {
        if n > 1 {
            running.push(Replica::start(["a", "b", "c"][n - 1], &db, TIMEOUT).await);
            let all: Vec<&Replica> = running.iter().collect();
            all_live(&all, n, Duration::from_secs(10)).await;
        }
        // one interval for the newcomer's first claims to settle
        tokio::time::sleep(INTERVAL).await;
        let mut claims_before = Vec::new();
        for replica in &running {
            claims_before.push(replica.metric(CLAIMS).await);
        }
        let from = Instant::now();
        tokio::time::sleep(window).await;
        let to = Instant::now();
        let mut claims = Vec::new();
        for (replica, before) in running.iter().zip(&claims_before) {
            claims.push(replica.metric(CLAIMS).await - before);
        }
        let requests: Vec<Vec<Instant>> = fakes.iter().map(|f| f.requests(from, to)).collect();
        let checks: Vec<usize> = requests.iter().map(Vec::len).collect();
        // the shortest time between two checks of one proxy
        let gaps: Vec<Duration> = requests
            .iter()
            .map(|times| {
                times
                    .windows(2)
                    .map(|pair| pair[1] - pair[0])
                    .min()
                    .unwrap_or(window)
            })
            .collect();
        eprintln!(
            "{n} replica(s): checks per proxy in {WINDOW} intervals: {checks:?} (want \
             {least}..={most}); shortest gap per proxy: {gaps:?}; claims per replica: {claims:?}"
        );
        for ((fake, count), gap) in fakes.iter().zip(&checks).zip(&gaps) {
            assert!(
                (least..=most).contains(count),
                "{n} replica(s): {} was checked {count} times in {WINDOW} intervals \
                 (want {least}..={most}); all: {checks:?}",
                fake.name
            );
            assert!(
                *gap >= INTERVAL.mul_f64(0.9),
                "{n} replica(s): {} was checked twice within {gap:?}: {:?}",
                fake.name,
                requests
            );
        }
        let total: usize = checks.iter().sum();
        let total_claims: f64 = claims.iter().sum();
        assert!(
            (total_claims - total as f64).abs() <= fakes.len() as f64,
            "{n} replica(s): {total_claims} claims for {total} checks"
        );
    }
    drop(running);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_serve_the_same_statuses_and_gauges_after_a_change() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let running = replicas(&db, 3, TIMEOUT).await;
    let all: Vec<&Replica> = running.iter().collect();
    let fakes = fleet(
        &running[0],
        &["east", "west", "north", "south"],
        Duration::ZERO,
    )
    .await;
    views_show(
        &all,
        &fakes,
        all_ok,
        Duration::from_secs(10),
        "all proxies ok everywhere",
    )
    .await;
    all_live(&all, 3, Duration::from_secs(10)).await;

    let changed = &fakes[1];
    changed.fail(true);
    let started = Instant::now();
    // the first replica to show the failure, then how long until all do
    let first: std::sync::Mutex<Option<Duration>> = std::sync::Mutex::new(None);
    let (_, took) = eventually(
        Duration::from_secs(15),
        "all replicas show west unhealthy",
        || {
            let first = &first;
            let all = &all;
            async move {
                let mut showing = 0;
                for replica in all {
                    if replica.statuses().await.get("west") == Some(&Status::Unhealthy) {
                        showing += 1;
                    }
                }
                if showing > 0 {
                    let mut first = first.lock().expect("not poisoned");
                    first.get_or_insert(started.elapsed());
                }
                if showing == all.len() {
                    Ok(())
                } else {
                    Err(format!("{showing} of {} show it", all.len()))
                }
            }
        },
    )
    .await;
    let first = first.into_inner().expect("not poisoned").unwrap_or(took);
    let spread = took.saturating_sub(first);
    eprintln!(
        "a failure shown by the first replica after {first:?}, by all three after {took:?} \
         (spread {spread:?})"
    );
    assert!(
        spread <= Duration::from_secs(2),
        "the replicas showed the failure {spread:?} apart\n{}",
        logs(&all)
    );

    // the same regions, statuses and gauges everywhere
    let (expected_regions, expected_statuses, expected_gauges) = (
        running[0].regions().await,
        running[0].statuses().await,
        running[0].gauges().await,
    );
    assert_eq!(expected_statuses.get("west"), Some(&Status::Unhealthy));
    assert_eq!(
        expected_statuses
            .values()
            .filter(|s| **s == Status::Ok)
            .count(),
        3,
        "{expected_statuses:?}"
    );
    let west_region = expected_regions["regions"]
        .as_array()
        .and_then(|list| list.iter().find(|r| r["name"] == "west"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(west_region["healthy"], false, "{expected_regions}");
    assert_eq!(
        expected_gauges.get(&changed.id.to_string()),
        Some(&(Status::Unhealthy.gauge_value() as f64)),
        "{expected_gauges:?}"
    );
    assert_eq!(expected_gauges.len(), 4, "{expected_gauges:?}");
    for replica in &running[1..] {
        assert_eq!(
            replica.regions().await,
            expected_regions,
            "{}'s /regions",
            replica.label
        );
        assert_eq!(
            replica.statuses().await,
            expected_statuses,
            "{}'s statuses",
            replica.label
        );
        assert_eq!(
            replica.gauges().await,
            expected_gauges,
            "{}'s gauges",
            replica.label
        );
    }
    drop(running);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replicas_proxies_are_checked_again_within_the_take_over_bound() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let settings = runtime_settings(INTERVAL, TIMEOUT);
    // the documented bound: the lease runs out, the next poll claims, the
    // check runs to its timeout, the batch is written; plus one interval for
    // a proxy that was not due yet
    let bound = settings.takeover_bound(TIMEOUT) + INTERVAL;
    let running = replicas(&db, 3, TIMEOUT).await;
    let all: Vec<&Replica> = running.iter().collect();
    // a check takes half a second, so every replica holds leases most of the time
    let names = ["k0", "k1", "k2", "k3", "k4", "k5"];
    let fakes = fleet(&running[0], &names, Duration::from_millis(500)).await;
    views_show(
        &all,
        &fakes,
        all_ok,
        Duration::from_secs(15),
        "all proxies ok everywhere",
    )
    .await;
    all_live(&all, 3, Duration::from_secs(10)).await;

    // pick a replica holding leases: pause it, read its leases (so none is
    // written in between), then kill it
    let pool = db.pool().await;
    let (victim, orphans) = eventually(Duration::from_secs(20), "a replica holding leases", || {
        let pool = &pool;
        let running = &running;
        async move {
            let leases = live_leases(pool).await;
            let Some(holder) = leases
                .iter()
                .find_map(|l| running.iter().position(|r| r.pid() == l.pid))
            else {
                return Err(format!("no lease held: {leases:?}"));
            };
            running[holder].signal("STOP");
            let held: Vec<Lease> = live_leases(pool)
                .await
                .into_iter()
                .filter(|l| l.pid == running[holder].pid())
                .collect();
            if held.is_empty() {
                running[holder].signal("CONT");
                return Err("its leases were written before the pause".to_owned());
            }
            running[holder].signal("KILL");
            Ok((holder, held))
        }
    })
    .await
    .0;
    let killed_at = Instant::now();
    let before = hits(&fakes);
    let survivors: Vec<&Replica> = running
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != victim)
        .map(|(_, r)| r)
        .collect();
    let mut takeovers_before = 0.0;
    for replica in &survivors {
        takeovers_before += replica.metric(TAKEOVERS).await;
    }

    // every proxy: when it is requested again, and when a new result is stored
    let mut requested: BTreeMap<Uuid, Duration> = BTreeMap::new();
    let mut stored: BTreeMap<Uuid, Duration> = BTreeMap::new();
    let deadline = bound + Duration::from_secs(10);
    while stored.len() < fakes.len() && killed_at.elapsed() < deadline {
        let now = killed_at.elapsed();
        for (fake, before) in fakes.iter().zip(&before) {
            if fake.hits() > *before {
                requested.entry(fake.id).or_insert(now);
            }
        }
        for (id, age) in result_ages(&pool).await {
            if age < now.as_secs_f64() {
                stored.entry(id).or_insert(now);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let slowest = stored.values().max().copied().unwrap_or(deadline);
    eprintln!(
        "killed replica {} holding {} lease(s) ({:?} s left); requested again after {:?}; \
         stored again after {:?}; slowest {slowest:?}, bound {bound:?}",
        running[victim].label,
        orphans.len(),
        orphans.iter().map(|l| l.left).collect::<Vec<_>>(),
        requested,
        stored
    );
    assert_eq!(
        stored.len(),
        fakes.len(),
        "not every proxy was checked again within {deadline:?}: {stored:?}\n{}",
        logs(&survivors)
    );
    assert!(
        slowest <= bound,
        "a proxy was checked again only after {slowest:?}, beyond the documented {bound:?}: {stored:?}"
    );
    // the dead replica's leases were honoured until they ran out, then taken over
    for lease in &orphans {
        let again = requested.get(&lease.proxy_id).copied().unwrap_or(deadline);
        assert!(
            again.as_secs_f64() >= lease.left - 0.3,
            "proxy {} was claimed again after {again:?}, before its lease ran out ({} s)",
            lease.proxy_id,
            lease.left
        );
    }
    let orphaned = orphans.len() as f64;
    let (takeovers, _) = eventually(Duration::from_secs(5), "the take-overs counted", || {
        let survivors = &survivors;
        async move {
            let mut sum = 0.0;
            for replica in survivors {
                sum += replica.metric(TAKEOVERS).await;
            }
            let counted = sum - takeovers_before;
            if counted >= orphaned {
                Ok(counted)
            } else {
                Err(format!("{counted} counted"))
            }
        }
    })
    .await;
    let live_bound = settings.live_window() + settings.heartbeat * 2;
    all_live(&survivors, 2, live_bound).await;
    eprintln!("take-overs counted: {takeovers}; the survivors count 2 live");
    drop(running);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_paused_past_its_lease_has_its_late_results_rejected_and_no_status_goes_back() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let settings = runtime_settings(INTERVAL, TIMEOUT);
    let running = replicas(&db, 3, TIMEOUT).await;
    let all: Vec<&Replica> = running.iter().collect();
    // a check of "slow" takes 1.5 s (within the 2 s timeout): a replica that
    // claimed it is caught holding its lease
    let slow = Fake::create(&running[0], "slow", Duration::from_millis(1500)).await;
    let quick = Fake::create(&running[0], "quick", Duration::ZERO).await;
    let fakes = [slow, quick];
    views_show(
        &all,
        &fakes,
        all_ok,
        Duration::from_secs(15),
        "all proxies ok everywhere",
    )
    .await;
    all_live(&all, 3, Duration::from_secs(10)).await;
    let mut rejected_before = Vec::new();
    for replica in &running {
        rejected_before.push(replica.metric(REJECTED).await);
    }

    // pause the replica checking "slow" while its request is in flight
    let slow = &fakes[0];
    let pool = db.pool().await;
    let (paused, lease) = eventually(Duration::from_secs(20), "a replica checking slow", || {
        let pool = &pool;
        let running = &running;
        async move {
            let holder = live_leases(pool)
                .await
                .into_iter()
                .filter(|l| l.proxy_id == slow.id)
                .find_map(|l| running.iter().position(|r| r.pid() == l.pid));
            let Some(holder) = holder else {
                return Err("nobody holds slow's lease".to_owned());
            };
            if slow.in_flight.load(Ordering::SeqCst) == 0 {
                return Err("no request in flight".to_owned());
            }
            running[holder].signal("STOP");
            let lease = live_leases(pool)
                .await
                .into_iter()
                .find(|l| l.proxy_id == slow.id && l.pid == running[holder].pid());
            match lease {
                Some(lease) if slow.in_flight.load(Ordering::SeqCst) > 0 => Ok((holder, lease)),
                _ => {
                    running[holder].signal("CONT");
                    Err("its check ended before the pause".to_owned())
                }
            }
        }
    })
    .await
    .0;
    let paused_at = Instant::now();
    // from now on "slow" fails: the paused replica's late result says ok
    slow.fail(true);
    let others: Vec<&Replica> = running
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != paused)
        .map(|(_, r)| r)
        .collect();
    let expected = |fake: &Fake| {
        if fake.name == "slow" {
            Status::Unhealthy
        } else {
            Status::Ok
        }
    };
    let took = views_show(
        &others,
        &fakes,
        expected,
        settings.lease + Duration::from_secs(15),
        "the others take slow over and show it unhealthy",
    )
    .await;
    let stored = stored_results(&pool).await;
    let (status, by, generation) = stored[&slow.id].clone();
    assert_eq!(status, "unhealthy");
    assert_ne!(by, lease.replica_id, "the paused replica wrote nothing");
    // stay paused past the lease and the live window
    let past = settings.lease.max(settings.live_window()) + Duration::from_secs(1);
    tokio::time::sleep(past.saturating_sub(paused_at.elapsed())).await;
    let paused_for = paused_at.elapsed();
    running[paused].signal("CONT");
    let resumed_at = Instant::now();

    // its late result is rejected and counted; no status goes back to ok
    let mut rejected = 0.0;
    let mut caught_up: Option<Duration> = None;
    while resumed_at.elapsed() < Duration::from_secs(6) {
        for replica in &others {
            let seen = replica.statuses().await;
            assert_eq!(
                seen.get("slow"),
                Some(&Status::Unhealthy),
                "{} went back in time\n{}",
                replica.label,
                logs(&all)
            );
        }
        let resumed = &running[paused];
        let seen = resumed.statuses().await.get("slow").copied();
        if seen == Some(Status::Unhealthy) {
            caught_up.get_or_insert(resumed_at.elapsed());
        } else if caught_up.is_some() {
            panic!(
                "the resumed replica went back to {seen:?} after showing unhealthy\n{}",
                logs(&all)
            );
        }
        let (status, _, newest) = stored_results(&pool).await[&slow.id].clone();
        assert_eq!(status, "unhealthy", "the stored result went back in time");
        assert!(newest >= generation, "the stored generation went back");
        rejected = resumed.metric(REJECTED).await - rejected_before[paused];
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "paused replica {} for {paused_for:?} (lease {:?} left {:.1} s); the others showed slow \
         unhealthy after {took:?}; after the resume: {rejected} result(s) rejected, its view \
         caught up after {caught_up:?}",
        running[paused].label, settings.lease, lease.left
    );
    assert!(
        rejected >= 1.0,
        "the paused replica's late result was not counted as rejected\n{}",
        running[paused].log()
    );
    assert!(
        caught_up.is_some(),
        "the resumed replica never showed slow unhealthy"
    );
    drop(running);
    db.drop_db().await;
}

/// Kills the sessions of `db` whose last statement matches `like`; returns how many.
async fn terminate(pool: &PgPool, like: &str) -> usize {
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
async fn all_healthy(replicas: &[&Replica], bound: Duration, what: &str) -> Duration {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_whose_listener_sessions_are_killed_reconnect_and_converge() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let running = replicas(&db, 3, TIMEOUT).await;
    let all: Vec<&Replica> = running.iter().collect();
    let fakes = fleet(&running[0], &["l0", "l1", "l2"], Duration::ZERO).await;
    views_show(
        &all,
        &fakes,
        all_ok,
        Duration::from_secs(10),
        "all proxies ok everywhere",
    )
    .await;
    all_live(&all, 3, Duration::from_secs(10)).await;

    let pool = db.pool().await;
    let killed = terminate(&pool, "LISTEN%").await;
    assert_eq!(killed, 3, "one listener session per replica");
    let reconnected = eventually(
        Duration::from_secs(15),
        "every listener reconnected",
        || async {
            for replica in &all {
                let reconnects = replica.metric(LISTENER_RECONNECTS).await;
                if reconnects < 1.0 {
                    return Err(format!("{}: {reconnects} reconnects", replica.label));
                }
            }
            Ok(())
        },
    )
    .await
    .1;
    fakes[2].fail(true);
    let converged = views_show(
        &all,
        &fakes,
        |fake| {
            if fake.name == "l2" {
                Status::Unhealthy
            } else {
                Status::Ok
            }
        },
        Duration::from_secs(10),
        "every replica shows l2 unhealthy",
    )
    .await;
    let healthy = all_healthy(&all, Duration::from_secs(5), "/healthz ok everywhere").await;
    let listening: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_one(&pool)
    .await
    .expect("count the listeners");
    eprintln!(
        "killed {killed} listener sessions: all reconnected within {reconnected:?}; a later \
         failure shown everywhere after {converged:?}; healthz ok after {healthy:?}; \
         {listening} listening again"
    );
    assert_eq!(listening, 3, "each replica listens again");
    drop(running);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_keep_serving_through_a_postgresql_restart_and_recover_without_a_restart() {
    let Some(pg) = proxyhealth_testkit::OwnPostgres::start() else {
        return;
    };
    let db = TestDb::on(&pg.url).await;
    let running = replicas(&db, 3, TIMEOUT).await;
    let all: Vec<&Replica> = running.iter().collect();
    let fakes = fleet(&running[0], &["r0", "r1", "r2"], Duration::ZERO).await;
    views_show(
        &all,
        &fakes,
        all_ok,
        Duration::from_secs(10),
        "all proxies ok everywhere",
    )
    .await;
    all_live(&all, 3, Duration::from_secs(10)).await;

    pg.stop();
    let stopped_at = Instant::now();
    let hits_at_stop = hits(&fakes);
    // each replica says its view is stale once it is older than two intervals
    let (_, degraded) = eventually(
        INTERVAL * 2 + Duration::from_secs(8),
        "every /healthz degraded with a stale view",
        || async {
            for replica in &all {
                let (status, body) = replica.healthz().await;
                if status != 503 || body["view"] != "stale" {
                    return Err(format!("{}: {status} {body}", replica.label));
                }
            }
            Ok(())
        },
    )
    .await;
    // ... and, once a read of the view failed, why
    let settings = runtime_settings(INTERVAL, TIMEOUT);
    let (body, failed) = eventually(
        settings.safety_read + Duration::from_secs(10),
        "every /healthz names the failed read",
        || async {
            let mut last = Value::Null;
            for replica in &all {
                let (status, body) = replica.healthz().await;
                let error = body["store_error"].as_str().unwrap_or_default();
                if status != 503 || !error.contains("reading the shared view") {
                    return Err(format!("{}: {status} {body}", replica.label));
                }
                last = body;
            }
            Ok(last)
        },
    )
    .await;
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["view"], "stale", "{body}");
    assert!(
        body["view_age_ms"].as_f64().unwrap_or(0.0) > (INTERVAL * 2).as_millis() as f64,
        "{body}"
    );
    // ... and keeps serving its last view
    for replica in &all {
        assert!(
            replica.statuses().await.values().all(|s| *s == Status::Ok),
            "{} keeps its last view",
            replica.label
        );
    }
    fakes[0].fail(true);
    let checks_while_down: Vec<usize> = hits(&fakes)
        .iter()
        .zip(&hits_at_stop)
        .map(|(a, b)| a - b)
        .collect();
    let down_for = stopped_at.elapsed();
    pg.start_again();
    let started_at = Instant::now();
    let healthy = all_healthy(
        &all,
        Duration::from_secs(30),
        "/healthz ok everywhere after the restart",
    )
    .await;
    let converged = views_show(
        &all,
        &fakes,
        |fake| {
            if fake.name == "r0" {
                Status::Unhealthy
            } else {
                Status::Ok
            }
        },
        Duration::from_secs(15),
        "every replica shows the failure after the restart",
    )
    .await
        + healthy;
    // no burst of duplicate probes: over the first intervals after the
    // restart, each proxy checked about once per interval, and a healthy one
    // never twice within an interval (the failing one is checked twice at
    // once: the second opinion)
    let window = INTERVAL * 5;
    tokio::time::sleep(window.saturating_sub(started_at.elapsed())).await;
    let shortest = INTERVAL.mul_f64(0.95) + settings.batch;
    let most = (window.as_secs_f64() / shortest.as_secs_f64()).floor() as usize + 2;
    let requests: Vec<Vec<Instant>> = fakes
        .iter()
        .map(|f| f.requests(started_at, started_at + window))
        .collect();
    let checks: Vec<usize> = requests.iter().map(Vec::len).collect();
    let gaps: Vec<Duration> = requests
        .iter()
        .map(|times| {
            times
                .windows(2)
                .map(|pair| pair[1] - pair[0])
                .min()
                .unwrap_or(window)
        })
        .collect();
    let mut reconnects = Vec::new();
    for replica in &all {
        reconnects.push(replica.metric(LISTENER_RECONNECTS).await);
    }
    eprintln!(
        "PostgreSQL down for {down_for:?}: every view stale after {degraded:?}, the failed read \
         named {failed:?} later ({body}), {checks_while_down:?} \
         checks while down; after the restart: healthz ok after {healthy:?}, the failure shown \
         everywhere after {converged:?}; checks per proxy in the first {window:?}: {checks:?} \
         (at most {most}), shortest gaps {gaps:?}; \
         listener reconnects: {reconnects:?}"
    );
    assert!(
        checks_while_down.iter().all(|c| *c <= 1),
        "no checks without the database: {checks_while_down:?}"
    );
    for ((fake, count), gap) in fakes.iter().zip(&checks).zip(&gaps) {
        assert!(
            *count <= most,
            "{} was checked {count} times in the {window:?} after the restart (at most {most})",
            fake.name
        );
        assert!(
            fake.name == "r0" || *gap >= INTERVAL.mul_f64(0.9),
            "{} was checked twice within {gap:?} after the restart",
            fake.name
        );
    }
    assert!(
        reconnects.iter().all(|r| *r >= 1.0),
        "every listener reconnected: {reconnects:?}"
    );
    drop(running);
    db.drop_db().await;
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_failing_for_one_replica_only_stays_ok_and_the_disagreement_is_shown() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    // "far" answers after 1.2 s: within the 4 s timeout of a and b, beyond the
    // 0.5 s timeout of c, so it fails for c only (a slow path from one replica).
    // A 2 s interval keeps the observations within the report's window
    // (2 intervals) of each other.
    let interval = Duration::from_secs(2);
    let a = Replica::start_with("a", &db, interval, Duration::from_secs(4)).await;
    let far = Fake::create(&a, "far", Duration::from_millis(1200)).await;
    let near = Fake::create(&a, "near", Duration::ZERO).await;
    let fakes = [far, near];
    views_show(
        &[&a],
        &fakes,
        all_ok,
        Duration::from_secs(10),
        "far ok on a",
    )
    .await;
    let b = Replica::start_with("b", &db, interval, Duration::from_secs(4)).await;
    let c = Replica::start_with("c", &db, interval, Duration::from_millis(500)).await;
    let all = [&a, &b, &c];
    all_live(&all, 3, Duration::from_secs(10)).await;
    let far = &fakes[0];

    // until c has checked far and handed its failure on (at least once),
    // every replica keeps showing far ok
    let started = Instant::now();
    let mut second_opinions = 0.0;
    while second_opinions < 1.0 || started.elapsed() < interval * 3 {
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "c never checked far (claims: a {}, b {}, c {})",
            a.metric(CLAIMS).await,
            b.metric(CLAIMS).await,
            c.metric(CLAIMS).await
        );
        for replica in &all {
            assert_eq!(
                replica.statuses().await.get("far"),
                Some(&Status::Ok),
                "{} shows far failing\n{}",
                replica.label,
                logs(&all)
            );
        }
        second_opinions = c.metric(SECOND_OPINIONS).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pool = db.pool().await;
    let replica_ids: BTreeMap<u32, Uuid> = {
        let rows: Vec<(i64, Uuid)> =
            sqlx::query_as("SELECT pid, id FROM proxyhealth_replicas WHERE stopped_at IS NULL")
                .fetch_all(&pool)
                .await
                .expect("the replicas");
        rows.into_iter()
            .map(|(pid, id)| (u32::try_from(pid).expect("a pid"), id))
            .collect()
    };
    let c_id = replica_ids[&c.pid()];
    // the disagreement: c saw it unreachable, another replica ok
    let (seen, _) = eventually(
        interval * 4,
        "c's and another replica's observations of far disagree",
        || {
            let pool = &pool;
            async move {
                let seen = observations(pool, far.id).await;
                let by_c = seen.iter().find(|(id, _, _)| *id == c_id);
                let ok_elsewhere = seen.iter().any(|(id, s, _)| *id != c_id && s == "ok");
                match by_c {
                    Some((_, status, _)) if status == "unreachable" && ok_elsewhere => Ok(seen),
                    _ => Err(format!("{seen:?}")),
                }
            }
        },
    )
    .await;
    let (_, _, message) = seen
        .iter()
        .find(|(id, _, _)| *id == c_id)
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("timed out"),
        "c's observation says why: {message:?}"
    );
    assert_eq!(
        a.metric(SECOND_OPINIONS).await + b.metric(SECOND_OPINIONS).await,
        0.0,
        "only c asks for second opinions"
    );
    // the report, where this build has it (GET /api/v2/proxyhealth/replicas)
    let (status, body) = a.get("/api/v2/proxyhealth/replicas").await;
    let report = if status == 404 {
        "absent (404): asserted on the observations table".to_owned()
    } else {
        let (report, _) = eventually(interval * 4, "the report lists far", || async {
            let (status, body) = a.get("/api/v2/proxyhealth/replicas").await;
            let report: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let listed = report["disagreements"]
                .as_array()
                .and_then(|list| list.iter().find(|d| d["name"] == "far"))
                .cloned();
            match listed {
                Some(d)
                    if d["observations"].as_array().is_some_and(|o| {
                        o.iter().any(|o| o["status"] == "ok")
                            && o.iter().any(|o| {
                                o["status"] == "unreachable" && o["replica_id"] == c_id.to_string()
                            })
                    }) =>
                {
                    Ok(d.to_string())
                }
                _ => Err(format!("{status} {body}")),
            }
        })
        .await;
        report
    };
    eprintln!(
        "far stayed ok on every replica for {:?}; c asked for {second_opinions} second \
         opinion(s); observations: {seen:?}; report: {report} (first answer {status}, {} bytes)",
        started.elapsed(),
        body.len()
    );
    drop((a, b, c));
    db.drop_db().await;
}

//! Failing databases at the service level: a SQLite file locked by another
//! process, on a full disk, made read-only, and a PostgreSQL server that stops
//! mid-run and comes back.
//!
//! In every case the service keeps serving the last statuses, says what is wrong
//! in `/healthz`, the logs and the metrics, refuses writes with a 503 that names
//! the store's error, and recovers on its own once the store is back.

use crate::helpers::{LogCapture, TestApp, eventually, in_ci, registration, spawn_running};
use crate::proxies::metric_value;
use proxyhealth_sim::SimProxy;
use proxyhealth_store::{OpenOptions, ProxyStore, open_store};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The environment variable that turns the lock-holder test into the child.
const LOCK_HOLDER_ENV: &str = "PROXYHEALTH_TEST_LOCK_DB";
/// The test that holds the lock when re-executed with [`LOCK_HOLDER_ENV`].
const LOCK_HOLDER_TEST: &str = "reliability::child_process_holding_a_sqlite_write_lock";
/// What the lock holder prints once it holds the lock.
const LOCK_HELD: &str = "sqlite-write-lock-held";
/// How long recovery may take (sweeps every 300 ms, probes every 500 ms).
const RECOVERY: Duration = Duration::from_secs(20);

/// A service with its sweep loop running, and one proxy it found `ok`.
struct Fleet {
    app: TestApp,
    id: Uuid,
    _sim: SimProxy,
}

async fn healthy_fleet(store: Arc<dyn ProxyStore>) -> Fleet {
    let app = spawn_running(store, Duration::from_millis(300)).await;
    let sim = proxyhealth_sim::spawn(proxyhealth_sim::Kind::Ok)
        .await
        .expect("sim proxy");
    let (id, token) = app.create_proxy("survivor").await;
    let registered = app.register(&token, &registration(sim.url())).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    app.wait_for_status(id, "ok").await;
    Fleet { app, id, _sim: sim }
}

async fn metrics(app: &TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

/// While the store fails: writes are 503 naming `write_error`, the list and the
/// regions still show the proxy `ok`, `/healthz` is 503 naming `health_error`,
/// the metrics count the failure and the log says it.
async fn assert_degraded(fleet: &Fleet, logs: &LogCapture, write_error: &str, health_error: &str) {
    let app = &fleet.app;
    let create = app
        .admin_send(
            Method::POST,
            "/api/v2/workspaceproxies",
            &json!({"name": "during-the-outage"}),
        )
        .await;
    assert_eq!(
        create.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        create.body
    );
    assert_eq!(create.message(), "The store is unavailable.");
    assert!(
        create.detail().contains(write_error),
        "{write_error:?} not in {:?}",
        create.detail()
    );

    let list = app.admin_get("/api/v2/workspaceproxies").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["regions"][0]["id"], fleet.id.to_string());
    assert_eq!(list.body["regions"][0]["name"], "survivor");
    assert_eq!(list.body["regions"][0]["status"]["status"], "ok");
    let regions = app.get("/api/v2/regions").await;
    assert_eq!(regions.status, StatusCode::OK, "{}", regions.body);
    assert_eq!(regions.body["regions"][0]["name"], "survivor");
    assert_eq!(regions.body["regions"][0]["healthy"], true);

    let health = app.get("/healthz").await;
    assert_eq!(
        health.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        health.body
    );
    assert_eq!(health.body["status"], "degraded");
    let error = health.body["store_error"].as_str().expect("store_error");
    assert!(
        error.contains(health_error),
        "{health_error:?} not in {error:?}"
    );

    let text = metrics(app).await;
    assert!(
        metric_value(&text, "proxyhealth_store_errors_total{operation=\"write\"}") >= 1.0,
        "{text}"
    );
    assert_eq!(metric_value(&text, "proxyhealth_store_up"), 0.0, "{text}");

    let log = logs.text();
    assert!(
        log.contains("the store is failing") && log.contains(write_error),
        "the log does not name the store error {write_error:?}:\n{log}"
    );
}

/// Once the store is back: `/healthz` is 200 again without a restart, writes
/// work, the proxy is still `ok` and the log says the store recovered.
async fn assert_recovered(fleet: &Fleet, logs: &LogCapture) {
    let app = &fleet.app;
    eventually(RECOVERY, "/healthz back to 200", || async {
        (app.get("/healthz").await.status == StatusCode::OK).then_some(())
    })
    .await;
    let create = app
        .admin_send(
            Method::POST,
            "/api/v2/workspaceproxies",
            &json!({"name": "after-the-outage"}),
        )
        .await;
    assert_eq!(create.status, StatusCode::CREATED, "{}", create.body);
    let survivor = app
        .admin_get(&format!("/api/v2/workspaceproxies/{}", fleet.id))
        .await;
    assert_eq!(survivor.body["status"]["status"], "ok");
    let text = metrics(app).await;
    assert_eq!(metric_value(&text, "proxyhealth_store_up"), 1.0, "{text}");
    assert!(logs.text().contains("the store takes writes again"));
}

async fn sqlite_store(path: &Path) -> Arc<dyn ProxyStore> {
    let spec = format!("sqlite://{}", path.display());
    open_store(&spec, OpenOptions::default())
        .await
        .expect("open sqlite")
}

// ---------------------------------------------------------------- locked file

/// A child process (this test binary again) holding SQLite's write lock.
struct LockHolder(Child);

impl LockHolder {
    fn start(db: &Path) -> LockHolder {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                LOCK_HOLDER_TEST,
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(LOCK_HOLDER_ENV, db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the lock holder");
        let stdout = child.stdout.take().expect("child stdout");
        let locked = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            // libtest may print "test … ... " on the same line first.
            .any(|line| line.contains(LOCK_HELD));
        assert!(locked, "the child never took the lock");
        LockHolder(child)
    }

    /// Kills the child (by its pid); the kernel drops its lock.
    fn release(mut self) {
        self.0.kill().expect("kill the lock holder");
        self.0.wait().expect("reap the lock holder");
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Not a test of its own: when re-executed with [`LOCK_HOLDER_ENV`] it opens the
/// database, takes the write lock with `BEGIN EXCLUSIVE` and holds it until it
/// is killed (or its stdin closes). Without the variable it does nothing.
#[tokio::test]
async fn child_process_holding_a_sqlite_write_lock() {
    use sqlx::Connection;
    let Some(path) = std::env::var_os(LOCK_HOLDER_ENV) else {
        return;
    };
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(PathBuf::from(path));
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("child: open");
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut conn)
        .await
        .expect("child: lock");
    println!("{LOCK_HELD}");
    let mut sink = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
}

#[tokio::test]
async fn a_sqlite_file_locked_by_another_process_keeps_reads_refuses_writes_and_recovers() {
    let (logs, _guard) = LogCapture::install();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("proxyhealth.db");
    let fleet = healthy_fleet(sqlite_store(&db).await).await;

    let holder = LockHolder::start(&db);
    assert_degraded(&fleet, &logs, "database is locked", "database is locked").await;
    holder.release();
    assert_recovered(&fleet, &logs).await;
}

// ----------------------------------------------------------------- full disk

/// A tiny tmpfs mounted for one test (the tests run as root here); unmounted
/// when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Tmpfs { dir }),
            other if in_ci() => panic!("cannot mount a tmpfs (needs root): {other:?}"),
            other => {
                eprintln!("!!! skipped: cannot mount a tmpfs (needs root): {other:?} !!!");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system of `path` until a write fails with "no space".
fn fill(path: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).expect("create the filler");
    let chunk = vec![0u8; 4096];
    loop {
        match file.write_all(&chunk) {
            Ok(()) => {}
            Err(err) if err.raw_os_error() == Some(28) => break,
            Err(err) => panic!("filling the disk: {err}"),
        }
    }
    let _ = file.sync_all();
}

#[tokio::test]
async fn a_full_disk_keeps_reads_refuses_writes_and_recovers_when_space_is_freed() {
    let Some(tmpfs) = Tmpfs::mount("4m") else {
        return;
    };
    let (logs, _guard) = LogCapture::install();
    let fleet = healthy_fleet(sqlite_store(&tmpfs.path().join("proxyhealth.db")).await).await;

    let filler = tmpfs.path().join("filler");
    fill(&filler);
    assert_degraded(
        &fleet,
        &logs,
        "database or disk is full",
        "database or disk is full",
    )
    .await;
    std::fs::remove_file(&filler).expect("free the space");
    assert_recovered(&fleet, &logs).await;
}

// ------------------------------------------------------------- read-only file

/// `chattr +i` on the database and its WAL: even root cannot write them, through
/// a new descriptor or one already open (chmod would not stop root). Undone
/// when dropped, so the temporary folder can be removed.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    fn set(paths: Vec<PathBuf>) -> Option<Immutable> {
        let out = Command::new("chattr").arg("+i").args(&paths).output();
        match out {
            Ok(out) if out.status.success() => Some(Immutable(paths)),
            other if in_ci() => panic!("chattr +i failed: {other:?}"),
            other => {
                eprintln!("!!! skipped: chattr +i is not supported here: {other:?} !!!");
                None
            }
        }
    }

    fn clear(self) {}
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").args(&self.0).status();
    }
}

#[tokio::test]
async fn a_read_only_sqlite_file_keeps_reads_refuses_writes_and_recovers() {
    let (logs, _guard) = LogCapture::install();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("proxyhealth.db");
    let fleet = healthy_fleet(sqlite_store(&db).await).await;

    let wal = dir.path().join("proxyhealth.db-wal");
    assert!(wal.exists(), "the store runs in WAL mode");
    let Some(immutable) = Immutable::set(vec![db.clone(), wal]) else {
        return;
    };
    assert_degraded(&fleet, &logs, "disk I/O error", "disk I/O error").await;
    immutable.clear();
    assert_recovered(&fleet, &logs).await;
}

// ---------------------------------------------------------------- PostgreSQL

use proxyhealth_testkit::OwnPostgres;

#[tokio::test]
async fn postgres_stopping_mid_run_keeps_the_snapshot_refuses_writes_and_recovers() {
    let Some(pg) = OwnPostgres::start() else {
        return;
    };
    let (logs, _guard) = LogCapture::install();
    let store = open_store(&pg.url, OpenOptions::default())
        .await
        .expect("open postgres");
    let fleet = healthy_fleet(store).await;

    pg.stop();
    // The sweeps (a replica's reads of the shared view) fail too: wait for
    // one, so /healthz names the sweep's error.
    let app = &fleet.app;
    eventually(RECOVERY, "a failed sweep", || async {
        let text = metrics(app).await;
        (metric_value(&text, "proxyhealth_sweeps_total{outcome=\"failed\"}") >= 1.0).then_some(())
    })
    .await;
    // On PostgreSQL the process is a replica: its sweep is reading the shared view.
    assert_degraded(
        &fleet,
        &logs,
        "store unavailable",
        "reading the shared view",
    )
    .await;
    assert!(
        logs.text().contains("proxy health check failed"),
        "the failed sweep is logged"
    );
    // the replica keeps serving its last view, and says it is stale once it
    // is older than two intervals
    eventually(RECOVERY, "/healthz calls the view stale", || async {
        let health = app.get("/healthz").await;
        (health.status == StatusCode::SERVICE_UNAVAILABLE && health.body["view"] == "stale")
            .then_some(())
    })
    .await;
    pg.start_again();
    assert_recovered(&fleet, &logs).await;
}

//! SIGKILL while proxies are being created and registered: after a restart on
//! the same SQLite file, every acknowledged write is there and no row is
//! half-written, and every status change the API showed before the kill is
//! in the persisted history.

use crate::support::command;
use proxyhealth_api::ApiClient;
use proxyhealth_api::wire::{CreateProxyRequest, RegisterRequest};
use proxyhealth_store::{ProxyStore, SqliteStore};
use proxyhealth_testkit::Program;
use reqwest::StatusCode;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use uuid::Uuid;

const ADMIN: &str = "crash-test-admin-token";
/// What a proxy whose registration was not acknowledged registers after the restart.
const FALLBACK_URL: &str = "http://127.0.0.2:19999";
/// Tasks creating and registering at once.
const WRITERS: usize = 8;

/// `proxyhealth serve` on `db`, with its URL read from its banner.
struct Serve {
    program: Program,
    url: String,
}

impl Serve {
    fn start(db: &Path, log: &Path) -> Serve {
        let mut cmd = command();
        cmd.arg("serve")
            .arg("--db")
            .arg(format!("sqlite://{}", db.display()))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--interval",
                "1s",
                "--timeout",
                "1s",
            ])
            .args(["--admin-token", ADMIN]);
        let mut program = Program::spawn(cmd, Some(log));
        let url = program.banner().url;
        Serve { program, url }
    }

    /// SIGKILL, by the child's pid, and reap it.
    fn kill_hard(&mut self) {
        let status = self.program.kill_hard();
        assert!(!status.success(), "serve was killed, not stopped: {status}");
    }
}

/// What the server acknowledged.
#[derive(Default)]
struct Acked {
    /// Created proxies: id -> (name, token).
    created: HashMap<Uuid, (String, String)>,
    /// Registered URLs: id -> URL.
    registered: HashMap<Uuid, String>,
}

/// The URL proxy number `n` of writer `w` registers: loopback, a port nothing
/// listens on (the checks fail fast), unique per proxy.
fn url_for(writer: usize, n: usize) -> String {
    format!("http://127.0.0.2:{}", 20_000 + writer * 2_000 + n)
}

/// A client of the server at `base` with the admin token.
fn client(base: &str) -> ApiClient {
    ApiClient::builder(base)
        .admin_token(ADMIN)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// What a writer's proxy registers: its URL, with DERP, a fresh replica.
fn registration(access_url: String) -> RegisterRequest {
    RegisterRequest {
        access_url,
        derp_enabled: true,
        replica_id: Uuid::new_v4(),
        version: "v2.20.0".to_owned(),
        ..RegisterRequest::default()
    }
}

/// A status change the API showed: the proxy, its status and when it changed.
type Shown = (Uuid, String, time::OffsetDateTime);

/// Reads the proxy list until the server stops answering, keeping every
/// (proxy, status, changed at) it shows.
async fn watch_statuses(api: ApiClient, shown: Arc<Mutex<HashSet<Shown>>>) {
    loop {
        let Ok(answer) = api.list_proxies().await else {
            return;
        };
        let mut shown = shown.lock().await;
        for proxy in answer.value.regions {
            let status = proxy.status.status.as_str().to_owned();
            if status != "unknown" {
                shown.insert((proxy.region.id, status, proxy.status.status_changed_at));
            }
        }
        drop(shown);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn hammer(api: ApiClient, writer: usize, acked: Arc<Mutex<Acked>>) {
    for n in 0.. {
        let name = format!("w{writer}-{n}");
        let create = CreateProxyRequest {
            name: name.clone(),
            display_name: format!("Writer {writer} #{n}"),
            icon: String::new(),
        };
        // Only a 201 is an acknowledged write; anything else (the server killed,
        // a refusal) ends this writer.
        let created = match api.create_proxy(&create).await {
            Ok(answer) if answer.status == StatusCode::CREATED => answer.value,
            _ => return,
        };
        let id: Uuid = created.proxy.region.id;
        let token = created.proxy_token;
        acked
            .lock()
            .await
            .created
            .insert(id, (name.clone(), token.clone()));
        let url = url_for(writer, n);
        match api.register(&token, &registration(url.clone())).await {
            Ok(answer) if answer.status == StatusCode::CREATED => {}
            _ => return,
        }
        acked.lock().await.registered.insert(id, url);
    }
}

fn integrity_check(db: &Path) {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg("PRAGMA integrity_check;")
        .output()
        .expect("the sqlite3 command-line tool is needed for PRAGMA integrity_check");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_sigkill_mid_writes_every_acknowledged_write_is_there_and_no_row_is_half_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("proxyhealth.db");
    let mut first = Serve::start(&db, &dir.path().join("first.log"));
    let acked = Arc::new(Mutex::new(Acked::default()));
    let shown = Arc::new(Mutex::new(HashSet::new()));
    let watcher = tokio::spawn(watch_statuses(client(&first.url), Arc::clone(&shown)));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| tokio::spawn(hammer(client(&first.url), writer, Arc::clone(&acked))))
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tokio::task::block_in_place(|| first.kill_hard());
    for writer in writers {
        writer.await.expect("writer task");
    }
    watcher.await.expect("watcher task");
    let shown = Arc::try_unwrap(shown)
        .map_err(|_| "the watcher still holds the record")
        .expect("watcher done")
        .into_inner();
    let acked = Arc::try_unwrap(acked)
        .map_err(|_| "writers still hold the record")
        .expect("writers done")
        .into_inner();
    assert!(
        acked.created.len() >= 10,
        "only {} creates were acknowledged before the kill",
        acked.created.len()
    );

    // Restart on the same file: every acknowledged write is served.
    let second = tokio::task::block_in_place(|| Serve::start(&db, &dir.path().join("second.log")));
    let api = client(&second.url);
    for (id, (name, token)) in &acked.created {
        let got = api
            .proxy(&id.to_string())
            .await
            .unwrap_or_else(|err| panic!("acknowledged create {id} lost: {err}"))
            .value;
        assert_eq!(
            got.region.name, *name,
            "acknowledged create {id} lost: {got:?}"
        );
        if let Some(url) = acked.registered.get(id) {
            assert_eq!(
                got.region.path_app_url, *url,
                "acknowledged registration lost: {got:?}"
            );
        }
        // The token's hash survived too: the proxy can still register.
        let url = acked
            .registered
            .get(id)
            .cloned()
            .unwrap_or_else(|| FALLBACK_URL.to_owned());
        let again = api
            .register(token, &registration(url))
            .await
            .unwrap_or_else(|err| panic!("token of {name} lost: {err}"));
        assert_eq!(again.status, StatusCode::CREATED, "token of {name} lost");
    }
    drop(second);

    // No half-written row: the file is sound and every row is whole.
    integrity_check(&db);
    let store = SqliteStore::open(&db).await.expect("open the file");
    let rows = store.all_proxies().await.expect("every row parses");
    let mut region_ids = HashSet::new();
    for row in &rows {
        let (writer, n) = row
            .name
            .strip_prefix('w')
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(w, n)| Some((w.parse::<usize>().ok()?, n.parse::<usize>().ok()?)))
            .unwrap_or_else(|| panic!("unexpected row {row:?}"));
        assert_eq!(row.display_name, format!("Writer {writer} #{n}"), "{row:?}");
        assert_eq!(row.token_hashed_secret.len(), 32, "{row:?}");
        assert!(row.created_at <= row.updated_at, "{row:?}");
        assert!(
            region_ids.insert(row.region_id),
            "region id reused: {row:?}"
        );
        let registered =
            acked.registered.contains_key(&row.id) || acked.created.contains_key(&row.id);
        let url_ok = row.url.is_empty()
            || row.url == url_for(writer, n)
            || (registered && row.url == FALLBACK_URL);
        assert!(url_ok, "a URL from nowhere: {row:?}");
        if !row.url.is_empty() {
            assert_eq!(
                row.version, "v2.20.0",
                "a half-applied registration: {row:?}"
            );
        }
    }
    for id in acked.created.keys() {
        assert!(rows.iter().any(|row| row.id == *id), "{id} missing");
    }

    // Every status change the API showed before the kill is in the history,
    // at the time it showed (history is written before a status is shown).
    assert!(
        shown.len() >= 10,
        "only {} status changes were shown before the kill",
        shown.len()
    );
    let history = store.history().expect("SQLite keeps history");
    for (id, status, changed_at) in &shown {
        let recorded = history
            .transitions(Some(*id), time::OffsetDateTime::UNIX_EPOCH)
            .await
            .expect("read the history");
        assert!(
            recorded
                .iter()
                .any(|t| t.to.as_str() == status && t.at == *changed_at),
            "the change of {id} to {status} at {changed_at} was shown but is not in the history: {recorded:?}"
        );
    }
    store.close().await;
}

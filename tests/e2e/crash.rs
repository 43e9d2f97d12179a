//! SIGKILL while proxies are being created and registered: after a restart on
//! the same SQLite file, every acknowledged write is there and no row is
//! half-written.

use crate::support::command;
use proxyhealth_store::{ProxyStore, SqliteStore};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
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
    child: Child,
    url: String,
}

impl Serve {
    fn start(db: &Path, log: &Path) -> Serve {
        let mut child = command()
            .arg("serve")
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
            .args(["--admin-token", ADMIN])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).expect("log file"))
            .spawn()
            .expect("start proxyhealth serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                line.strip_prefix("proxyhealth listening on ")
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| {
                panic!(
                    "serve printed no address; log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                )
            });
        std::thread::spawn(move || for _ in lines {});
        Serve { child, url }
    }

    /// SIGKILL, by the child's pid, and reap it.
    fn kill_hard(&mut self) {
        let sent = Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -KILL failed");
        let status = self.child.wait().expect("reap serve");
        assert!(!status.success(), "serve was killed, not stopped: {status}");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

/// Sends a write; its response when the server acknowledged it with 201, `None`
/// once the server is gone (killed) or refuses.
async fn created(request: reqwest::RequestBuilder) -> Option<reqwest::Response> {
    let response = request.send().await.ok()?;
    (response.status() == StatusCode::CREATED).then_some(response)
}

async fn hammer(client: reqwest::Client, base: String, writer: usize, acked: Arc<Mutex<Acked>>) {
    for n in 0.. {
        let name = format!("w{writer}-{n}");
        let create = client
            .post(format!("{base}/api/v2/workspaceproxies"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": name, "display_name": format!("Writer {writer} #{n}")}));
        let Some(response) = created(create).await else {
            return;
        };
        let Ok(body) = response.json::<Value>().await else {
            return;
        };
        let id: Uuid = body["proxy"]["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("id in a 201");
        let token = body["proxy_token"].as_str().expect("token").to_owned();
        acked
            .lock()
            .await
            .created
            .insert(id, (name.clone(), token.clone()));
        let url = url_for(writer, n);
        let register = client
            .post(format!("{base}/api/v2/workspaceproxies/me/register"))
            .header("Coder-External-Proxy-Token", &token)
            .json(&json!({
                "access_url": url,
                "derp_enabled": true,
                "replica_id": Uuid::new_v4(),
                "version": "v2.20.0",
            }));
        if created(register).await.is_none() {
            return;
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
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let acked = Arc::new(Mutex::new(Acked::default()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            tokio::spawn(hammer(
                client.clone(),
                first.url.clone(),
                writer,
                Arc::clone(&acked),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tokio::task::block_in_place(|| first.kill_hard());
    for writer in writers {
        writer.await.expect("writer task");
    }
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
    for (id, (name, token)) in &acked.created {
        let got: Value = client
            .get(format!("{}/api/v2/workspaceproxies/{id}", second.url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(
            got["name"],
            name.as_str(),
            "acknowledged create {id} lost: {got}"
        );
        if let Some(url) = acked.registered.get(id) {
            assert_eq!(
                got["path_app_url"],
                url.as_str(),
                "acknowledged registration lost: {got}"
            );
        }
        // The token's hash survived too: the proxy can still register.
        let again = client
            .post(format!("{}/api/v2/workspaceproxies/me/register", second.url))
            .header("Coder-External-Proxy-Token", token)
            .json(&json!({
                "access_url": acked.registered.get(id).cloned().unwrap_or_else(|| FALLBACK_URL.to_owned()),
                "derp_enabled": true,
                "replica_id": Uuid::new_v4(),
                "version": "v2.20.0",
            }))
            .send()
            .await
            .expect("register again");
        assert_eq!(again.status(), StatusCode::CREATED, "token of {name} lost");
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
    store.close().await;
}

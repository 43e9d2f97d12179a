//! SQLite crash safety: a writer killed with SIGKILL loses no acknowledged write.
//!
//! The parent test re-runs this test binary as a child that only runs
//! [`crash_writer_child`]; the child creates proxies in a loop and prints the id of
//! each one after `create_proxy` returned. The parent kills it mid-stream, reopens
//! the file, and checks every printed id is there and the file is intact.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use proxyhealth_store::{NewProxy, ProxyStore, SqliteStore};
use sqlx::Connection;
use uuid::Uuid;

/// The env var that turns `crash_writer_child` into the writer, naming its file.
const WRITER_DB_ENV: &str = "PROXYHEALTH_CRASH_WRITER_DB";
/// How many acknowledged writes the parent waits for before killing the child.
const ACKS_BEFORE_KILL: usize = 150;

/// The child half: a no-op unless `PROXYHEALTH_CRASH_WRITER_DB` is set.
#[test]
fn crash_writer_child() {
    let Some(path) = std::env::var_os(WRITER_DB_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let store = SqliteStore::open(Path::new(&path))
            .await
            .expect("open in child");
        for i in 0u64.. {
            let created = store
                .create_proxy(NewProxy {
                    name: format!("crash-{i}"),
                    ..Default::default()
                })
                .await
                .expect("create in child");
            println!("ACK {}", created.proxy.id);
        }
    });
}

#[test]
fn a_killed_writer_loses_no_acknowledged_proxy_and_leaves_an_intact_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("crash.db");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "sqlite_crash::crash_writer_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WRITER_DB_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the writer child");
    let stdout = child.stdout.take().expect("child stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut acked: Vec<Uuid> = Vec::new();
    while acked.len() < ACKS_BEFORE_KILL {
        let Some(line) = lines.next() else {
            panic!("the writer child ended after {} acks", acked.len());
        };
        if let Some(id) = line.expect("read child stdout").strip_prefix("ACK ") {
            acked.push(Uuid::parse_str(id).expect("acked id"));
        }
    }
    child.kill().expect("SIGKILL the writer");
    child.wait().expect("reap the writer");
    // Lines already in the pipe were printed before the kill: acknowledged too.
    for line in lines {
        if let Some(id) = line.expect("read child stdout").strip_prefix("ACK ") {
            acked.push(Uuid::parse_str(id).expect("acked id"));
        }
    }

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("raw connection");
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .expect("integrity_check");
        assert_eq!(check, "ok");
        conn.close().await.expect("close raw connection");

        let store = SqliteStore::open(&path)
            .await
            .expect("reopen after the crash");
        for id in &acked {
            let proxy = store
                .get_proxy(*id)
                .await
                .expect("read")
                .unwrap_or_else(|| panic!("acknowledged proxy {id} is missing after the crash"));
            assert!(!proxy.deleted);
        }
        let listed = store.all_proxies().await.expect("list");
        assert!(
            listed.len() >= acked.len(),
            "{} < {}",
            listed.len(),
            acked.len()
        );
        eprintln!(
            "{} acknowledged, {} stored after SIGKILL",
            acked.len(),
            listed.len()
        );
    });
}

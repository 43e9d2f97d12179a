//! `serve` under systemd's `Type=notify`: `READY=1` on `NOTIFY_SOCKET` only
//! once the listener is bound and the first view is loaded, `STOPPING=1` on
//! SIGTERM. The test binds the datagram socket systemd would.

use crate::support::Server;
use proxyhealth_sim::{Kind, spawn};
use proxyhealth_store::{NewProxy, ProxyStore, Registration, SqliteStore};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the one proxy takes to answer: the first sweep takes at least this.
const ANSWER_DELAY: Duration = Duration::from_secs(3);

/// A SQLite store at `db` holding one proxy registered at `url`.
async fn seeded_store(db: &Path, url: &str) {
    let store = SqliteStore::open(db).await.expect("open the store");
    let created = store
        .create_proxy(NewProxy {
            name: "slow".to_owned(),
            display_name: "Slow".to_owned(),
            icon: String::new(),
        })
        .await
        .expect("create");
    store
        .register_proxy(
            created.proxy.id,
            Registration {
                url: url.to_owned(),
                derp_enabled: true,
                ..Registration::default()
            },
        )
        .await
        .expect("register");
}

/// The next datagram on `socket`, as text, within `wait`.
fn next_message(socket: &UnixDatagram, wait: Duration) -> Option<String> {
    socket.set_read_timeout(Some(wait)).expect("read timeout");
    let mut buf = [0u8; 4096];
    let len = socket.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..len]).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_notifies_ready_after_its_first_view_and_stopping_on_sigterm() {
    let proxy = spawn(Kind::Slow(ANSWER_DELAY))
        .await
        .expect("spawn a slow proxy");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("proxyhealth.db");
    seeded_store(&db, proxy.url()).await;
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    let socket_env = socket_path.to_string_lossy().into_owned();

    let started = Instant::now();
    let mut server = Server::start_on_with(
        &format!("sqlite://{}", db.display()),
        &["--interval", "60s", "--timeout", "10s"],
        &[("NOTIFY_SOCKET", &socket_env)],
    );
    // The banner says the listener is bound; the first sweep is still
    // waiting for the slow proxy, so systemd must not hear of readiness yet.
    socket.set_nonblocking(true).expect("non-blocking");
    let early = socket.recv(&mut [0u8; 64]);
    assert!(
        early.is_err(),
        "nothing is sent before the first view; log:\n{}",
        server.log_text()
    );
    socket.set_nonblocking(false).expect("blocking");

    let ready = tokio::task::block_in_place(|| next_message(&socket, Duration::from_secs(20)))
        .unwrap_or_else(|| panic!("no READY=1; log:\n{}", server.log_text()));
    assert!(
        started.elapsed() >= ANSWER_DELAY,
        "ready only once the slow proxy answered"
    );
    let addr = server.url.trim_start_matches("http://");
    assert_eq!(
        ready,
        format!("READY=1\nSTATUS=serving on {addr}; 1 proxies in view\n")
    );
    let summary = server.api().summary().await.expect("summary").value;
    assert_eq!(summary.total, 1);
    assert_eq!(
        summary.counts.ok, 1,
        "the view was loaded when ready was said"
    );
    assert!(summary.last_sweep.is_some());

    let (status, _) = tokio::task::block_in_place(|| server.terminate(Duration::from_secs(12)))
        .expect("serve exits after SIGTERM");
    assert!(status.success(), "exit status {status}");
    let stopping =
        next_message(&socket, Duration::from_secs(1)).expect("STOPPING=1 was sent before the exit");
    assert_eq!(stopping, "STOPPING=1\nSTATUS=stopping\n");
    proxy.shutdown().await;
}

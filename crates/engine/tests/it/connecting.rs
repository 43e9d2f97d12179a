//! Opening a check's connection: refused, still in progress, never completed.
//!
//! Most loopback and LAN connections are complete when `connect(2)` returns and
//! get their request at once; these pin the other cases, where the check must
//! wait for the connection and still say what happened to it.

use crate::helpers::*;
use proxyhealth_core::Status;
use proxyhealth_engine::{Engine, EngineOptions};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use uuid::Uuid;

const REPORT: &str = r#"{"errors":[],"warnings":[]}"#;

async fn check(url: &str, timeout: Duration) -> (Engine, Uuid) {
    let p = proxy("connecting", url);
    let options = EngineOptions {
        timeout,
        ..EngineOptions::default()
    };
    let engine = engine_with(ListSource::with(vec![p.clone()]), options);
    engine.force_update().await.expect("the sweep succeeds");
    (engine, p.id)
}

/// A listener whose accept queue is already full: the kernel drops the SYNs of
/// any further connection until something is accepted.
async fn full_listener() -> (TcpListener, TcpStream) {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket
        .bind("127.0.0.1:0".parse().expect("an address"))
        .expect("bind a loopback port");
    let listener = socket.listen(0).expect("listen");
    let addr = listener.local_addr().expect("local addr");
    let filler = TcpStream::connect(addr)
        .await
        .expect("the first connection fills the queue");
    (listener, filler)
}

#[tokio::test]
async fn a_refused_connection_is_unreachable_and_names_the_address() {
    let url = refused_url().await;
    let (engine, id) = check(&url, Duration::from_secs(3)).await;
    assert_eq!(
        engine.status_of(&id).expect("a status").status,
        Status::Unreachable
    );
    let addr = url.trim_start_matches("http://");
    let error = only_error(&engine, id);
    assert!(
        error.ends_with(&format!(
            "tcp connect error: {addr}: Connection refused (os error 111)"
        )),
        "{error}"
    );
}

#[tokio::test]
async fn a_connection_accepted_only_after_a_syn_retry_still_carries_the_check() {
    let (listener, filler) = full_listener().await;
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let server = tokio::spawn(async move {
        // Let the check's first SYN be dropped, then make room and answer.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (first, _) = listener.accept().await.expect("accept the filler");
        drop((first, filler));
        let (mut stream, _) = listener.accept().await.expect("accept the check");
        read_head(&mut stream).await;
        let answer = json_answer(REPORT);
        let _ = stream.write_all(answer.as_bytes()).await;
    });
    let (engine, id) = check(&url, Duration::from_secs(5)).await;
    let status = engine.status_of(&id).expect("a status");
    assert_eq!(status.status, Status::Ok, "{:?}", status.report);
    server.await.expect("the server task ends");
}

#[tokio::test]
async fn a_connection_that_never_completes_is_unreachable_at_the_timeout() {
    let (listener, _filler) = full_listener().await;
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let started = Instant::now();
    let (engine, id) = check(&url, Duration::from_millis(700)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        engine.status_of(&id).expect("a status").status,
        Status::Unreachable
    );
    let error = only_error(&engine, id);
    assert!(
        error.ends_with("timed out after 700ms awaiting response headers"),
        "{error}"
    );
}

#[tokio::test]
async fn a_proxy_named_by_host_name_is_reached_on_whichever_address_listens() {
    // `localhost` may resolve to ::1 as well as 127.0.0.1; only the latter listens
    // here, so a refused first address must lead to the next one.
    let server = RawProxy::start(|mut stream| async move {
        read_head(&mut stream).await;
        let answer = json_answer(REPORT);
        let _ = stream.write_all(answer.as_bytes()).await;
    })
    .await;
    let url = format!("http://localhost:{}", server.addr.port());
    let (engine, id) = check(&url, Duration::from_secs(3)).await;
    let status = engine.status_of(&id).expect("a status");
    assert_eq!(status.status, Status::Ok, "{:?}", status.report);
}

#[tokio::test]
async fn a_check_closes_its_connection_with_a_reset_once_it_has_the_answer() {
    // The proxy answers and keeps the connection open, then waits to see how
    // the checker ends it: a reset leaves no TIME_WAIT socket on the checker
    // and no long-lived connection-tracking entry on the way; a FIN would.
    let (seen, mut closed_by) = tokio::sync::mpsc::unbounded_channel();
    let answering = RawProxy::start(move |mut stream| {
        let seen = seen.clone();
        async move {
            use tokio::io::AsyncReadExt;
            read_head(&mut stream).await;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{REPORT}",
                REPORT.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
            let mut rest = [0u8; 1];
            let _ = seen.send(stream.read(&mut rest).await.map_err(|err| err.kind()));
        }
    })
    .await;
    let (engine, id) = check(&answering.url, Duration::from_secs(5)).await;
    assert_eq!(engine.status_of(&id).expect("a status").status, Status::Ok);
    assert_eq!(
        closed_by.recv().await,
        Some(Err(std::io::ErrorKind::ConnectionReset))
    );
}

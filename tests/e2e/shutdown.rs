//! `serve` stops on SIGTERM within the bound, even with a check in flight.

use crate::support::{Server, run, stderr, stdout};
use proxyhealth_sim::{Kind, spawn};
use std::time::Duration;

#[test]
fn sigterm_stops_an_idle_server_with_status_zero() {
    let mut server = Server::start(&[]);
    let (status, took) = server
        .terminate(Duration::from_secs(12))
        .expect("serve exits after SIGTERM");
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        server.log_text()
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cancels_a_sweep_in_flight() {
    let hang = spawn(Kind::Hang).await.expect("spawn a hanging proxy");
    let mut server = Server::start(&["--interval", "1s", "--timeout", "60s"]);
    let created = run(server
        .cli()
        .args(["proxies", "create", "--name", "stuck", "--only-token"]));
    assert!(created.status.success(), "{}", stderr(&created));
    let token = stdout(&created).trim().to_owned();
    let registered = server
        .api()
        .register(
            &token,
            &proxyhealth_testkit::api::registration(hang.url(), "e2e"),
        )
        .await
        .expect("register");
    assert_eq!(registered.status, 201);
    // Let the loop start a sweep that will hang on the proxy for up to 60 s.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(hang.in_flight() >= 1, "a check is in flight");

    let (status, took) = tokio::task::block_in_place(|| server.terminate(Duration::from_secs(12)))
        .expect("serve exits after SIGTERM");
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        server.log_text()
    );
    assert!(
        took < Duration::from_secs(5),
        "the hanging sweep was cancelled, not waited for: {took:?}"
    );
    hang.shutdown().await;
}

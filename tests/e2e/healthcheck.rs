//! `proxyhealth healthcheck`: a container's HEALTHCHECK and a probe in one
//! command. It finds the server where `serve` listens with the same settings,
//! exits 0 printing `ok` when `/healthz` says so, and exits 1 with one line
//! saying why otherwise.

use crate::support::{Server, command, run, stderr, stdout};

/// The port of a server's `http://127.0.0.1:PORT`.
fn port(server: &Server) -> &str {
    server.url.rsplit(':').next().expect("a port")
}

#[test]
fn healthcheck_finds_a_server_listening_on_every_interface_on_loopback_and_says_ok() {
    let server = Server::start(&[]);
    let listen = format!("0.0.0.0:{}", port(&server));
    let output = run(command()
        .arg("healthcheck")
        .env("PROXYHEALTH_LISTEN", &listen));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "ok\n");
}

#[test]
fn healthcheck_sends_the_configured_admin_token_when_reads_need_it() {
    let server = Server::start(&["--public-reads=false", "--admin-token", "healthcheck-token"]);
    let with_token = run(command()
        .args(["healthcheck", "--url", &server.url])
        .env("PROXYHEALTH_ADMIN_TOKEN", "healthcheck-token"));
    assert_eq!(with_token.status.code(), Some(0), "{}", stderr(&with_token));
    assert_eq!(stdout(&with_token), "ok\n");

    let without = run(command().args(["healthcheck", "--url", &server.url]));
    let err = stderr(&without);
    assert_eq!(without.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: ") && err.contains("401"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}

#[test]
fn healthcheck_of_no_server_exits_1_naming_the_url() {
    // a port nothing listens on: bound, then closed
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let output = run(command().args(["healthcheck", "--url", &url]));
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with(&format!(
            "error: GET {url}/healthz: cannot reach the server"
        )),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert_eq!(stdout(&output), "");
}

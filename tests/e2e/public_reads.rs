//! `public_reads`: the read routes answer without a token by default, and need
//! the admin token once it is turned off, whichever way it is set.

use crate::support::{Server, write};
use reqwest::StatusCode;

/// The routes SECURITY.md lists as public reads.
const READ_ROUTES: [&str; 5] = [
    "/api/v2/proxyhealth/summary",
    "/api/v2/proxyhealth/events",
    "/api/v2/regions",
    "/healthz",
    "/metrics",
];

/// The status of a GET of `path`, with the bearer `token` if any. The event
/// stream never ends, so only the head is read.
fn status(server: &Server, path: &str, token: Option<&str>) -> StatusCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut request = proxyhealth_api::http::client().get(format!("{}{path}", server.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("GET").status()
    })
}

fn assert_reads_need_the_admin_token(server: &Server) {
    for path in READ_ROUTES {
        assert_eq!(
            status(server, path, None),
            StatusCode::UNAUTHORIZED,
            "{path} without a token"
        );
        assert_eq!(
            status(server, path, Some("not-the-token")),
            StatusCode::UNAUTHORIZED,
            "{path} with a wrong token"
        );
        assert_eq!(
            status(server, path, Some(&server.token)),
            StatusCode::OK,
            "{path} with the admin token"
        );
    }
}

#[test]
fn reads_are_public_by_default() {
    let server = Server::start(&[]);
    for path in READ_ROUTES {
        assert_eq!(status(&server, path, None), StatusCode::OK, "{path}");
    }
}

#[test]
fn public_reads_false_in_the_file_makes_every_read_need_the_admin_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "c.toml", "public_reads = false\n");
    let server = Server::start(&["--config", file.to_str().expect("utf-8 path")]);
    assert_reads_need_the_admin_token(&server);
}

#[test]
fn the_public_reads_variable_turns_them_off() {
    let server = Server::start_with(&[], &[("PROXYHEALTH_PUBLIC_READS", "false")], None);
    assert_reads_need_the_admin_token(&server);
}

#[test]
fn the_public_reads_flag_beats_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "c.toml", "public_reads = true\n");
    let server = Server::start(&[
        "--config",
        file.to_str().expect("utf-8 path"),
        "--public-reads=false",
    ]);
    assert_reads_need_the_admin_token(&server);
}

//! `--output json` of the commands that ask a server (`proxies …`,
//! `replicas`) prints the server's answer byte for byte, as docs/api.md says:
//! compact, in the server's key order, then a newline.

use crate::support::{Server, run, stderr, stdout};
use proxyhealth_api::wire::HistoryWindow;

/// `json` with every value of `"key":` replaced by `…`, for the fields that
/// change between two answers of the same route (when it was made, how long
/// an open incident has lasted).
fn mask(json: &str, key: &str) -> String {
    let needle = format!("\"{key}\":");
    assert!(json.contains(&needle), "no {key} in {json}");
    let mut out = String::with_capacity(json.len());
    let mut rest = json;
    while let Some(at) = rest.find(&needle) {
        let start = at + needle.len();
        let end = rest[start..]
            .find([',', '}'])
            .map_or(rest.len(), |n| start + n);
        out.push_str(&rest[..start]);
        out.push('…');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn server_with_a_proxy() -> Server {
    let server = Server::start(&["--interval", "1h"]);
    let created = run(server
        .cli()
        .args(["proxies", "create", "--name", "eu-west"]));
    assert!(created.status.success(), "{}", stderr(&created));
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_show_json_is_the_servers_answer_byte_for_byte() {
    let server = server_with_a_proxy();
    let shown = run(server
        .cli()
        .args(["proxies", "show", "eu-west", "-o", "json"]));
    assert!(shown.status.success(), "{}", stderr(&shown));
    let served = server.api().proxy("eu-west").await.expect("GET the proxy");
    let served = String::from_utf8(served.body).expect("UTF-8");
    assert!(!served.contains('\n'), "the server sends compact JSON");
    assert_eq!(stdout(&shown), format!("{served}\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_history_json_is_the_servers_answer_byte_for_byte() {
    let server = server_with_a_proxy();
    let printed = run(server.cli().args([
        "proxies", "history", "eu-west", "--window", "7d", "-o", "json",
    ]));
    assert!(printed.status.success(), "{}", stderr(&printed));
    let served = server
        .api()
        .proxy_history("eu-west", HistoryWindow::Week)
        .await
        .expect("GET the history");
    let served = String::from_utf8(served.body).expect("UTF-8");
    let printed = stdout(&printed);
    assert!(
        printed.starts_with("{\"proxy_id\":"),
        "the server's key order, not sorted keys: {printed}"
    );
    let moving = |json: &str| mask(&mask(json, "until"), "duration_ms");
    assert_eq!(moving(&printed), format!("{}\n", moving(&served)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_json_is_the_servers_answer_byte_for_byte() {
    let server = server_with_a_proxy();
    let printed = run(server.cli().args(["replicas", "-o", "json"]));
    assert!(printed.status.success(), "{}", stderr(&printed));
    let served = server.api().replicas().await.expect("GET replicas");
    let served = String::from_utf8(served.body).expect("UTF-8");
    // the view's generation may move between the two reads (a sweep)
    assert_eq!(
        mask(&stdout(&printed), "newest_generation"),
        format!("{}\n", mask(&served, "newest_generation"))
    );
}

//! Maintenance windows through the CLI of a real `serve`: created for a
//! proxy, listed (as a table and as the server's JSON), shown on the proxy by
//! `proxies list`, ended early; a bad field refused naming it.

use crate::support::{Server, run, stderr, stdout};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

fn rfc(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).expect("format")
}

#[test]
fn a_window_is_created_shown_on_its_proxy_listed_and_ended_through_the_cli() {
    let server = Server::start(&[]);
    let created = run(server
        .cli()
        .args(["proxies", "create", "--name", "eu-west"]));
    assert!(created.status.success(), "{}", stderr(&created));
    let now = OffsetDateTime::now_utc();
    let window = run(server.cli().args([
        "maintenance",
        "create",
        "--proxy",
        "eu-west",
        "--start",
        &rfc(now - Duration::minutes(5)),
        "--end",
        &rfc(now + Duration::hours(1)),
        "--reason",
        "kernel upgrade",
        "-o",
        "json",
    ]));
    assert!(window.status.success(), "{}", stderr(&window));
    let window: Value = serde_json::from_slice(&window.stdout).expect("the server's JSON");
    assert_eq!(window["state"], "active");
    let id = window["id"].as_str().expect("id").to_owned();

    let listed = run(server.cli().args(["maintenance", "list"]));
    assert!(listed.status.success(), "{}", stderr(&listed));
    let text = stdout(&listed);
    assert!(text.contains(&id) && text.contains("eu-west"), "{text}");
    assert!(
        text.contains("active") && text.contains("kernel upgrade"),
        "{text}"
    );

    let proxies = run(server.cli().args(["proxies", "list"]));
    assert!(
        stdout(&proxies).contains("in maintenance until"),
        "{}",
        stdout(&proxies)
    );

    let ended = run(server.cli().args(["maintenance", "end", &id]));
    assert!(ended.status.success(), "{}", stderr(&ended));
    assert!(stdout(&ended).contains("ended"), "{}", stdout(&ended));
    let json = run(server.cli().args(["maintenance", "list", "-o", "json"]));
    let listed: Value = serde_json::from_slice(&json.stdout).expect("the server's JSON");
    assert_eq!(listed["windows"][0]["state"], "over");
    let proxies = run(server.cli().args(["proxies", "list"]));
    assert!(
        !stdout(&proxies).contains("in maintenance"),
        "{}",
        stdout(&proxies)
    );

    let again = run(server.cli().args(["maintenance", "end", &id]));
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("is already over"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn a_bad_window_is_refused_naming_the_field() {
    let server = Server::start(&[]);
    let bad = run(server.cli().args([
        "maintenance",
        "create",
        "--all",
        "--start",
        "2026-12-01T04:00:00Z",
        "--end",
        "2026-12-01T02:00:00Z",
        "--reason",
        "upgrade",
    ]));
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("end"), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("must be after start"),
        "{}",
        stderr(&bad)
    );
    let neither = run(server.cli().args([
        "maintenance",
        "create",
        "--start",
        "2026-12-01T02:00:00Z",
        "--end",
        "2026-12-01T04:00:00Z",
        "--reason",
        "upgrade",
    ]));
    assert_eq!(neither.status.code(), Some(2), "a usage error");
    assert!(stderr(&neither).contains("--proxy"), "{}", stderr(&neither));
}

//! A server, proxies created through the CLI, fake proxies registering with
//! their tokens, and every status read back through the API and the CLI.

use crate::support::{Server, run, stderr, stdout};
use proxyhealth_sim::{Kind, SimProxy, spawn};
use serde_json::Value;
use std::collections::HashMap;

/// Creates a proxy through the CLI and returns its token.
fn create(server: &Server, name: &str) -> String {
    let output = run(server
        .cli()
        .args(["proxies", "create", "--name", name, "--only-token"]));
    assert!(
        output.status.success(),
        "create {name}: {}",
        stderr(&output)
    );
    let token = stdout(&output).trim().to_owned();
    assert_eq!(token.len(), 36 + 1 + 64, "token of {name}: {token:?}");
    token
}

pub(crate) async fn register(server: &Server, token: &str, url: &str) {
    let registration = proxyhealth_testkit::api::registration(url, "e2e");
    let answer = server
        .api()
        .register(token, &registration)
        .await
        .unwrap_or_else(|err| panic!("register {url}: {err}"));
    assert_eq!(answer.status, 201, "register {url}");
}

fn statuses(regions: &Value) -> HashMap<String, String> {
    regions["regions"]
        .as_array()
        .expect("regions array")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_owned(),
                p["status"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_proxies_show_their_health_through_the_api_and_the_cli() {
    let server = Server::start(&["--interval", "1h", "--timeout", "2s"]);
    assert!(
        !server.token.is_empty(),
        "the generated admin token is printed once"
    );
    let kinds = [
        ("healthy", Kind::Ok),
        ("broken", Kind::Errors),
        ("crashing", Kind::ServerError),
        ("gone", Kind::Refused),
    ];
    let mut fakes: Vec<SimProxy> = Vec::new();
    for (name, kind) in kinds {
        let token = create(&server, name);
        let fake = spawn(kind).await.expect("spawn a fake proxy");
        register(&server, &token, fake.url()).await;
        fakes.push(fake);
    }
    create(&server, "never-registered");

    let refreshed = server.api().refresh().await.expect("refresh");
    assert_eq!(refreshed.status, 200);
    let api: Value = server
        .api()
        .list_proxies()
        .await
        .expect("list")
        .raw()
        .expect("list JSON");
    let expected: HashMap<String, String> = [
        ("healthy", "ok"),
        ("broken", "unhealthy"),
        ("crashing", "unhealthy"),
        ("gone", "unreachable"),
        ("never-registered", "unregistered"),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_owned(), s.to_owned()))
    .collect();
    assert_eq!(statuses(&api), expected, "API: {api}");

    let listed = run(server.cli().args(["proxies", "list", "--output", "json"]));
    assert!(listed.status.success(), "{}", stderr(&listed));
    let cli_json: Value = serde_json::from_slice(&listed.stdout).expect("list --output json");
    assert_eq!(statuses(&cli_json), expected, "CLI JSON: {cli_json}");

    let table = run(server.cli().args(["proxies", "list"]));
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("STATUS"),
        "{text}"
    );
    for (name, status) in &expected {
        let row = lines
            .iter()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{text}"));
        assert!(
            row.trim_end().ends_with(status.as_str()),
            "{name}: {row}\n{text}"
        );
    }
    // Errors are printed as errors (Coder printed them as warnings), under their proxy.
    let broken = lines
        .iter()
        .position(|l| l.starts_with("broken "))
        .expect("broken row");
    assert!(
        lines[broken + 1].trim_start().starts_with("error: "),
        "the error follows its proxy:\n{text}"
    );
    assert!(
        !text.contains("\x1b["),
        "no colours when stdout is a pipe:\n{text}"
    );

    let shown = run(server.cli().args(["proxies", "show", "gone", "-o", "json"]));
    assert!(shown.status.success(), "{}", stderr(&shown));
    let gone: Value = serde_json::from_slice(&shown.stdout).expect("show JSON");
    assert_eq!(gone["status"]["status"], "unreachable");
    let errors = gone["status"]["report"]["errors"]
        .as_array()
        .expect("errors");
    assert!(!errors.is_empty(), "an unreachable proxy says why: {gone}");

    for fake in fakes {
        fake.shutdown().await;
    }
}

#[test]
fn proxy_management_round_trip_through_the_cli() {
    let server = Server::start(&["--interval", "1h", "--admin-token", "e2e-admin-token"]);
    assert_eq!(server.token, "", "a configured token is never printed");
    let mut server = server;
    server.token = "e2e-admin-token".to_owned();

    let created = run(server.cli().args([
        "proxies",
        "create",
        "--name",
        "eu-west",
        "--display-name",
        "EU West",
        "--icon",
        "/emojis/1f1ea-1f1fa.png",
    ]));
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(stdout(&created).contains("Workspace proxy \"eu-west\" created."));

    let duplicate = run(server
        .cli()
        .args(["proxies", "create", "--name", "eu-west"]));
    assert_eq!(duplicate.status.code(), Some(1));
    assert!(
        stderr(&duplicate).contains("already exists"),
        "the server's message is shown: {}",
        stderr(&duplicate)
    );

    let edited = run(server.cli().args([
        "proxies",
        "edit",
        "eu-west",
        "--name",
        "eu-central",
        "-o",
        "json",
    ]));
    assert!(edited.status.success(), "{}", stderr(&edited));
    let body: Value = serde_json::from_slice(&edited.stdout).expect("edit JSON");
    assert_eq!(body["proxy"]["name"], "eu-central");
    assert_eq!(body["proxy"]["display_name"], "EU West");

    let nothing = run(server.cli().args(["proxies", "edit", "eu-central"]));
    assert_eq!(nothing.status.code(), Some(2), "edit needs a change");

    let rotated =
        run(server
            .cli()
            .args(["proxies", "regenerate-token", "eu-central", "--only-token"]));
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    assert_eq!(stdout(&rotated).trim().len(), 36 + 1 + 64);

    let unconfirmed = run(server.cli().args(["proxies", "delete", "eu-central"]));
    assert_eq!(unconfirmed.status.code(), Some(2));
    assert!(
        stderr(&unconfirmed).contains("stdin is not a terminal; pass -y"),
        "{}",
        stderr(&unconfirmed)
    );

    let deleted = run(server.cli().args(["proxies", "delete", "eu-central", "-y"]));
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    assert!(stdout(&deleted).contains("deleted"));

    let missing = run(server.cli().args(["proxies", "show", "eu-central"]));
    assert_eq!(missing.status.code(), Some(1));
    let err = stderr(&missing);
    assert!(err.contains("not found") && err.contains("404"), "{err}");

    let unauthorised = run(server
        .cli()
        .env("PROXYHEALTH_ADMIN_TOKEN", "wrong")
        .args(["proxies", "list"]));
    assert_eq!(unauthorised.status.code(), Some(1));
    assert_eq!(
        stderr(&unauthorised),
        "error: Invalid admin token. (401 Unauthorized)\n  detail: The token matches neither the \
         admin token nor a personal token.\n  the server refused the admin token given with --token or \
         PROXYHEALTH_ADMIN_TOKEN\n"
    );
}

#[test]
fn a_missing_token_says_which_flag_and_variable_give_the_cli_its_token() {
    let server = Server::start(&["--interval", "1h"]);
    for token in [None, Some("")] {
        let mut cli = server.cli();
        match token {
            None => cli.env_remove("PROXYHEALTH_ADMIN_TOKEN"),
            Some(empty) => cli.env("PROXYHEALTH_ADMIN_TOKEN", empty),
        };
        let refused = run(cli.args(["proxies", "create", "--name", "eu-west"]));
        assert_eq!(
            refused.status.code(),
            Some(2),
            "no token is a usage error: {}",
            stderr(&refused)
        );
        assert_eq!(
            stderr(&refused),
            "error: Missing admin token. (401 Unauthorized)\n  give the CLI the admin token with \
             --token TOKEN or the PROXYHEALTH_ADMIN_TOKEN environment variable\n",
            "token {token:?}"
        );
    }
    let given = run(server.cli().env_remove("PROXYHEALTH_ADMIN_TOKEN").args([
        "proxies",
        "list",
        "--token",
        &server.token,
    ]));
    assert!(given.status.success(), "{}", stderr(&given));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_shows_a_proxys_history_as_a_timeline_or_as_the_apis_json() {
    let server = Server::start(&["--interval", "1h", "--timeout", "2s"]);
    let token = create(&server, "flaky");
    let fake = spawn(Kind::Errors).await.expect("spawn a fake proxy");
    register(&server, &token, fake.url()).await;
    server.api().refresh().await.expect("refresh");

    let json = run(server.cli().args([
        "proxies", "history", "flaky", "--window", "7d", "--output", "json",
    ]));
    assert!(json.status.success(), "{}", stderr(&json));
    let body: Value = serde_json::from_slice(&json.stdout).expect("history --output json");
    assert_eq!(body["window"], "7d");
    assert_eq!(body["proxy_name"], "flaky");
    let last = body["transitions"]
        .as_array()
        .and_then(|t| t.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["to"], "unhealthy", "{body}");

    let table = run(server.cli().args(["proxies", "history", "flaky"]));
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(text.starts_with("flaky: uptime 0.00% over 24h"), "{text}");
    assert!(text.contains("timeline, one cell per hour"), "{text}");
    // never ok: unregistered, then unhealthy, is one incident, still open
    assert!(text.contains("incidents (1):"), "{text}");
    assert!(text.contains("open   "), "{text}");
    assert!(text.contains("unhealthy"), "{text}");

    let bad = run(server
        .cli()
        .args(["proxies", "history", "flaky", "--window", "5d"]));
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("invalid window \"5d\": expected one of 24h, 7d, 30d, 90d"),
        "{}",
        stderr(&bad)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_token_with_json_output_prints_the_token_as_a_json_object() {
    let server = Server::start(&["--interval", "1h"]);
    let created = run(server.cli().args([
        "proxies",
        "create",
        "--name",
        "eu-west",
        "--only-token",
        "-o",
        "json",
    ]));
    assert!(created.status.success(), "{}", stderr(&created));
    let body: Value = serde_json::from_slice(&created.stdout)
        .unwrap_or_else(|err| panic!("not JSON ({err}): {}", stdout(&created)));
    let fields = body.as_object().expect("an object");
    assert_eq!(fields.keys().collect::<Vec<_>>(), ["proxy_token"], "{body}");
    let token = body["proxy_token"].as_str().expect("a string");
    assert_eq!(token.len(), 36 + 1 + 64, "{token}");
    let fake = spawn(Kind::Ok).await.expect("spawn a fake proxy");
    register(&server, token, fake.url()).await;

    let rotated = run(server.cli().args([
        "proxies",
        "regenerate-token",
        "eu-west",
        "--only-token",
        "-o",
        "json",
    ]));
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let body: Value = serde_json::from_slice(&rotated.stdout).expect("JSON");
    let new_token = body["proxy_token"].as_str().expect("a string");
    assert_ne!(new_token, token, "a new token");
    register(&server, new_token, fake.url()).await;
    fake.shutdown().await;
}

#[test]
fn the_cli_refuses_a_name_outside_the_rule_and_finds_names_in_any_case() {
    let mut server = Server::start(&["--interval", "1h", "--admin-token", "e2e-admin-token"]);
    server.token = "e2e-admin-token".to_owned();

    let help = run(server.cli().args(["proxies", "create", "--help"]));
    assert!(
        stdout(&help)
            .contains("letters, digits and single hyphens between them (eu-west-1), at most 32"),
        "the help states the rule: {}",
        stdout(&help)
    );
    for name in [
        "bad name!",
        "Upper_Case",
        "refresh ",
        "x".repeat(33).as_str(),
    ] {
        let refused = run(server.cli().args(["proxies", "create", "--name", name]));
        assert_eq!(
            refused.status.code(),
            Some(2),
            "{name:?}: {}",
            stderr(&refused)
        );
        assert!(
            stderr(&refused).contains("for '--name <NAME>'"),
            "the flag is named: {}",
            stderr(&refused)
        );
    }
    let refused = run(server
        .cli()
        .args(["proxies", "create", "--name", "bad name!"]));
    assert!(
        stderr(&refused)
            .contains("\"bad name!\" is not a valid name: use letters, digits and single hyphens"),
        "{}",
        stderr(&refused)
    );
    let listed = run(server.cli().args(["proxies", "list", "-o", "json"]));
    let body: Value = serde_json::from_slice(&listed.stdout).expect("list JSON");
    assert_eq!(
        body["regions"],
        serde_json::json!([]),
        "nothing was created"
    );

    create(&server, "eu-west");
    let renamed = run(server
        .cli()
        .args(["proxies", "edit", "EU-WEST", "--name", "eu west"]));
    assert_eq!(renamed.status.code(), Some(2), "{}", stderr(&renamed));
    let shown = run(server
        .cli()
        .args(["proxies", "show", "EU-West", "-o", "json"]));
    assert!(shown.status.success(), "{}", stderr(&shown));
    let body: Value = serde_json::from_slice(&shown.stdout).expect("show JSON");
    assert_eq!(
        body["name"], "eu-west",
        "found in any case, kept as written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_deleted_through_the_cli_has_its_incident_ended_not_open_for_ever() {
    let mut server = Server::start(&["--interval", "1h", "--admin-token", "e2e-admin-token"]);
    server.token = "e2e-admin-token".to_owned();
    create(&server, "eu-west");
    let api = server.api();
    let open = api.incidents(Some("1h"), 0, 50).await.expect("incidents");
    assert_eq!(open.value.incidents.len(), 1, "{:?}", open.value);
    let incident = &open.value.incidents[0];
    assert!(incident.open, "unregistered: an open incident");
    let old = incident.proxy_id;

    let deleted = run(server.cli().args(["proxies", "delete", "eu-west", "--yes"]));
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    create(&server, "eu-west");

    let page = api.incidents(Some("1h"), 0, 50).await.expect("incidents");
    assert_eq!(page.value.incidents.len(), 2, "{:?}", page.value);
    let ended = page
        .value
        .incidents
        .iter()
        .find(|incident| incident.proxy_id == old)
        .expect("the deleted proxy's incident");
    assert!(!ended.open, "{ended:?}");
    assert_eq!(
        ended.ended_by,
        Some(proxyhealth_core::IncidentEnd::ProxyDeleted)
    );
    let fresh = page
        .value
        .incidents
        .iter()
        .find(|incident| incident.proxy_id != old)
        .expect("the new proxy's incident");
    assert!(fresh.open, "the new proxy's own incident: {fresh:?}");
    assert_eq!(fresh.proxy_name, "eu-west");
}

#[test]
fn proxies_list_filters_sorts_and_pages_when_asked() {
    let server = Server::start(&["--interval", "1h"]);
    for name in ["ap-south", "eu-west", "us-east"] {
        create(&server, name);
    }
    let page = run(server.cli().args([
        "proxies",
        "list",
        "--status",
        "unregistered",
        "--sort",
        "-name",
        "--limit",
        "2",
    ]));
    assert!(page.status.success(), "{}", stderr(&page));
    let text = stdout(&page);
    let us = text.find("us-east").expect("us-east is listed");
    let eu = text.find("eu-west").expect("eu-west is listed");
    assert!(us < eu, "descending by name:\n{text}");
    assert!(!text.contains("ap-south"), "the page holds two:\n{text}");
    assert!(
        text.contains("3 matching; showing 1 to 2"),
        "the page says where it is:\n{text}"
    );

    let json = run(server
        .cli()
        .args(["proxies", "list", "--name", "EU", "-o", "json"]));
    let body: Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(body["total"], 1, "{body}");
    assert_eq!(body["regions"][0]["name"], "eu-west", "{body}");

    let bad = run(server.cli().args(["proxies", "list", "--status", "down"]));
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("--status"), "{}", stderr(&bad));
}

//! Vantages and their agent tokens through the CLI and the API of a real
//! `serve`: a token shown once, names unique ignoring case, a rotation or a
//! deletion refusing the old token, and the admin token required.

use crate::support::{Server, run, stderr, stdout};
use reqwest::StatusCode;

/// The agent token in `vantages create`'s or `rotate-token`'s table output.
fn token_in(out: &str) -> String {
    let mut lines = out.lines();
    lines
        .by_ref()
        .find(|line| line.starts_with("Agent token (shown only this once):"));
    lines
        .next()
        .map(|line| line.trim().to_owned())
        .unwrap_or_else(|| panic!("no agent token in:\n{out}"))
}

#[test]
fn a_vantage_is_created_listed_rotated_and_deleted_through_the_cli() {
    let server = Server::start(&[]);
    let created = run(server.cli().args(["vantages", "create", "eu-west"]));
    assert!(created.status.success(), "{}", stderr(&created));
    let first = token_in(&stdout(&created));
    assert_eq!(first.len(), 36 + 1 + 64, "uuid:64 hex: {first}");

    let listed = run(server.cli().args(["vantages", "list"]));
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(stdout(&listed).contains("eu-west"), "{}", stdout(&listed));
    assert!(
        !stdout(&listed).contains(&first[37..]),
        "a listing never shows a token"
    );

    let taken = run(server.cli().args(["vantages", "create", "EU-West"]));
    assert_eq!(taken.status.code(), Some(1), "{}", stderr(&taken));
    assert!(
        stderr(&taken).contains("a vantage named \"EU-West\" already exists"),
        "{}",
        stderr(&taken)
    );

    let rotated = run(server.cli().args(["vantages", "rotate-token", "EU-WEST"]));
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    assert_ne!(token_in(&stdout(&rotated)), first);

    let deleted = run(server.cli().args(["vantages", "delete", "eu-west"]));
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    assert!(stdout(&deleted).contains("deleted"), "{}", stdout(&deleted));
    let json = run(server.cli().args(["vantages", "list", "-o", "json"]));
    let listed: serde_json::Value =
        serde_json::from_slice(&json.stdout).expect("the server's JSON");
    assert_eq!(listed["vantages"], serde_json::json!([]));

    let gone = run(server.cli().args(["vantages", "delete", "eu-west"]));
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        stderr(&gone).contains("no vantage named \"eu-west\""),
        "{}",
        stderr(&gone)
    );
}

#[test]
fn a_bad_vantage_name_is_refused_before_asking_the_server() {
    let server = Server::start(&[]);
    let bad = run(server.cli().args(["vantages", "create", "eu west"]));
    assert_eq!(bad.status.code(), Some(2), "a usage error");
    assert!(stderr(&bad).contains("'eu west'"), "{}", stderr(&bad));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vantage_routes_need_the_admin_token_and_name_the_field_of_a_bad_body() {
    let server = tokio::task::spawn_blocking(|| Server::start(&[]))
        .await
        .expect("start serve");
    let http = reqwest::Client::new();
    let url = format!("{}/api/v2/proxyhealth/vantages", server.url);
    let anonymous = http.get(&url).send().await.expect("answer");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let refused = http
        .post(&url)
        .bearer_auth(&server.token)
        .json(&serde_json::json!({"name": "-bad-"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = refused.json().await.expect("an envelope");
    assert_eq!(body["validations"][0]["field"], "name", "{body}");
    let created = server
        .api()
        .create_vantage("ap-south")
        .await
        .expect("created");
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.value.vantage.name, "ap-south");
}

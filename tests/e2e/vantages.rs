//! Vantages and their agent tokens through the CLI and the API of a real
//! `serve`: a token shown once, names unique ignoring case, a rotation or a
//! deletion refusing the old token, and the admin token required; and three
//! vantages (the service's own and two agents, each from its own loopback
//! address) deciding a proxy by quorum.

use crate::support::{Server, command, run, stderr, stdout};
use proxyhealth_testkit::Program;
use proxyhealth_testkit::eventually;
use proxyhealth_testkit::per_client::{PerClientProxy, Treatment};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

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
    let http = proxyhealth_api::http::client();
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

/// The admin token the quorum scenario's servers are given (so a restarted
/// server has the same one).
const ADMIN: &str = "e2e-vantages-admin-token-0123456789";

/// Starts `proxyhealth agent` for `token`, its checks from `source`.
fn agent(server_url: &str, token: &str, source: &str, log: &std::path::Path) -> Program {
    let mut cmd = command();
    cmd.args(["agent", "--server", server_url, "--source-address", source])
        .env("PROXYHEALTH_AGENT_TOKEN", token)
        .env("RUST_LOG", "info");
    Program::spawn(cmd, Some(log))
}

/// `(vantage, status, latency_ms, stale)` of each of a proxy's vantages.
fn readings(proxy: &Value) -> Vec<(String, String, Option<u64>, bool)> {
    proxy["vantages"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|v| {
                    (
                        v["vantage"].as_str().unwrap_or("").to_owned(),
                        v["status"].as_str().unwrap_or("").to_owned(),
                        v["latency_ms"].as_u64(),
                        v["stale"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn proxy_json(url: &str, id: &str) -> Value {
    proxyhealth_api::http::client()
        .get(format!("{url}/api/v2/workspaceproxies/{id}"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("GET the proxy")
        .json()
        .await
        .expect("its JSON")
}

async fn create_vantage(url: &str, name: &str) -> String {
    let created: Value = proxyhealth_api::http::client()
        .post(format!("{url}/api/v2/proxyhealth/vantages"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await
        .expect("POST a vantage")
        .json()
        .await
        .expect("its JSON");
    created["agent_token"].as_str().expect("a token").to_owned()
}

/// Waits (at most `limit`) until the proxy's JSON satisfies `want`.
async fn until(
    url: &str,
    id: &str,
    limit: Duration,
    what: &str,
    want: impl Fn(&Value) -> bool,
) -> Value {
    eventually(limit, what, async || {
        let proxy = proxy_json(url, id).await;
        if want(&proxy) { Ok(proxy) } else { Err(proxy) }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_vantages_decide_a_proxy_by_quorum_from_their_own_addresses() {
    let proxy = PerClientProxy::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("vantages.db").display());
    let serve_args = [
        "--interval",
        "1s",
        "--timeout",
        "500ms",
        "--admin-token",
        ADMIN,
    ];
    let mut server = tokio::task::block_in_place(|| Server::start_on(&db, &serve_args));
    let url = server.url.clone();
    let api = proxyhealth_testkit::api::client(&url, ADMIN);
    let created = api
        .create_proxy(&proxyhealth_api::wire::CreateProxyRequest {
            name: "sydney".to_owned(),
            display_name: "Sydney".to_owned(),
            icon: String::new(),
        })
        .await
        .expect("create a proxy");
    let id = created.value.proxy.region.id.to_string();
    api.register(
        &created.value.proxy_token,
        &proxyhealth_testkit::api::registration(&proxy.url, "e2e"),
    )
    .await
    .expect("register");
    let ap_token = create_vantage(&url, "ap-south").await;
    let us_token = create_vantage(&url, "us-east").await;
    let mut ap = agent(&url, &ap_token, "127.0.0.2", &dir.path().join("ap.log"));
    let mut us = agent(&url, &us_token, "127.0.0.3", &dir.path().join("us.log"));
    let all_ok = |p: &Value| {
        let r = readings(p);
        r.len() == 3
            && r.iter()
                .all(|(_, status, _, stale)| status == "ok" && !stale)
    };
    until(
        &url,
        &id,
        Duration::from_secs(20),
        "three vantages ok",
        all_ok,
    )
    .await;

    // cut off from ap-south alone: ok overall, with a warning naming it
    proxy.treat([127, 0, 0, 2].into(), Treatment::CutOff);
    let partial = until(
        &url,
        &id,
        Duration::from_secs(10),
        "ap-south unreachable",
        |p| {
            readings(p)
                .iter()
                .any(|(v, s, _, _)| v == "ap-south" && s == "unreachable")
        },
    )
    .await;
    assert_eq!(partial["status"]["status"], "ok");
    let warning = partial["status"]["report"]["warnings"][0]
        .as_str()
        .unwrap_or("");
    assert!(
        warning.starts_with("partial outage: failing from 1 of 3 vantages: ap-south (unreachable"),
        "{warning}"
    );

    // cut off from the service's own vantage too: two of three, down overall
    proxy.treat([127, 0, 0, 1].into(), Treatment::CutOff);
    until(
        &url,
        &id,
        Duration::from_secs(10),
        "unreachable overall",
        |p| p["status"]["status"] == "unreachable",
    )
    .await;

    // back everywhere; a slow route from us-east shows in its latency only
    proxy.treat([127, 0, 0, 1].into(), Treatment::Answer);
    proxy.treat([127, 0, 0, 2].into(), Treatment::Answer);
    proxy.treat(
        [127, 0, 0, 3].into(),
        Treatment::Delay(Duration::from_millis(250)),
    );
    let slow = until(
        &url,
        &id,
        Duration::from_secs(10),
        "us-east slow, all ok",
        |p| {
            p["status"]["status"] == "ok"
                && readings(p).iter().all(|(_, s, _, _)| s == "ok")
                && readings(p)
                    .iter()
                    .any(|(v, _, ms, _)| v == "us-east" && ms.is_some_and(|ms| ms >= 250))
        },
    )
    .await;
    for (vantage, _, ms, _) in readings(&slow) {
        if vantage != "us-east" {
            assert!(
                ms.is_some_and(|ms| ms < 250),
                "{vantage} is not slowed: {ms:?}"
            );
        }
    }

    // a killed agent's vantage turns stale within three intervals and stops counting
    us.kill_hard();
    let killed_at = std::time::Instant::now();
    let stale = until(&url, &id, Duration::from_secs(10), "us-east stale", |p| {
        readings(p)
            .iter()
            .any(|(v, _, _, stale)| v == "us-east" && *stale)
    })
    .await;
    assert!(
        killed_at.elapsed() <= Duration::from_millis(3_500),
        "stale after {:?}",
        killed_at.elapsed()
    );
    let us_checked_at = slow_checked_at(&stale, "us-east");

    // the service restarted under the agents loses no vantage's newest result
    let listen = url.trim_start_matches("http://").to_owned();
    tokio::task::block_in_place(|| server.terminate(Duration::from_secs(10)));
    let server = tokio::task::block_in_place(|| Server::start_at(&db, &listen, &serve_args));
    let restored = until(
        &server.url,
        &id,
        Duration::from_secs(10),
        "the readings back",
        |p| readings(p).iter().any(|(v, _, _, _)| v == "us-east"),
    )
    .await;
    assert_eq!(
        slow_checked_at(&restored, "us-east"),
        us_checked_at,
        "us-east's newest result kept"
    );

    // a deleted vantage's agent is refused, says why, and exits non-zero
    let deleted = tokio::task::block_in_place(|| {
        run(server
            .cli()
            .env("PROXYHEALTH_ADMIN_TOKEN", ADMIN)
            .args(["vantages", "delete", "ap-south"]))
    });
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    let exit = eventually(
        Duration::from_secs(10),
        "the ap-south agent to exit",
        async || ap.try_wait().ok_or("still running"),
    )
    .await;
    assert!(!exit.success(), "exits non-zero");
    assert!(
        ap.output()
            .contains("the agent token's vantage does not exist (deleted?)"),
        "{}",
        ap.output()
    );
}

fn slow_checked_at(proxy: &Value, vantage: &str) -> String {
    proxy["vantages"]
        .as_array()
        .and_then(|list| list.iter().find(|v| v["vantage"] == vantage))
        .and_then(|v| v["checked_at"].as_str())
        .unwrap_or("")
        .to_owned()
}

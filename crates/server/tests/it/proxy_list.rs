//! The proxy list for a large fleet: without parameters Coder's whole list,
//! with them one page of the proxies that match a status and a name, sorted.

use crate::helpers::{TestApp, registration, spawn_app};
use proxyhealth_testkit::fake_proxy::{FakeProxy, json, refused_url};
use reqwest::StatusCode;
use serde_json::Value;

/// Names of the proxies in an answer's `regions`, in order.
fn names(body: &Value) -> Vec<String> {
    body["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .map(|proxy| proxy["name"].as_str().expect("a name").to_owned())
        .collect()
}

/// Five proxies: `eu-west` and `EU-central` answer ok, `us-east` is
/// refused (unreachable), `ap-south` and `sa-east` never registered; then a
/// sweep, so the list answers from the snapshot's index.
async fn fleet() -> (TestApp, FakeProxy) {
    let (app, ok) = unswept_fleet().await;
    let swept = app
        .admin_post_empty("/api/v2/workspaceproxies/refresh")
        .await;
    assert_eq!(swept.status, StatusCode::OK, "{}", swept.body);
    (app, ok)
}

/// The five proxies of [`fleet`], each checked alone but no sweep run yet.
async fn unswept_fleet() -> (TestApp, FakeProxy) {
    let (app, _) = spawn_app().await;
    let ok = FakeProxy::start(|_| async { json(200, r#"{"errors":[],"warnings":[]}"#) }).await;
    let refused = refused_url().await;
    for (name, url) in [
        ("eu-west", Some(ok.url.clone())),
        ("EU-central", Some(ok.url.clone())),
        ("us-east", Some(refused.clone())),
        ("ap-south", None),
        ("sa-east", None),
    ] {
        let (id, token) = app.create_proxy(name).await;
        if let Some(url) = url {
            let answer = app.register(&token, &registration(&url)).await;
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
            let want = if url == refused { "unreachable" } else { "ok" };
            app.wait_for_status(id, want).await;
        }
    }
    (app, ok)
}

#[tokio::test]
async fn without_parameters_the_list_is_coders_whole_list_by_name() {
    let (app, _ok) = fleet().await;
    let answer = app.admin_get("/api/v2/workspaceproxies").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let keys: Vec<&String> = answer.body.as_object().expect("an object").keys().collect();
    assert_eq!(keys, ["regions"], "Coder's shape, nothing added");
    assert_eq!(
        names(&answer.body),
        ["ap-south", "EU-central", "eu-west", "sa-east", "us-east"]
    );
}

#[tokio::test]
async fn a_status_filter_keeps_only_those_statuses_and_says_how_many_matched() {
    let (app, _ok) = fleet().await;
    let answer = app
        .admin_get("/api/v2/workspaceproxies?status=unreachable,unregistered")
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(names(&answer.body), ["ap-south", "sa-east", "us-east"]);
    assert_eq!(answer.body["total"], 3);
    assert_eq!(answer.body["offset"], 0);
    assert_eq!(answer.body["limit"], 100);
}

#[tokio::test]
async fn a_name_filter_matches_part_of_a_name_in_any_case() {
    let (app, _ok) = fleet().await;
    let answer = app.admin_get("/api/v2/workspaceproxies?name=eU-").await;
    assert_eq!(names(&answer.body), ["EU-central", "eu-west"]);
    assert_eq!(answer.body["total"], 2);
}

#[tokio::test]
async fn a_page_is_a_slice_of_the_sorted_matches() {
    let (app, _ok) = fleet().await;
    let answer = app
        .admin_get("/api/v2/workspaceproxies?sort=-name&offset=1&limit=2")
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(names(&answer.body), ["sa-east", "eu-west"]);
    assert_eq!(answer.body["total"], 5);
    assert_eq!(answer.body["offset"], 1);
    assert_eq!(answer.body["limit"], 2);
    let past = app.admin_get("/api/v2/workspaceproxies?offset=10").await;
    assert_eq!(names(&past.body), Vec::<String>::new());
    assert_eq!(past.body["total"], 5);
}

#[tokio::test]
async fn sorting_by_status_puts_the_worst_last_and_descending_first() {
    let (app, _ok) = fleet().await;
    let worst_first = app.admin_get("/api/v2/workspaceproxies?sort=-status").await;
    assert_eq!(
        names(&worst_first.body),
        ["us-east", "ap-south", "sa-east", "EU-central", "eu-west"]
    );
    let by_latency = app.admin_get("/api/v2/workspaceproxies?sort=latency").await;
    let listed = names(&by_latency.body);
    assert_eq!(
        &listed[3..],
        ["ap-south", "sa-east"],
        "never checked comes last: {listed:?}"
    );
}

#[tokio::test]
async fn a_bad_parameter_is_a_400_naming_it() {
    let (app, _ok) = fleet().await;
    for (query, param) in [
        ("status=down", "status"),
        ("sort=size", "sort"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("offset=-1", "offset"),
    ] {
        let answer = app
            .admin_get(&format!("/api/v2/workspaceproxies?{query}"))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            answer.body
        );
        assert_eq!(answer.message(), "Invalid query parameter.", "{query}");
        assert_eq!(answer.first_field(), param, "{query}");
    }
}

#[tokio::test]
async fn before_the_first_sweep_a_page_is_made_from_the_store() {
    let (app, _ok) = unswept_fleet().await;
    let answer = app
        .admin_get("/api/v2/workspaceproxies?sort=-status&limit=3")
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(names(&answer.body), ["us-east", "ap-south", "sa-east"]);
    assert_eq!(answer.body["total"], 5);
}

#[tokio::test]
async fn a_renamed_proxy_shows_its_new_name_in_a_page_at_once() {
    let (app, _ok) = fleet().await;
    let renamed = app
        .admin_send(
            reqwest::Method::PATCH,
            "/api/v2/workspaceproxies/sa-east",
            &serde_json::json!({"display_name": "Sao Paulo"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    let answer = app
        .admin_get("/api/v2/workspaceproxies?status=unregistered")
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let shown: Vec<&str> = answer.body["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .map(|proxy| proxy["display_name"].as_str().expect("a display name"))
        .collect();
    assert!(shown.contains(&"Sao Paulo"), "{shown:?}");
}

#[tokio::test]
async fn a_deleted_proxy_leaves_the_pages_at_once() {
    let (app, _ok) = fleet().await;
    let before = app
        .admin_get("/api/v2/workspaceproxies?sort=-status&limit=1")
        .await;
    assert_eq!(names(&before.body), ["us-east"]);
    let gone = app.admin_delete("/api/v2/workspaceproxies/us-east").await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    let after = app
        .admin_get("/api/v2/workspaceproxies?sort=-status&limit=1")
        .await;
    assert_eq!(names(&after.body), ["ap-south"]);
    assert_eq!(after.body["total"], 4);
}

//! Agents of other vantages: their assignment, their results judged by the
//! quorum, and the refusals of what a well-behaved agent never sends.

use crate::helpers::{Answer, TestApp, answer, eventually, registration, spawn_app, spawn_running};
use proxyhealth_sim::Kind;
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

const RESULTS: &str = "/api/v2/proxyhealth/agent/results";
const ASSIGNMENT: &str = "/api/v2/proxyhealth/agent/assignment";

/// Creates a vantage through the API; returns its agent token.
async fn vantage(app: &TestApp, name: &str) -> String {
    let created = app
        .admin_send(
            reqwest::Method::POST,
            "/api/v2/proxyhealth/vantages",
            &json!({ "name": name }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["agent_token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

async fn assignment(app: &TestApp, token: &str, agent: &str) -> Answer {
    answer(
        app.client
            .get(app.url(ASSIGNMENT))
            .bearer_auth(token)
            .header("Proxyhealth-Agent-Id", agent)
            .header("Proxyhealth-Agent-Version", "test")
            .send()
            .await
            .expect("send"),
    )
    .await
}

async fn send_results(app: &TestApp, token: &str, results: Value) -> Answer {
    answer(
        app.client
            .post(app.url(RESULTS))
            .bearer_auth(token)
            .header("Proxyhealth-Agent-Id", "agent-1")
            .header("Proxyhealth-Agent-Version", "test")
            .json(&json!({ "results": results }))
            .send()
            .await
            .expect("send"),
    )
    .await
}

fn now_text(offset_s: i64) -> String {
    (OffsetDateTime::now_utc() + time::Duration::seconds(offset_s))
        .format(&Rfc3339)
        .expect("a time formats")
}

fn result(id: Uuid, status: &str, offset_s: i64) -> Value {
    let errors: Vec<&str> = if status == "ok" {
        vec![]
    } else {
        vec!["connection refused"]
    };
    json!({
        "proxy_id": id,
        "status": status,
        "latency_ms": if status == "ok" { json!(42) } else { Value::Null },
        "checked_at": now_text(offset_s),
        "report": { "errors": errors, "warnings": [] },
    })
}

/// A service with one proxy that is `ok` from the service's own vantage.
async fn one_healthy_proxy() -> (TestApp, Uuid, proxyhealth_sim::SimProxy) {
    let (app, _store) = spawn_app().await;
    let sim = proxyhealth_sim::spawn(Kind::Ok).await.expect("sim");
    let (id, token) = app.create_proxy("sydney").await;
    app.register(&token, &registration(sim.url())).await;
    app.wait_for_status(id, "ok").await;
    (app, id, sim)
}

#[tokio::test]
async fn an_agent_is_assigned_every_registered_proxy_with_the_services_probe_settings() {
    let (app, id, _sim) = one_healthy_proxy().await;
    app.create_proxy("never-registered").await;
    let token = vantage(&app, "ap-south").await;
    let answer = assignment(&app, &token, "agent-1").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["vantage"], "ap-south");
    assert_eq!(answer.body["probe"]["timeout_ms"], 2000);
    assert_eq!(answer.body["probe"]["redirects"], "none");
    let proxies = answer.body["proxies"].as_array().expect("a list");
    assert_eq!(proxies.len(), 1, "only registered proxies: {proxies:?}");
    assert_eq!(proxies[0]["id"], json!(id));
}

#[tokio::test]
async fn two_agents_of_one_vantage_share_its_proxies_instead_of_doubling_them() {
    let (app, _store) = spawn_app().await;
    let sim = proxyhealth_sim::spawn(Kind::Ok).await.expect("sim");
    for n in 0..20 {
        let (_, token) = app.create_proxy(&format!("p{n}")).await;
        app.register(&token, &registration(sim.url())).await;
    }
    app.engine.force_update().await.expect("a sweep");
    let token = vantage(&app, "eu-west").await;
    // both are seen before either asks again
    assignment(&app, &token, "agent-a").await;
    assignment(&app, &token, "agent-b").await;
    let a = assignment(&app, &token, "agent-a").await;
    let b = assignment(&app, &token, "agent-b").await;
    let ids = |answer: &Answer| -> Vec<String> {
        answer.body["proxies"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|p| p["id"].as_str().expect("an id").to_owned())
            .collect()
    };
    let (a, b) = (ids(&a), ids(&b));
    assert_eq!(a.len() + b.len(), 20, "every proxy once: {a:?} {b:?}");
    assert!(a.iter().all(|id| !b.contains(id)), "no proxy twice");
    assert!(!a.is_empty() && !b.is_empty(), "both have a share");
}

#[tokio::test]
async fn a_failure_seen_from_one_of_three_vantages_is_a_partial_outage_that_stays_ok() {
    let (app, id, _sim) = one_healthy_proxy().await;
    let ap = vantage(&app, "ap-south").await;
    let us = vantage(&app, "us-east").await;
    assert_eq!(
        send_results(&app, &ap, json!([result(id, "unreachable", 0)]))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        send_results(&app, &us, json!([result(id, "ok", 0)]))
            .await
            .status,
        StatusCode::OK
    );
    let proxy = app
        .admin_get(&format!("/api/v2/workspaceproxies/{id}"))
        .await;
    assert_eq!(proxy.body["status"]["status"], "ok");
    assert_eq!(proxy.body["status"]["report"]["errors"], json!([]));
    assert_eq!(
        proxy.body["status"]["report"]["warnings"][0],
        "partial outage: failing from 1 of 3 vantages: ap-south (unreachable: connection refused)"
    );
    let vantages: Vec<(&str, &str)> = proxy.body["vantages"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| {
            (
                v["vantage"].as_str().unwrap_or(""),
                v["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        vantages,
        [
            ("local", "ok"),
            ("ap-south", "unreachable"),
            ("us-east", "ok")
        ]
    );
    assert_eq!(proxy.body["vantages"][2]["latency_ms"], 42);
}

#[tokio::test]
async fn a_failure_seen_from_two_of_three_vantages_is_down_overall_and_for_coders_clients() {
    let (app, id, _sim) = one_healthy_proxy().await;
    let ap = vantage(&app, "ap-south").await;
    let us = vantage(&app, "us-east").await;
    send_results(&app, &ap, json!([result(id, "unreachable", 0)])).await;
    send_results(&app, &us, json!([result(id, "unreachable", 0)])).await;
    let proxy = app
        .admin_get(&format!("/api/v2/workspaceproxies/{id}"))
        .await;
    assert_eq!(proxy.body["status"]["status"], "unreachable");
    assert_eq!(
        proxy.body["status"]["report"]["errors"][0],
        "unreachable from 2 of 3 vantages: ap-south (unreachable: connection refused); \
         us-east (unreachable: connection refused)"
    );
    let regions = app.get("/api/v2/regions").await;
    assert_eq!(regions.body["regions"][0]["healthy"], false);
}

#[tokio::test]
async fn results_an_agent_should_not_send_are_refused_counted_and_change_nothing() {
    let (app, id, _sim) = one_healthy_proxy().await;
    let ap = vantage(&app, "ap-south").await;
    assert_eq!(
        send_results(&app, &ap, json!([result(id, "ok", 0)]))
            .await
            .status,
        StatusCode::OK
    );

    let stranger = Uuid::new_v4();
    let refused = send_results(&app, &ap, json!([result(stranger, "unreachable", 0)])).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.message(), "Some results were refused.");
    assert_eq!(refused.first_field(), "results[0]");
    assert_eq!(
        refused.body["validations"][0]["detail"],
        format!("not_assigned: proxy {stranger} is not assigned to this vantage")
    );

    let future = send_results(&app, &ap, json!([result(id, "unreachable", 3600)])).await;
    assert_eq!(future.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        future.body["validations"][0]["detail"]
            .as_str()
            .unwrap_or("")
            .starts_with("future: ")
    );

    let older = send_results(&app, &ap, json!([result(id, "unreachable", -600)])).await;
    assert_eq!(older.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        older.body["validations"][0]["detail"]
            .as_str()
            .unwrap_or("")
            .starts_with("older: ")
    );

    let many: Vec<Value> = (0..2001).map(|_| result(id, "ok", 0)).collect();
    let oversized = send_results(&app, &ap, Value::Array(many)).await;
    assert_eq!(oversized.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(oversized.message(), "Too many results in one batch.");

    let proxy = app
        .admin_get(&format!("/api/v2/workspaceproxies/{id}"))
        .await;
    assert_eq!(
        proxy.body["vantages"][1]["status"], "ok",
        "nothing refused was taken"
    );
    let text = answer_text(&app, "/metrics").await;
    for outcome in ["accepted", "not_assigned", "future", "older", "oversized"] {
        let series = format!(
            "proxyhealth_agent_results_total{{outcome=\"{outcome}\",vantage=\"ap-south\"}} 1"
        );
        assert!(text.contains(&series), "{series} in:\n{text}");
    }
}

async fn answer_text(app: &TestApp, path: &str) -> String {
    app.client
        .get(app.url(path))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text")
}

#[tokio::test]
async fn an_agent_token_opens_no_admin_route_and_the_admin_token_no_agent_route() {
    let (app, _store) = spawn_app().await;
    let token = vantage(&app, "ap-south").await;
    let admin_route = answer(
        app.client
            .get(app.url("/api/v2/workspaceproxies"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(admin_route.status, StatusCode::FORBIDDEN);
    assert!(
        admin_route.detail().contains("an agent token only fetches"),
        "{}",
        admin_route.detail()
    );
    let with_admin = assignment(&app, crate::helpers::ADMIN, "agent-1").await;
    assert_eq!(with_admin.status, StatusCode::UNAUTHORIZED);
    assert_eq!(with_admin.message(), "Invalid agent token.");
}

#[tokio::test]
async fn a_batch_with_some_refused_results_takes_the_others() {
    let (app, id, _sim) = one_healthy_proxy().await;
    let ap = vantage(&app, "ap-south").await;
    let stranger = Uuid::new_v4();
    let mixed = send_results(
        &app,
        &ap,
        json!([result(stranger, "ok", 0), result(id, "unreachable", 0)]),
    )
    .await;
    assert_eq!(mixed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        mixed.detail(),
        "1 of 2 results were taken; the others were refused and are counted (see validations)."
    );
    let proxy = app
        .admin_get(&format!("/api/v2/workspaceproxies/{id}"))
        .await;
    assert_eq!(proxy.body["vantages"][1]["status"], "unreachable");
}

#[tokio::test]
async fn a_deleted_vantages_token_is_refused_in_words_and_its_results_stop_counting() {
    let (app, id, _sim) = one_healthy_proxy().await;
    let ap = vantage(&app, "ap-south").await;
    let us = vantage(&app, "us-east").await;
    send_results(&app, &ap, json!([result(id, "unreachable", 0)])).await;
    send_results(&app, &us, json!([result(id, "unreachable", 0)])).await;
    app.wait_for_status(id, "unreachable").await;
    let deleted = app
        .admin_delete("/api/v2/proxyhealth/vantages/ap-south")
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    let refused = assignment(&app, &ap, "agent-1").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.detail(),
        "the agent token's vantage does not exist (deleted?)"
    );
    // one of two fresh vantages failing is not a majority of them
    let proxy = app.wait_for_status(id, "ok").await;
    let names: Vec<&str> = proxy.body["vantages"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|v| v["vantage"].as_str())
        .collect();
    assert_eq!(names, ["local", "us-east"]);
}

#[tokio::test]
async fn the_vantages_list_shows_each_vantages_agents_and_whether_it_is_live() {
    let (app, id, _sim) = one_healthy_proxy().await;
    let ap = vantage(&app, "ap-south").await;
    vantage(&app, "quiet").await;
    assignment(&app, &ap, "agent-1").await;
    send_results(&app, &ap, json!([result(id, "ok", -2)])).await;
    let list = app.admin_get("/api/v2/proxyhealth/vantages").await;
    assert_eq!(list.body["own"], "local");
    assert_eq!(list.body["quorum"], "majority");
    let ap_south = &list.body["vantages"][0];
    assert_eq!(ap_south["name"], "ap-south");
    assert_eq!(ap_south["liveness"]["live"], true);
    assert_eq!(ap_south["liveness"]["agents"][0]["id"], "agent-1");
    assert_eq!(ap_south["liveness"]["agents"][0]["assigned"], 1);
    assert!(
        ap_south["liveness"]["agents"][0]["lag_ms"]
            .as_u64()
            .expect("a lag")
            >= 2000
    );
    let quiet = &list.body["vantages"][1];
    assert_eq!(quiet["liveness"]["live"], false);
    assert_eq!(quiet["liveness"]["agents"], json!([]));
}

#[tokio::test]
async fn each_vantages_view_of_a_proxy_is_a_series_of_its_own() {
    let (app, id, _sim) = one_healthy_proxy().await;
    let ap = vantage(&app, "ap-south").await;
    send_results(&app, &ap, json!([result(id, "unreachable", 0)])).await;
    let text = answer_text(&app, "/metrics").await;
    for series in [
        format!("proxyhealth_vantage_check_results{{proxy_id=\"{id}\",vantage=\"ap-south\"}} -2"),
        format!("proxyhealth_vantage_check_results{{proxy_id=\"{id}\",vantage=\"local\"}} 1"),
        "proxyhealth_vantage_up{vantage=\"ap-south\"} 1".to_owned(),
        // one failing vantage of two fresh ones is not a majority
        format!("coderd_proxyhealth_health_check_results{{proxy_id=\"{id}\"}} 1"),
    ] {
        assert!(text.contains(&series), "{series} in:\n{text}");
    }
}

#[tokio::test]
async fn a_vantages_history_of_a_proxy_shows_its_own_status_changes_and_latency() {
    let (app, id, _sim) = one_healthy_proxy().await;
    let ap = vantage(&app, "ap-south").await;
    // three batches: ok, then unreachable, then ok again; the second sent
    // twice (an answer lost) counts once
    let down = result(id, "unreachable", -10);
    for batch in [
        result(id, "ok", -20),
        down.clone(),
        down,
        result(id, "ok", 0),
    ] {
        let sent = send_results(&app, &ap, json!([batch])).await;
        assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    }
    let history = app
        .admin_get("/api/v2/workspaceproxies/sydney/vantages/AP-South/history?window=24h")
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    assert_eq!(history.body["proxy_id"], json!(id));
    assert_eq!(history.body["vantage"], "ap-south");
    assert_eq!(history.body["window"], "24h");
    assert_eq!(history.body["status_at_start"], Value::Null);
    assert_eq!(history.body["checks"], 3, "{}", history.body);
    assert_eq!(history.body["ok_checks"], 2);
    let buckets = history.body["buckets"].as_array().expect("buckets");
    let unreachable: u64 = buckets
        .iter()
        .map(|b| b["unreachable"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(unreachable, 1);
    assert!(
        buckets.iter().any(|b| b["latency_max_ms"] == 42.0),
        "the agent's latency is in its own hours: {buckets:?}"
    );
    let changes: Vec<(Value, Value)> = history.body["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .map(|t| (t["from"].clone(), t["to"].clone()))
        .collect();
    assert_eq!(
        changes,
        [
            (Value::Null, json!("ok")),
            (json!("ok"), json!("unreachable")),
            (json!("unreachable"), json!("ok")),
        ]
    );
    assert_eq!(
        history.body["transitions"][1]["report"]["errors"],
        json!(["connection refused"])
    );
    // the overall history did not change: the quorum kept the proxy ok
    let overall = app
        .admin_get("/api/v2/workspaceproxies/sydney/history")
        .await;
    let overall_changes: Vec<&str> = overall.body["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .filter_map(|t| t["to"].as_str())
        .collect();
    assert!(
        !overall_changes.contains(&"unreachable"),
        "{overall_changes:?}"
    );
}

#[tokio::test]
async fn a_vantage_history_names_what_is_wrong_with_the_vantage_asked_for() {
    let (app, _id, _sim) = one_healthy_proxy().await;
    let unknown = app
        .admin_get("/api/v2/workspaceproxies/sydney/vantages/nowhere/history")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    assert_eq!(unknown.body["message"], "no vantage named \"nowhere\"");
    let bad = app
        .admin_get("/api/v2/workspaceproxies/sydney/vantages/no%20way/history")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert_eq!(bad.body["message"], "Invalid vantage name.");
    assert_eq!(bad.body["validations"][0]["field"], "vantage");
    let window = app
        .admin_get("/api/v2/workspaceproxies/sydney/vantages/nowhere/history?window=5d")
        .await;
    assert_eq!(window.status, StatusCode::BAD_REQUEST);
    assert_eq!(window.body["validations"][0]["field"], "window");
}

#[tokio::test]
async fn a_partial_outage_is_an_incident_naming_its_vantages_until_it_is_over() {
    let (app, id, _sim) = one_healthy_proxy().await;
    let ap = vantage(&app, "ap-south").await;
    let us = vantage(&app, "us-east").await;
    send_results(&app, &us, json!([result(id, "ok", -5)])).await;
    send_results(&app, &ap, json!([result(id, "unreachable", -4)])).await;
    let open = app.admin_get("/api/v2/proxyhealth/incidents").await;
    assert_eq!(open.status, StatusCode::OK, "{}", open.body);
    let incidents = open.body["incidents"].as_array().expect("incidents");
    let partial: Vec<&Value> = incidents
        .iter()
        .filter(|i| i["kind"] == "partial")
        .collect();
    assert_eq!(partial.len(), 1, "{}", open.body);
    assert_eq!(partial[0]["proxy_id"], json!(id));
    assert_eq!(partial[0]["open"], true);
    assert_eq!(partial[0]["vantages"], json!(["ap-south"]));
    assert_eq!(partial[0]["worst_status"], "ok");
    assert_eq!(
        partial[0]["first_error"],
        "partial outage: failing from 1 of 3 vantages: ap-south (unreachable: connection refused)"
    );
    // the overall status never changed: no outage incident beside it
    assert!(
        incidents
            .iter()
            .all(|i| i["kind"] != "outage" || i["open"] == false),
        "{}",
        open.body
    );

    send_results(&app, &ap, json!([result(id, "ok", 0)])).await;
    let over = app.admin_get("/api/v2/proxyhealth/incidents").await;
    let partial: Vec<&Value> = over.body["incidents"]
        .as_array()
        .expect("incidents")
        .iter()
        .filter(|i| i["kind"] == "partial")
        .collect();
    assert_eq!(partial.len(), 1, "the same incident, ended: {}", over.body);
    assert_eq!(partial[0]["open"], false);
    assert_eq!(partial[0]["ended_by"], "recovered");
    assert!(partial[0]["ended_at"].is_string());
    // and the proxy's own history lists it too
    let history = app
        .admin_get("/api/v2/workspaceproxies/sydney/history")
        .await;
    assert!(
        history.body["incidents"]
            .as_array()
            .expect("incidents")
            .iter()
            .any(|i| i["kind"] == "partial" && i["vantages"] == json!(["ap-south"])),
        "{}",
        history.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_replica_lists_an_agent_that_reaches_one_of_them_with_its_liveness() {
    let Some(db) = proxyhealth_testkit::TestDatabase::create().await else {
        return;
    };
    // two `serve` replicas on one database, checking every second
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let store =
            proxyhealth_store::open_store(&db.url, proxyhealth_store::OpenOptions::default())
                .await
                .expect("open postgres");
        replicas.push(spawn_running(store, std::time::Duration::from_secs(1)).await);
    }
    let (a, b) = (&replicas[0], &replicas[1]);
    let sim = proxyhealth_sim::spawn(Kind::Ok).await.expect("sim");
    let (id, token) = a.create_proxy("sydney").await;
    a.register(&token, &registration(sim.url())).await;
    b.wait_for_status(id, "ok").await;
    // the agent reaches replica a only
    let ap = vantage(a, "ap-south").await;
    let assigned = assignment(a, &ap, "agent-1").await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.body);
    let listed = eventually(
        std::time::Duration::from_secs(10),
        "replica b lists the agent live",
        async || {
            // the agent goes on sending, as it does every interval
            let sent = send_results(a, &ap, json!([result(id, "ok", -1)])).await;
            assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
            let list = b.admin_get("/api/v2/proxyhealth/vantages").await;
            let ap_south = list.body["vantages"][0].clone();
            if ap_south["liveness"]["live"] == true
                && ap_south["liveness"]["agents"][0]["live"] == true
            {
                Ok(ap_south)
            } else {
                Err(list.body)
            }
        },
    )
    .await;
    assert_eq!(listed["name"], "ap-south");
    let agent = &listed["liveness"]["agents"][0];
    assert_eq!(agent["id"], "agent-1");
    assert_eq!(agent["version"], "test");
    assert_eq!(agent["assigned"], 1);
    assert!(agent["lag_ms"].as_u64().expect("a lag") >= 1000, "{agent}");
    assert!(listed["liveness"]["last_result_at"].is_string(), "{listed}");
    // and the gauge on replica b says the same
    let text = b
        .client
        .get(b.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("proxyhealth_vantage_up{vantage=\"ap-south\"} 1"),
        "{text}"
    );
    drop(replicas);
    db.drop_db().await;
}

//! The admin routes and `/api/v2/regions`.

use crate::helpers::{TestApp, registration, spawn_app};
use proxyhealth_sim::{Kind, SimProxy};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

async fn registered_proxy(app: &TestApp, name: &str, kind: Kind) -> (Uuid, String, SimProxy) {
    let sim = proxyhealth_sim::spawn(kind).await.expect("sim proxy");
    let (id, token) = app.create_proxy(name).await;
    let answer = app.register(&token, &registration(sim.url())).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    (id, token, sim)
}

/// The value of a counter line in the metrics text, 0 when absent.
pub fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_created_proxy_is_unregistered_with_a_token_shown_once() {
    let (app, _) = spawn_app().await;
    let answer = app
        .admin_send(
            Method::POST,
            "/api/v2/workspaceproxies",
            &json!({"name": "eu-west", "display_name": "EU West", "icon": "/emojis/1f1ea-1f1fa.png"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let proxy = &answer.body["proxy"];
    assert_eq!(proxy["name"], "eu-west");
    assert_eq!(proxy["display_name"], "EU West");
    assert_eq!(proxy["icon_url"], "/emojis/1f1ea-1f1fa.png");
    assert_eq!(proxy["status"]["status"], "unregistered");
    assert_eq!(
        proxy["status"]["report"],
        json!({"errors": [], "warnings": []})
    );
    assert_eq!(proxy["healthy"], false);
    assert_eq!(proxy["derp_enabled"], true);
    assert_eq!(proxy["deleted"], false);
    let token = answer.body["proxy_token"].as_str().expect("token");
    let (id, secret) = token.split_once(':').expect("uuid:secret");
    assert_eq!(id, proxy["id"].as_str().expect("id"));
    assert_eq!(secret.len(), 64);

    let again = app.admin_get("/api/v2/workspaceproxies/eu-west").await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["status"]["status"], "unregistered");
    assert!(again.body.get("proxy_token").is_none());
}

#[tokio::test]
async fn the_list_is_ordered_by_name_and_found_by_id_or_name() {
    let (app, _) = spawn_app().await;
    let (b, _) = app.create_proxy("bravo").await;
    let (a, _) = app.create_proxy("alpha").await;
    app.create_proxy("Charlie").await;
    let list = app.admin_get("/api/v2/workspaceproxies").await;
    assert_eq!(list.status, StatusCode::OK);
    let names: Vec<_> = list.body["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_owned())
        .collect();
    assert_eq!(names, ["alpha", "bravo", "Charlie"]);
    let by_id = app
        .admin_get(&format!("/api/v2/workspaceproxies/{a}"))
        .await;
    assert_eq!(by_id.body["name"], "alpha");
    let by_name = app.admin_get("/api/v2/workspaceproxies/bravo").await;
    assert_eq!(by_name.body["id"], b.to_string());
}

#[tokio::test]
async fn a_proxy_not_checked_yet_is_unknown_at_the_zero_time() {
    let (app, store) = spawn_app().await;
    // Created behind the service's back: the engine has not seen it.
    use proxyhealth_store::{NewProxy, ProxyStore};
    store
        .create_proxy(NewProxy {
            name: "quiet".into(),
            ..NewProxy::default()
        })
        .await
        .expect("create");
    let answer = app.admin_get("/api/v2/workspaceproxies/quiet").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["status"]["status"], "unknown");
    assert_eq!(answer.body["status"]["checked_at"], "0001-01-01T00:00:00Z");
    assert_eq!(answer.body["status"]["latency_ms"], json!(null));
    assert_eq!(answer.body["status"]["history"], json!([]));
}

#[tokio::test]
async fn patch_renames_and_changes_display_name_and_icon() {
    let (app, _) = spawn_app().await;
    let (id, _) = app.create_proxy("eu").await;
    let answer = app
        .admin_send(
            Method::PATCH,
            "/api/v2/workspaceproxies/eu",
            &json!({"name": "eu-2", "display_name": "Europe", "icon": "/i.png"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["proxy"]["name"], "eu-2");
    assert_eq!(answer.body["proxy"]["display_name"], "Europe");
    assert_eq!(answer.body["proxy"]["icon_url"], "/i.png");
    assert_eq!(answer.body["proxy_token"], "");
    let by_new_name = app.admin_get("/api/v2/workspaceproxies/eu-2").await;
    assert_eq!(by_new_name.body["id"], id.to_string());
    let old_name = app.admin_get("/api/v2/workspaceproxies/eu").await;
    assert_eq!(old_name.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn patch_with_another_id_in_the_body_is_a_400() {
    let (app, _) = spawn_app().await;
    app.create_proxy("eu").await;
    let answer = app
        .admin_send(
            Method::PATCH,
            "/api/v2/workspaceproxies/eu",
            &json!({"id": Uuid::new_v4(), "name": "x"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.message(),
        "The id in the body is not the proxy's in the path."
    );
    assert_eq!(answer.first_field(), "id");
}

#[tokio::test]
async fn a_regenerated_token_replaces_the_old_one() {
    let (app, _) = spawn_app().await;
    let sim = proxyhealth_sim::spawn(Kind::Ok).await.expect("sim");
    let (_, old) = app.create_proxy("eu").await;
    let answer = app
        .admin_send(
            Method::PATCH,
            "/api/v2/workspaceproxies/eu",
            &json!({"regenerate_token": true}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let new = answer.body["proxy_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_ne!(new, old);
    let refused = app.register(&old, &registration(sim.url())).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.message(), "Invalid external proxy token");
    assert_eq!(refused.detail(), "Invalid proxy token secret.");
    let accepted = app.register(&new, &registration(sim.url())).await;
    assert_eq!(accepted.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_deleted_proxy_is_gone_for_every_route_and_its_token() {
    let (app, _) = spawn_app().await;
    let (id, token) = app.create_proxy("eu").await;
    let answer = app.admin_delete("/api/v2/workspaceproxies/eu").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, json!({"message": "Proxy has been deleted!"}));
    for path in [
        format!("/api/v2/workspaceproxies/{id}"),
        "/api/v2/workspaceproxies/eu".to_owned(),
    ] {
        let get = app.admin_get(&path).await;
        assert_eq!(get.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(get.message(), "Workspace proxy not found.");
        let patch = app
            .admin_send(Method::PATCH, &path, &json!({"display_name": "x"}))
            .await;
        assert_eq!(patch.status, StatusCode::NOT_FOUND, "{path}");
        let delete = app.admin_delete(&path).await;
        assert_eq!(delete.status, StatusCode::NOT_FOUND, "{path}");
    }
    let list = app.admin_get("/api/v2/workspaceproxies").await;
    assert_eq!(list.body["regions"], json!([]));
    assert!(app.engine.status_of(&id).is_none());
    let register = app
        .register(&token, &registration("http://127.0.0.1:1"))
        .await;
    assert_eq!(register.status, StatusCode::UNAUTHORIZED);
    assert_eq!(register.message(), "Invalid external proxy token");
    assert_eq!(register.detail(), "Proxy has been deleted.");
    // The name is free again.
    app.create_proxy("eu").await;
}

#[tokio::test]
async fn regions_leave_out_derp_only_proxies_and_are_healthy_only_when_ok() {
    let (app, _) = spawn_app().await;
    let (ok_id, _, _ok_sim) = registered_proxy(&app, "a-ok", Kind::Ok).await;
    let (bad_id, _, _bad_sim) = registered_proxy(&app, "b-errors", Kind::Errors).await;
    let derp_sim = proxyhealth_sim::spawn(Kind::Ok).await.expect("sim");
    let (_, derp_token) = app.create_proxy("c-derp").await;
    let mut body = registration(derp_sim.url());
    body["derp_only"] = json!(true);
    assert_eq!(
        app.register(&derp_token, &body).await.status,
        StatusCode::CREATED
    );
    app.create_proxy("d-new").await;
    app.wait_for_status(ok_id, "ok").await;
    app.wait_for_status(bad_id, "unhealthy").await;

    let regions = app.get("/api/v2/regions").await;
    assert_eq!(regions.status, StatusCode::OK);
    let list = regions.body["regions"].as_array().expect("regions");
    let seen: Vec<(&str, bool)> = list
        .iter()
        .map(|r| {
            (
                r["name"].as_str().expect("name"),
                r["healthy"].as_bool().expect("healthy"),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("a-ok", true), ("b-errors", false), ("d-new", false)]
    );
    // Coder's field order, read from the raw text (a JSON map would sort the keys).
    let raw = app
        .client
        .get(app.url("/api/v2/regions"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    let first = &raw[..raw.find('}').expect("an object")];
    let positions: Vec<usize> = [
        "id",
        "name",
        "display_name",
        "icon_url",
        "healthy",
        "path_app_url",
        "wildcard_hostname",
    ]
    .iter()
    .map(|key| first.find(&format!("\"{key}\":")).expect("key present"))
    .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{first}");
    assert_eq!(list[0]["path_app_url"], _ok_sim.url());
}

#[tokio::test]
async fn refresh_answers_with_the_statuses_of_a_sweep() {
    let (app, _) = spawn_app().await;
    let (id, _, sim) = registered_proxy(&app, "eu", Kind::Ok).await;
    app.wait_for_status(id, "ok").await;
    sim.set_kind(Kind::Errors).await.expect("set kind");
    let answer = app
        .admin_post_empty("/api/v2/workspaceproxies/refresh")
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let proxy = &answer.body["regions"][0];
    assert_eq!(proxy["status"]["status"], "unhealthy");
    assert!(
        !proxy["status"]["report"]["errors"]
            .as_array()
            .expect("errors")
            .is_empty()
    );
    let summary = app.get("/api/v2/proxyhealth/summary").await;
    assert!(
        summary.body["last_sweep"]["started_at"].is_string(),
        "{}",
        summary.body
    );
    assert_eq!(summary.body["last_sweep"]["error"], json!(null));
}

#[tokio::test]
async fn concurrent_refreshes_share_sweeps() {
    let (app, _) = spawn_app().await;
    let (id, _, _sim) =
        registered_proxy(&app, "slow", Kind::Slow(Duration::from_millis(400))).await;
    app.wait_for_status(id, "ok").await;
    let calls = (0..8).map(|_| app.admin_post_empty("/api/v2/workspaceproxies/refresh"));
    let answers = futures::future::join_all(calls).await;
    for answer in &answers {
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.body["regions"][0]["status"]["status"], "ok");
    }
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("send");
    let text = metrics.text().await.expect("text");
    let sweeps = metric_value(&text, "proxyhealth_sweeps_total{outcome=\"ok\"}");
    assert!(
        (1.0..=2.0).contains(&sweeps),
        "8 refreshes ran {sweeps} sweeps"
    );
}

#[tokio::test]
async fn metrics_name_each_proxy_and_a_deleted_proxys_series_go_with_it() {
    let (app, _) = spawn_app().await;
    let (id, _, sim) = registered_proxy(&app, "eu-west", Kind::Ok).await;
    app.wait_for_status(id, "ok").await;
    let scrape = || async {
        app.client
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("text")
    };
    let text = scrape().await;
    let info = format!(
        "proxyhealth_proxy_info{{display_name=\"EU-WEST\",name=\"eu-west\",proxy_id=\"{id}\",url=\"{}\"}} 1\n",
        sim.url()
    );
    assert!(text.contains(&info), "missing {info} in\n{text}");
    for series in [
        format!("proxyhealth_check_latency_seconds{{proxy_id=\"{id}\"}}"),
        format!("proxyhealth_last_check_timestamp_seconds{{proxy_id=\"{id}\"}}"),
    ] {
        assert!(metric_value(&text, &series) > 0.0, "{series} in\n{text}");
    }
    assert!(
        text.contains(&format!(
            "proxyhealth_status_changes_total{{proxy_id=\"{id}\",to=\"unreachable\"}} 0\n"
        )),
        "{text}"
    );

    let answer = app.admin_delete("/api/v2/workspaceproxies/eu-west").await;
    assert_eq!(answer.status, StatusCode::OK);
    let text = scrape().await;
    assert!(
        !text.contains(&id.to_string()),
        "every series of the deleted proxy is gone:\n{text}"
    );
}

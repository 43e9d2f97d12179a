//! The summary, the event stream, `/healthz`, `/metrics` and the dashboard.

use crate::helpers::{ADMIN, registration, spawn_app};
use crate::proxies::metric_value;
use proxyhealth_server::CSP;
use proxyhealth_sim::Kind;
use proxyhealth_testkit::per_client::{PerClientProxy, Treatment};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn healthz_is_ok_then_degraded_when_a_sweep_cannot_read_the_store() {
    let (app, store) = spawn_app().await;
    let ok = app.get("/healthz").await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body, json!({"status": "ok"}));
    store.set_failing(Some("database is down".to_owned()));
    let refresh = app
        .admin_post_empty("/api/v2/workspaceproxies/refresh")
        .await;
    assert_eq!(refresh.status, StatusCode::SERVICE_UNAVAILABLE);
    let degraded = app.get("/healthz").await;
    assert_eq!(degraded.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(degraded.body["status"], "degraded");
    let error = degraded.body["store_error"].as_str().expect("store_error");
    assert!(error.contains("database is down"), "{error}");
    let summary = app.get("/api/v2/proxyhealth/summary").await;
    assert!(
        summary.body["last_sweep"]["error"]
            .as_str()
            .expect("error")
            .contains("database is down")
    );
    store.set_failing(None);
    assert_eq!(
        app.admin_post_empty("/api/v2/workspaceproxies/refresh")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_summary_counts_every_status() {
    let (app, _) = spawn_app().await;
    let before = app.get("/api/v2/proxyhealth/summary").await;
    assert_eq!(before.status, StatusCode::OK);
    assert_eq!(
        before.body,
        json!({"counts": {"ok": 0, "unhealthy": 0, "unreachable": 0, "unregistered": 0, "unknown": 0},
               "total": 0, "last_sweep": null, "interval_ms": 60000, "generation": 0})
    );
    let sim = proxyhealth_sim::spawn(Kind::Ok).await.expect("sim");
    let (id, token) = app.create_proxy("a").await;
    app.register(&token, &registration(sim.url())).await;
    app.create_proxy("b").await;
    app.wait_for_status(id, "ok").await;
    let after = app.get("/api/v2/proxyhealth/summary").await;
    assert_eq!(after.body["counts"]["ok"], 1);
    assert_eq!(after.body["counts"]["unregistered"], 1);
    assert_eq!(after.body["total"], 2);
    assert!(after.body["generation"].as_u64().expect("generation") >= 3);
}

/// Reads server-sent events until one with `generation` above `after` arrives.
async fn next_sweep_event(response: &mut reqwest::Response, after: u64) -> Value {
    let mut buffer = String::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("an event within 10 s")
            .expect("read the stream")
            .expect("the stream stays open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if !block.lines().any(|line| line == "event: sweep") {
                continue;
            }
            let data: String = block
                .lines()
                .filter_map(|line| line.strip_prefix("data: "))
                .collect();
            let summary: Value = serde_json::from_str(&data).expect("summary JSON");
            if summary["generation"].as_u64().expect("generation") > after {
                return summary;
            }
        }
    }
}

#[tokio::test]
async fn the_event_stream_delivers_a_sweep_event_after_a_refresh() {
    let (app, _) = spawn_app().await;
    app.create_proxy("eu").await;
    let mut stream = app
        .client
        .get(app.url("/api/v2/proxyhealth/events"))
        .send()
        .await
        .expect("connect");
    assert_eq!(stream.status(), StatusCode::OK);
    let content_type = stream.headers()["content-type"].to_str().expect("ascii");
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let first = next_sweep_event(&mut stream, 0).await;
    let generation = first["generation"].as_u64().expect("generation");
    assert_eq!(first["last_sweep"], json!(null));
    let refresh = app
        .admin_post_empty("/api/v2/workspaceproxies/refresh")
        .await;
    assert_eq!(refresh.status, StatusCode::OK);
    let event = next_sweep_event(&mut stream, generation).await;
    assert!(event["last_sweep"]["started_at"].is_string(), "{event}");
    assert_eq!(event["counts"]["unregistered"], 1);
}

#[tokio::test]
async fn metrics_have_coders_names_and_http_metrics_by_route_template() {
    let (app, _) = spawn_app().await;
    let (id, _) = app.create_proxy("eu").await;
    app.admin_get(&format!("/api/v2/workspaceproxies/{id}"))
        .await;
    app.admin_post_empty("/api/v2/workspaceproxies/refresh")
        .await;
    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.expect("text");
    assert!(
        text.contains("coderd_proxyhealth_health_check_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "coderd_proxyhealth_health_check_results{{proxy_id=\"{id}\"}} 0"
        )),
        "{text}"
    );
    let get_one = "proxyhealth_http_requests_total{code=\"200\",method=\"GET\",route=\"/api/v2/workspaceproxies/{proxy}\"}";
    assert_eq!(metric_value(&text, get_one), 1.0, "{text}");
    assert!(
        !text.contains(&format!("route=\"/api/v2/workspaceproxies/{id}\"")),
        "raw path used as a label"
    );
    assert!(
        text.contains("proxyhealth_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn the_store_error_counters_are_exported_at_zero_before_any_error() {
    let (app, _) = spawn_app().await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    for operation in ["read", "write"] {
        let series = format!("proxyhealth_store_errors_total{{operation=\"{operation}\"}} 0");
        assert!(
            text.lines().any(|line| line == series),
            "{series} is exported: {text}"
        );
    }
}

#[tokio::test]
async fn the_dashboard_and_its_assets_are_served_with_the_csp() {
    let (app, _) = spawn_app().await;
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/style.css", "text/css; charset=utf-8"),
        ("/assets/vantages.js", "text/javascript; charset=utf-8"),
        ("/assets/vantages.css", "text/css; charset=utf-8"),
        ("/assets/favicon.svg", "image/svg+xml"),
    ] {
        let response = app.client.get(app.url(path)).send().await.expect("send");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers();
        assert_eq!(headers["content-type"], content_type, "{path}");
        assert_eq!(headers["content-security-policy"], CSP, "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["cache-control"], "no-cache", "{path}");
        assert!(!response.bytes().await.expect("body").is_empty(), "{path}");
    }
    let page = app.client.get(app.url("/")).send().await.expect("send");
    assert!(
        page.text()
            .await
            .expect("html")
            .to_lowercase()
            .contains("<html")
    );
    let missing = app.get("/assets/secret.txt").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.message(), "Asset not found.");
}

#[tokio::test]
async fn a_proxy_page_address_serves_the_dashboard_with_the_csp() {
    let (app, _) = spawn_app().await;
    let response = app
        .client
        .get(app.url("/proxies/4f2b7c1e-0000-4000-8000-000000000001"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["content-security-policy"], CSP);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    let page = response.text().await.expect("html");
    let index = app
        .client
        .get(app.url("/"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("html");
    assert_eq!(page, index, "a proxy's page is the dashboard document");
    let deeper = app.get("/proxies/a/b").await;
    assert_eq!(deeper.status, StatusCode::NOT_FOUND);
    assert_eq!(deeper.message(), "Route not found.");
}

#[tokio::test]
async fn reads_need_the_admin_token_when_public_reads_are_off() {
    let store = std::sync::Arc::new(proxyhealth_store::MemoryStore::new());
    let mut config = crate::helpers::config();
    config.public_reads = false;
    let app = crate::helpers::spawn_with(store, config).await;
    for path in [
        "/api/v2/regions",
        "/api/v2/proxyhealth/summary",
        "/healthz",
        "/metrics",
    ] {
        let open = app.get(path).await;
        assert_eq!(open.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(open.message(), "Missing admin token.", "{path}");
        let response = app
            .client
            .get(app.url(path))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    assert_eq!(app.get("/").await.status, StatusCode::OK);
}

/// Reads server-sent events until one named `name` arrives; returns its data.
async fn next_event(response: &mut reqwest::Response, buffer: &mut String, name: &str) -> Value {
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if !block.lines().any(|line| line == format!("event: {name}")) {
                continue;
            }
            let data: String = block
                .lines()
                .filter_map(|line| line.strip_prefix("data: "))
                .collect();
            return serde_json::from_str(&data).expect("event JSON");
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("an event within 10 s")
            .expect("read the stream")
            .expect("the stream stays open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// The names of the proxies in a `proxies` event's `changed`.
fn changed_names(event: &Value) -> Vec<String> {
    let mut names: Vec<String> = event["changed"]
        .as_array()
        .expect("changed")
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn the_proxies_stream_sends_only_what_changed_between_generations() {
    // Unregistered proxies: a sweep makes no request to them, so no latency
    // can change and the sweep changes nothing shown.
    let (app, _) = spawn_app().await;
    app.create_proxy("steady").await;
    let (gone_id, _) = app.create_proxy("leaving").await;
    let mut stream = app
        .client
        .get(app.url("/api/v2/proxyhealth/events?view=proxies"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("connect");
    assert_eq!(stream.status(), StatusCode::OK);
    let mut buffer = String::new();
    let start = next_event(&mut stream, &mut buffer, "proxies").await;
    let at = start["generation"].as_u64().expect("generation");
    assert_eq!(
        start["from"],
        json!(at),
        "the first event only names where it starts"
    );
    assert_eq!(changed_names(&start), Vec::<String>::new());

    // A sweep that changes nothing shown: no proxy is sent, only its time.
    let refresh = app
        .admin_post_empty("/api/v2/workspaceproxies/refresh")
        .await;
    assert_eq!(refresh.status, StatusCode::OK);
    let sweep = next_event(&mut stream, &mut buffer, "proxies").await;
    assert_eq!(sweep["from"], json!(at));
    assert!(sweep["generation"].as_u64().expect("generation") > at);
    assert!(sweep["checked_at"].is_string(), "a sweep's time: {sweep}");
    assert_eq!(changed_names(&sweep), Vec::<String>::new(), "{sweep}");
    assert_eq!(sweep["removed"], json!([]));

    // A deletion and a creation: the one gone by id, the new one whole.
    app.admin_delete(&format!("/api/v2/workspaceproxies/{gone_id}"))
        .await;
    let removed = next_event(&mut stream, &mut buffer, "proxies").await;
    assert_eq!(removed["from"], sweep["generation"], "the changes chain");
    assert_eq!(removed["removed"], json!([gone_id]));
    assert_eq!(removed["checked_at"], json!(null));
    app.create_proxy("arriving").await;
    let created = next_event(&mut stream, &mut buffer, "proxies").await;
    assert_eq!(created["from"], removed["generation"]);
    assert_eq!(changed_names(&created), ["arriving"]);
    assert_eq!(created["changed"][0]["status"]["status"], "unregistered");
    let summary = next_event(&mut stream, &mut buffer, "sweep").await;
    assert_eq!(
        summary["generation"], created["generation"],
        "the summary of the same generation follows the change"
    );
}

#[tokio::test]
async fn the_proxies_stream_sends_a_latency_that_alone_moved_as_its_id_and_value() {
    let (app, _) = spawn_app().await;
    let proxy = PerClientProxy::start().await;
    let (id, token) = app.create_proxy("eu").await;
    app.register(&token, &registration(&proxy.url)).await;
    app.wait_for_status(id, "ok").await;
    let mut stream = app
        .client
        .get(app.url("/api/v2/proxyhealth/events?view=proxies"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("connect");
    let mut buffer = String::new();
    next_event(&mut stream, &mut buffer, "proxies").await;

    // The same answer, 400 ms later: more than 100 ms and four times the
    // loopback's latency, and under the slow-answer warning's threshold.
    proxy.treat(
        "127.0.0.1".parse().expect("an address"),
        Treatment::Delay(Duration::from_millis(400)),
    );
    let refresh = app
        .admin_post_empty("/api/v2/workspaceproxies/refresh")
        .await;
    assert_eq!(refresh.status, StatusCode::OK);
    let sweep = next_event(&mut stream, &mut buffer, "proxies").await;
    assert_eq!(changed_names(&sweep), Vec::<String>::new(), "{sweep}");
    let latencies = sweep["latencies"].as_array().expect("latencies");
    assert_eq!(latencies.len(), 1, "{sweep}");
    assert_eq!(latencies[0]["id"], json!(id));
    let ms = latencies[0]["latency_ms"].as_f64().expect("latency_ms");
    assert!((400.0..5_000.0).contains(&ms), "latency {ms}");

    // The same delay again: within the tolerance of the one sent.
    let refresh = app
        .admin_post_empty("/api/v2/workspaceproxies/refresh")
        .await;
    assert_eq!(refresh.status, StatusCode::OK);
    let steady = next_event(&mut stream, &mut buffer, "proxies").await;
    assert_eq!(changed_names(&steady), Vec::<String>::new(), "{steady}");
    assert!(steady.get("latencies").is_none(), "{steady}");
}

#[tokio::test]
async fn the_proxies_stream_needs_the_admin_token_and_a_known_view() {
    let (app, _) = spawn_app().await;
    let anonymous = app.get("/api/v2/proxyhealth/events?view=proxies").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.message(), "Missing admin token.");
    let unknown = app.get("/api/v2/proxyhealth/events?view=everything").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.first_field(), "view");
}

#[tokio::test]
async fn the_regions_stream_sends_a_region_when_its_health_changes() {
    let (app, _) = spawn_app().await;
    let sim = proxyhealth_sim::spawn(Kind::Ok).await.expect("sim");
    let (id, token) = app.create_proxy("eu").await;
    let mut stream = app
        .client
        .get(app.url("/api/v2/proxyhealth/events?view=regions"))
        .send()
        .await
        .expect("connect");
    assert_eq!(stream.status(), StatusCode::OK);
    let mut buffer = String::new();
    let start = next_event(&mut stream, &mut buffer, "regions").await;
    assert_eq!(start["changed"], json!([]));
    app.register(&token, &registration(sim.url())).await;
    app.wait_for_status(id, "ok").await;
    let healthy = loop {
        let event = next_event(&mut stream, &mut buffer, "regions").await;
        if event["changed"].as_array().is_some_and(|c| !c.is_empty()) {
            break event;
        }
    };
    assert_eq!(healthy["changed"][0]["name"], "eu");
    assert_eq!(healthy["changed"][0]["healthy"], true);
    assert!(
        healthy["changed"][0].get("status").is_none(),
        "a region carries no admin status: {healthy}"
    );
}

//! `GET /api/v2/proxyhealth/replicas`, the consistency report: on a real
//! PostgreSQL (two replicas registered through the store's coordination, one
//! lagging, one disagreeing, one proxy stale), its authentication, and the
//! `single` and `independent` modes of the other stores.

use crate::helpers::{
    ADMIN, answer, app_settings, config, eventually, read_only_store, spawn_running, spawn_with,
    start, through_router,
};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use proxyhealth_core::{HealthReport, Proxy, ProxyStatus, Status};
use proxyhealth_engine::{Engine, EngineOptions};
use proxyhealth_server::replica_report::{INDEPENDENT_NOTE, SINGLE_NOTE, ThisReplica};
use proxyhealth_server::{Service, ServiceConfig};
use proxyhealth_store::{
    NewProxy, OpenOptions, ProxyStore, ReplicaInfo, ResultWrite, WriteOutcome, open_store,
};
use proxyhealth_testkit::TestDatabase;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const PATH: &str = "/api/v2/proxyhealth/replicas";
/// The engine's interval in the PostgreSQL test: stale after two of them.
const INTERVAL: Duration = Duration::from_secs(1);

fn info(hostname: &str, port: u16) -> ReplicaInfo {
    ReplicaInfo {
        hostname: hostname.to_owned(),
        version: "9.9.9-test".to_owned(),
        listen_addr: format!("127.0.0.1:{port}"),
        pid: 42,
        vantage: "local".to_owned(),
    }
}

/// `proxy` found healthy just now, as a replica writes it.
fn healthy(proxy: &Proxy) -> ProxyStatus {
    let now = time::OffsetDateTime::now_utc();
    ProxyStatus {
        proxy: proxy.clone(),
        host: None,
        status: Status::Ok,
        last_result: Status::Ok,
        streak: 1,
        report: HealthReport::default(),
        checked_at: now,
        latency: Some(Duration::from_millis(5)),
        status_changed_at: now,
        history: Vec::new(),
        check_seq: 0,
        tls_not_after: None,
        tls_days_left: None,
        vantages: Vec::new(),
    }
}

/// GETs the report through the router (no socket: no replica runtime runs, so
/// the rows are exactly the test's).
async fn get_report(router: &axum::Router, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::builder().uri(PATH);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    through_router(router, request.body(Body::empty()).expect("request")).await
}

fn replica_by_id(report: &Value, id: Uuid) -> &Value {
    report["replicas"]
        .as_array()
        .expect("replicas")
        .iter()
        .find(|r| r["id"] == id.to_string())
        .unwrap_or_else(|| panic!("replica {id} listed: {report:#}"))
}

#[tokio::test]
async fn the_report_shows_liveness_lag_disagreements_and_stale_proxies_on_postgres() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = open_store(&db.url, OpenOptions::default())
        .await
        .expect("open postgres");
    let coordination = store
        .coordination()
        .expect("a writable PostgreSQL store coordinates");

    let mut ids = Vec::new();
    let mut proxies = Vec::new();
    for name in ["eu-west", "us-east", "never-checked"] {
        let created = store
            .create_proxy(NewProxy {
                name: name.to_owned(),
                ..NewProxy::default()
            })
            .await
            .expect("create");
        coordination
            .request_check(created.proxy.id)
            .await
            .expect("check row");
        ids.push(created.proxy.id);
        proxies.push(created.proxy);
    }
    let (eu, us, never) = (ids[0], ids[1], ids[2]);

    let a = coordination
        .register(info("host-a", 1001))
        .await
        .expect("register a");
    let b = coordination
        .register(info("host-b", 1002))
        .await
        .expect("register b");
    let gone = coordination
        .register(info("host-gone", 1003))
        .await
        .expect("register gone");
    coordination.stop(gone).await.expect("stop");

    // "never-checked" has had its row for more than two intervals when the
    // report is read; the others are checked after this pause.
    tokio::time::sleep(INTERVAL * 2 + Duration::from_millis(300)).await;

    let claims = coordination
        .claim_due(a, 10, Duration::from_secs(30))
        .await
        .expect("claim");
    let writes: Vec<ResultWrite> = claims
        .iter()
        .filter(|claim| claim.proxy_id != never)
        .map(|claim| ResultWrite {
            claim: claim.clone(),
            result: healthy(
                proxies
                    .iter()
                    .find(|proxy: &&Proxy| proxy.id == claim.proxy_id)
                    .expect("a created proxy"),
            ),
            message: "healthy".to_owned(),
            next_due_in: Duration::from_secs(3600),
            transition: None,
        })
        .collect();
    assert_eq!(writes.len(), 2, "claimed {claims:?}");
    let outcomes = coordination.write_results(writes).await.expect("write");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, WriteOutcome::Accepted { .. })),
        "{outcomes:?}"
    );
    // b sees eu-west fail: the replicas disagree about it; both see us-east ok.
    coordination
        .record_observation(eu, b, Status::Unreachable, "connection refused")
        .await
        .expect("observe");
    coordination
        .record_observation(us, b, Status::Ok, "healthy")
        .await
        .expect("observe");
    let newest = coordination.newest_generation().await.expect("newest");
    assert!(newest > 0);
    // a serves everything; b is behind by the last two results.
    coordination
        .heartbeat(a, newest)
        .await
        .expect("heartbeat a");
    coordination.heartbeat(b, 0).await.expect("heartbeat b");

    let engine = Engine::builder()
        .store(store.clone())
        .options(EngineOptions {
            interval: INTERVAL,
            timeout: Duration::from_millis(500),
            ..EngineOptions::default()
        })
        .build()
        .expect("engine");
    let (service, _) = Service::new(
        engine,
        store.clone(),
        ServiceConfig {
            replica: ThisReplica::fixed(Some(a)),
            ..config()
        },
    )
    .await
    .expect("service");
    let router = service.router();

    let (status, report) = get_report(&router, Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK, "{report:#}");
    assert_eq!(report["mode"], "cluster");
    assert_eq!(report["note"], Value::Null);
    assert_eq!(report["this_replica"], a.to_string());
    assert_eq!(report["newest_generation"], newest);

    let ra = replica_by_id(&report, a);
    assert_eq!(ra["hostname"], "host-a");
    assert_eq!(ra["version"], "9.9.9-test");
    assert_eq!(ra["listen_addr"], "127.0.0.1:1001");
    assert_eq!(ra["live"], true);
    assert_eq!(ra["this"], true);
    assert_eq!(ra["stopped_at"], Value::Null);
    assert_eq!(ra["view_generation"], newest);
    assert_eq!(ra["lag_generations"], 0);
    assert_eq!(ra["lag_ms"], 0);
    assert!(
        ra["heartbeat_age_ms"].as_u64().expect("age") < 6_000,
        "{ra}"
    );
    assert!(ra["started_at"].is_string() && ra["heartbeat_at"].is_string());

    let rb = replica_by_id(&report, b);
    assert_eq!(rb["live"], true);
    assert_eq!(rb["this"], false);
    assert_eq!(rb["view_generation"], 0);
    assert_eq!(rb["lag_generations"], newest);
    assert!(rb["lag_ms"].as_u64().expect("lag") > 0, "{rb}");

    let rgone = replica_by_id(&report, gone);
    assert_eq!(rgone["live"], false, "a stopped replica is not live");
    assert!(rgone["stopped_at"].is_string(), "{rgone}");

    let disagreements = report["disagreements"].as_array().expect("disagreements");
    assert_eq!(disagreements.len(), 1, "{report:#}");
    let d = &disagreements[0];
    assert_eq!(d["proxy_id"], eu.to_string());
    assert_eq!(d["name"], "eu-west");
    let mut seen: Vec<(String, String, String, String)> = d["observations"]
        .as_array()
        .expect("observations")
        .iter()
        .map(|o| {
            assert!(o["observed_at"].is_string(), "{o}");
            (
                o["replica_id"].as_str().unwrap_or("").to_owned(),
                o["hostname"].as_str().unwrap_or("").to_owned(),
                o["status"].as_str().unwrap_or("").to_owned(),
                o["message"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    seen.sort();
    let mut expected = vec![
        (
            a.to_string(),
            "host-a".to_owned(),
            "ok".to_owned(),
            "healthy".to_owned(),
        ),
        (
            b.to_string(),
            "host-b".to_owned(),
            "unreachable".to_owned(),
            "connection refused".to_owned(),
        ),
    ];
    expected.sort();
    assert_eq!(seen, expected);

    let stale = report["stale"].as_array().expect("stale");
    assert_eq!(stale.len(), 1, "{report:#}");
    assert_eq!(stale[0]["proxy_id"], never.to_string());
    assert_eq!(stale[0]["name"], "never-checked");
    assert_eq!(stale[0]["checked_at"], Value::Null);

    // the typed shape reads it whole
    let typed: proxyhealth_api::wire::ReplicasResponse =
        serde_json::from_value(report).expect("the wire type reads the report");
    assert_eq!(typed.replicas.len(), 3);

    // admin only (the other refusals: the_report_needs_the_admin_token)
    let (status, body) = get_report(&router, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["message"], "Missing admin token.");

    drop(router);
    drop(service);
    drop(coordination);
    drop(store);
    db.drop_db().await;
}

#[tokio::test]
async fn the_report_needs_the_admin_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = format!("sqlite://{}", dir.path().join("r.db").display());
    let store = open_store(&spec, OpenOptions::default())
        .await
        .expect("open sqlite");
    let app = spawn_with(store, config()).await;

    let missing = app.get(PATH).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.message(), "Missing admin token.");
    assert!(missing.headers.contains_key("www-authenticate"));

    let wrong = app
        .client
        .get(app.url(PATH))
        .bearer_auth("not-the-token")
        .send()
        .await
        .expect("send");
    let wrong = answer(wrong).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.message(), "Invalid admin token.");

    let (_, proxy_token) = app.create_proxy("eu").await;
    let as_proxy = app
        .client
        .get(app.url(PATH))
        .header("Coder-External-Proxy-Token", &proxy_token)
        .send()
        .await
        .expect("send");
    let as_proxy = answer(as_proxy).await;
    assert_eq!(as_proxy.status, StatusCode::FORBIDDEN);
    assert_eq!(
        as_proxy.message(),
        "Proxy tokens are not allowed on this route."
    );

    let wrong_method = app
        .client
        .post(app.url(PATH))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("send");
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn sqlite_is_a_single_process_and_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = format!("sqlite://{}", dir.path().join("r.db").display());
    let store = open_store(&spec, OpenOptions::default())
        .await
        .expect("open sqlite");
    let app = spawn_with(store, config()).await;
    app.create_proxy("eu").await;

    let report = app.admin_get(PATH).await;
    assert_eq!(report.status, StatusCode::OK, "{:#}", report.body);
    assert_eq!(report.body["mode"], "single");
    assert_eq!(report.body["note"], SINGLE_NOTE);
    assert!(SINGLE_NOTE.contains("SQLite allows one serve per file"));
    assert_eq!(report.body["this_replica"], Value::Null);
    assert_eq!(report.body["replicas"], serde_json::json!([]));
    assert_eq!(report.body["disagreements"], serde_json::json!([]));
    assert_eq!(report.body["stale"], serde_json::json!([]));
    assert!(report.body["newest_generation"].is_i64());
}

#[tokio::test]
async fn a_read_only_coder_attach_probes_alone_and_says_so() {
    let app = spawn_with(Arc::new(read_only_store()), config()).await;
    let report = app.admin_get(PATH).await;
    assert_eq!(report.status, StatusCode::OK, "{:#}", report.body);
    assert_eq!(report.body["mode"], "independent");
    assert_eq!(report.body["note"], INDEPENDENT_NOTE);
    assert!(INDEPENDENT_NOTE.contains("as Coder does"));
    assert_eq!(report.body["replicas"], serde_json::json!([]));
}

#[tokio::test]
async fn a_single_process_lists_proxies_its_sweeps_left_behind_as_stale() {
    let store: Arc<dyn ProxyStore> = Arc::new(proxyhealth_store::MemoryStore::new());
    let mut settings = app_settings(store, config());
    settings.engine = EngineOptions {
        interval: Duration::from_millis(200),
        timeout: Duration::from_millis(100),
        ..EngineOptions::default()
    };
    // the sweep loop is off: after one sweep, nothing checks the proxy again
    let app = start(settings).await;
    let (id, _) = app.create_proxy("eu").await;
    app.engine.force_update().await.expect("sweep");
    let fresh = app.admin_get(PATH).await;
    assert_eq!(fresh.body["stale"], serde_json::json!([]), "just checked");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = app.admin_get(PATH).await;
    let stale = later.body["stale"].as_array().expect("stale");
    assert_eq!(stale.len(), 1, "{:#}", later.body);
    assert_eq!(stale[0]["proxy_id"], id.to_string());
    assert_eq!(stale[0]["name"], "eu");
    assert!(stale[0]["checked_at"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_follows_a_replica_that_had_to_register_again() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let store = open_store(&db.url, OpenOptions::default())
        .await
        .expect("open postgres");
    let app = spawn_running(store, Duration::from_secs(1)).await;
    let first = eventually(
        Duration::from_secs(10),
        "the replica is in the report",
        || async {
            let report = app.admin_get(PATH).await;
            report.body["this_replica"].as_str().map(str::to_owned)
        },
    )
    .await;
    // what the prune of a replica silent for an hour does
    let mut conn = db.connect().await;
    sqlx::query("DELETE FROM proxyhealth_replicas")
        .execute(&mut conn)
        .await
        .expect("delete the replica's row");
    let second = eventually(
        Duration::from_secs(15),
        "the report names the replica's new id",
        || async {
            let report = app.admin_get(PATH).await;
            let this = report.body["this_replica"].as_str().unwrap_or_default();
            let listed: Vec<&str> = report.body["replicas"]
                .as_array()
                .map(|rows| rows.iter().filter_map(|r| r["id"].as_str()).collect())
                .unwrap_or_default();
            (this != first && listed == [this]).then(|| this.to_owned())
        },
    )
    .await;
    assert_ne!(second, first);
    drop(app);
    drop(conn);
    db.drop_db().await;
}

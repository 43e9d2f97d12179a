//! The loop, the cache, on-demand sweeps and re-checks.

use crate::helpers::*;
use proxyhealth_core::Status;
use proxyhealth_engine::{Engine, EngineError, EngineOptions};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn slow_ok(
    delay_ms: u64,
) -> impl Fn(
    usize,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = axum::http::Response<axum::body::Body>> + Send>,
> + Clone
+ Send
+ Sync
+ 'static {
    move |_| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            json(200, r#"{"errors":[]}"#)
        })
    }
}

#[test]
fn an_engine_without_a_store_is_refused() {
    let err = Engine::builder().build().expect_err("no store");
    assert!(matches!(err, EngineError::MissingStore));
    assert_eq!(err.to_string(), "store is required");
}

#[test]
fn a_zero_interval_means_one_minute() {
    let engine = Engine::builder()
        .store(ListSource::with(vec![]))
        .interval(Duration::ZERO)
        .build()
        .expect("build");
    assert_eq!(engine.options().interval, Duration::from_secs(60));
    assert_eq!(engine.options().timeout, Duration::from_secs(5));
}

#[test]
fn a_zero_parallelism_is_refused_with_the_option_named() {
    let err = Engine::builder()
        .store(ListSource::with(vec![]))
        .parallelism(0)
        .build()
        .expect_err("zero parallelism");
    assert_eq!(
        err.to_string(),
        "invalid engine option parallelism: must be at least 1"
    );
}

#[test]
fn registering_the_metrics_twice_on_one_registry_is_an_error_not_a_panic() {
    let registry = prometheus::Registry::new();
    let build = || {
        Engine::builder()
            .store(ListSource::with(vec![]))
            .registry(registry.clone())
            .build()
    };
    build().expect("first engine");
    let err = build().expect_err("second engine on the same registry");
    assert!(err.to_string().starts_with("register metrics: "), "{err}");
}

#[tokio::test]
async fn a_store_error_keeps_the_previous_snapshot() {
    let server = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let p = proxy("p", &server.url);
    let source = ListSource::with(vec![p.clone()]);
    let engine = engine(source.clone());
    let before = engine.force_update().await.expect("first sweep");
    source.fail_with(Some("connection refused"));
    let err = engine.force_update().await.expect_err("the store fails");
    assert_eq!(err.to_string(), "get workspace proxies: connection refused");
    let after = engine.snapshot_arc();
    assert!(
        Arc::ptr_eq(&before, &after),
        "the snapshot must be the same one"
    );
    assert_eq!(after.get(&p.id).expect("p").status, Status::Ok);
    let state = engine.sweep_state();
    assert_eq!(
        state.last_error.as_deref(),
        Some("get workspace proxies: connection refused")
    );
    assert_eq!(state.consecutive_failures, 1);
    source.fail_with(None);
    engine.force_update().await.expect("the store is back");
    assert_eq!(engine.sweep_state().last_error, None);
}

#[tokio::test]
async fn the_first_view_is_awaited_until_the_first_sweep_ends() {
    let engine = engine(ListSource::with(vec![]));
    let before = tokio::time::timeout(Duration::ZERO, engine.first_view()).await;
    assert!(before.is_err(), "no sweep ran yet: still waiting");
    let waiting = tokio::spawn({
        let engine = engine.clone();
        async move { engine.first_view().await }
    });
    engine.force_update().await.expect("first sweep");
    let state = waiting.await.expect("join");
    assert_eq!(state.last_error, None);
    assert!(state.last_attempt_at.is_some());
}

#[tokio::test]
async fn a_failed_first_sweep_ends_the_wait_for_the_first_view_with_its_error() {
    let source = ListSource::with(vec![]);
    source.fail_with(Some("connection refused"));
    let engine = engine(source);
    engine.force_update().await.expect_err("the store fails");
    let state = tokio::time::timeout(Duration::ZERO, engine.first_view())
        .await
        .expect("a sweep already ended");
    assert_eq!(
        state.last_error.as_deref(),
        Some("get workspace proxies: connection refused")
    );
}

#[tokio::test]
async fn concurrent_force_updates_share_sweeps_that_started_after_them() {
    let server = FakeProxy::start(slow_ok(300)).await;
    let p = proxy("p", &server.url);
    let engine = engine(ListSource::with(vec![p.clone()]));
    let first = tokio::spawn({
        let engine = engine.clone();
        async move { engine.force_update().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let late: Vec<_> = (0..5)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move { engine.force_update().await })
        })
        .collect();
    let first = first.await.expect("join").expect("first sweep");
    assert_eq!(first.generation(), 1);
    for call in late {
        let snapshot = call.await.expect("join").expect("shared sweep");
        assert_eq!(
            snapshot.generation(),
            2,
            "callers that arrived during sweep 1 share sweep 2"
        );
    }
    assert_eq!(server.hits(), 2, "six callers, two sweeps");
}

#[tokio::test]
async fn the_parallelism_bounds_the_answers_read_not_the_requests_started() {
    // Three workers read the answers, but every request is started first:
    // the server has all twelve in flight at once.
    let server = FakeProxy::start(slow_ok(1000)).await;
    let proxies = (0..12)
        .map(|i| proxy(&format!("p{i}"), &server.url))
        .collect();
    let engine = engine_with(
        ListSource::with(proxies),
        EngineOptions {
            parallelism: 3,
            ..Default::default()
        },
    );
    engine.force_update().await.expect("sweep");
    assert_eq!(server.hits(), 12);
    assert_eq!(
        server
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst),
        12
    );
}

#[tokio::test]
async fn a_recheck_merges_one_proxy_and_is_not_overwritten_by_an_older_sweep() {
    // The first request is slow and bad; later ones are fast and good.
    let server = FakeProxy::start(|n| async move {
        if n == 0 {
            tokio::time::sleep(Duration::from_millis(400)).await;
            json(200, r#"{"errors":["stale"]}"#)
        } else {
            json(200, r#"{"errors":[]}"#)
        }
    })
    .await;
    let p = proxy("p", &server.url);
    let engine = engine(ListSource::with(vec![p.clone()]));
    let sweep = tokio::spawn({
        let engine = engine.clone();
        async move { engine.force_update().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let rechecked = engine.recheck(p.id).await.expect("recheck");
    assert_eq!(rechecked.status, Status::Ok);
    sweep.await.expect("join").expect("sweep");
    let status = engine.status_of(&p.id).expect("p");
    assert_eq!(
        status.status,
        Status::Ok,
        "the older sweep's result must not win"
    );
    assert_eq!(engine.snapshot().last_sweep().map(|s| s.proxies), Some(1));
}

#[tokio::test]
async fn a_recheck_of_a_new_proxy_adds_it_without_a_sweep() {
    let server = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let a = proxy("a", &server.url);
    let source = ListSource::with(vec![a.clone()]);
    let engine = engine(source.clone());
    engine.force_update().await.expect("sweep");
    let b = proxy("b", &server.url);
    source.set(vec![a.clone(), b.clone()]);
    engine.recheck(b.id).await.expect("recheck b");
    assert_eq!(server.hits(), 2, "only b was checked again");
    assert_eq!(engine.snapshot().statuses().len(), 2);
    assert_eq!(engine.snapshot().generation(), 2);
}

#[tokio::test]
async fn a_recheck_of_a_deleted_proxy_takes_it_out() {
    let a = proxy("a", "");
    let source = ListSource::with(vec![a.clone()]);
    let engine = engine(source.clone());
    engine.force_update().await.expect("sweep");
    source.update(a.id, |p| p.deleted = true);
    let err = engine.recheck(a.id).await.expect_err("deleted");
    assert_eq!(err.to_string(), format!("proxy {} not found", a.id));
    assert!(engine.snapshot().statuses().is_empty());
}

#[tokio::test]
async fn deleted_rows_are_never_checked() {
    let server = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let mut gone = proxy("gone", &server.url);
    gone.deleted = true;
    let engine = engine(ListSource::with(vec![gone]));
    engine.force_update().await.expect("sweep");
    assert!(engine.snapshot().statuses().is_empty());
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn the_host_list_holds_every_registered_proxy_whatever_its_status() {
    let ok = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let bad = FakeProxy::fixed(500, None, "").await;
    let refused = refused_url().await;
    let mut with_wildcard = proxy("wild", &ok.url);
    with_wildcard.wildcard_hostname = "*--apps.example.com".to_owned();
    let proxies = vec![
        with_wildcard,
        proxy("bad", &bad.url),
        proxy("refused", &refused),
        proxy("unregistered", ""),
        proxy("broken", "http://[::bad"),
    ];
    let engine = engine(ListSource::with(proxies));
    engine.force_update().await.expect("sweep");
    let snapshot = engine.snapshot();
    let mut hosts: Vec<(String, String)> = snapshot
        .hosts()
        .iter()
        .map(|h| (h.host.clone(), h.app_host.clone()))
        .collect();
    hosts.sort();
    let host = |url: &str| url.trim_start_matches("http://").to_owned();
    let mut expected = vec![
        (host(&ok.url), "*.example.com".to_owned()),
        (host(&bad.url), host(&bad.url)),
        (host(&refused), host(&refused)),
    ];
    expected.sort();
    assert_eq!(hosts, expected);
}

#[tokio::test]
async fn run_sweeps_at_once_then_never_two_at_a_time_and_skips_missed_ticks() {
    let server = FakeProxy::start(slow_ok(250)).await;
    let p = proxy("p", &server.url);
    let engine = engine_with(
        ListSource::with(vec![p]),
        EngineOptions {
            interval: Duration::from_millis(50),
            ..Default::default()
        },
    );
    let mut generations = engine.subscribe();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn({
        let engine = engine.clone();
        let shutdown = shutdown.clone();
        async move { engine.run(shutdown).await }
    });
    tokio::time::timeout(Duration::from_secs(2), generations.changed())
        .await
        .expect("the first sweep runs at once")
        .expect("engine alive");
    tokio::time::sleep(Duration::from_millis(800)).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), running)
        .await
        .expect("run stops on shutdown")
        .expect("join");
    assert_eq!(
        server
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "never two sweeps at a time"
    );
    let hits = server.hits();
    assert!(
        (3..=6).contains(&hits),
        "with 250 ms sweeps and 50 ms ticks, about one sweep per 250 ms, got {hits}"
    );
}

#[tokio::test]
async fn status_changes_record_when_and_latency_is_measured() {
    let server = FakeProxy::start(slow_ok(30)).await;
    let p = proxy("p", &server.url);
    let engine = engine(ListSource::with(vec![p.clone()]));
    engine.force_update().await.expect("sweep 1");
    let first = engine.status_of(&p.id).expect("p");
    assert!(first.latency.expect("latency") >= Duration::from_millis(30));
    assert_eq!(first.status_changed_at, first.checked_at);
    engine.force_update().await.expect("sweep 2");
    let second = engine.status_of(&p.id).expect("p");
    assert_eq!(
        second.status_changed_at, first.checked_at,
        "unchanged status keeps its time"
    );
    assert!(second.checked_at > first.checked_at);
    assert_eq!(second.streak, 2);
}

#[tokio::test]
async fn a_proxy_that_hung_in_the_last_sweep_is_checked_first_in_the_next() {
    // One slot, so the order the checks start in is the order the proxies
    // are asked; each proxy notes its name when asked.
    let asked = Arc::new(parking_lot::Mutex::new(Vec::<&'static str>::new()));
    let noting = |name: &'static str, hang: bool| {
        let asked = Arc::clone(&asked);
        move |_| {
            let asked = Arc::clone(&asked);
            async move {
                asked.lock().push(name);
                if hang {
                    std::future::pending::<()>().await;
                }
                json(200, r#"{"errors":[]}"#)
            }
        }
    };
    let first = FakeProxy::start(noting("first", false)).await;
    let second = FakeProxy::start(noting("second", false)).await;
    let hanging = FakeProxy::start(noting("hanging", true)).await;
    let proxies = vec![
        proxy("first", &first.url),
        proxy("second", &second.url),
        proxy("hanging", &hanging.url),
    ];
    let engine = engine_with(
        ListSource::with(proxies),
        EngineOptions {
            parallelism: 1,
            timeout: Duration::from_millis(500),
            ..Default::default()
        },
    );
    engine.force_update().await.expect("first sweep");
    assert_eq!(*asked.lock(), ["first", "second", "hanging"], "list order");
    asked.lock().clear();
    engine.force_update().await.expect("second sweep");
    let asked = asked.lock().clone();
    assert_eq!(asked.first(), Some(&"hanging"), "{asked:?}");
    assert_eq!(asked.len(), 3, "{asked:?}");
}

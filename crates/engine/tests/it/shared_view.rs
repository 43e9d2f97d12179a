//! What a cluster replica uses instead of the sweep loop: one check without
//! merging, the merged status, publishing a shared view (newer results only),
//! the view's age, and the re-check seam (background, awaited, refresh).

use crate::helpers::*;
use proxyhealth_core::{ProxyStatus, Status};
use proxyhealth_engine::{Engine, EngineOptions, RecheckRequests, SweepInfo, ViewRead};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

fn info() -> SweepInfo {
    SweepInfo {
        started_at: OffsetDateTime::now_utc(),
        duration: Duration::ZERO,
        proxies: 0,
    }
}

#[tokio::test]
async fn a_check_is_not_merged_until_a_view_publishes_it_and_an_older_result_never_wins() {
    let server = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let p = proxy("a", &server.url);
    let source = ListSource::with(vec![p.clone()]);
    let engine = engine(source);
    assert_eq!(engine.view_age(), None, "no shared view yet");

    let result = engine.check(p.clone()).await;
    assert_eq!(result.verdict.status, Status::Ok);
    assert!(
        engine.status_of(&p.id).is_none(),
        "a check alone is not published"
    );
    let mut status = engine.status_after(result);
    assert_eq!(status.status, Status::Ok);
    assert_eq!(status.history.len(), 1);

    // stored and read back by a replica, with its generation as check_seq
    let stored = serde_json::to_value(&status).expect("encode");
    let mut read: ProxyStatus = serde_json::from_value(stored).expect("decode");
    assert!(
        read.proxy.token_hashed_secret.is_empty(),
        "the token hash is never stored"
    );
    status.check_seq = 7;
    status.proxy.token_hashed_secret.clear();
    read.check_seq = 7;
    assert_eq!(read, status, "a status survives the store");
    engine.publish_view(vec![read.clone()], ViewRead::Since, info());
    assert_eq!(engine.status_of(&p.id).as_deref(), Some(&read));
    assert!(
        engine
            .view_age()
            .is_some_and(|age| age < Duration::from_secs(1))
    );

    let mut older = read.clone();
    older.check_seq = 6;
    older.status = Status::Unhealthy;
    engine.publish_view(vec![older], ViewRead::Since, info());
    assert_eq!(engine.status_of(&p.id).map(|s| s.status), Some(Status::Ok));

    // a whole view read as of an older generation keeps the newer status
    // (published while it was read); as of a newer one, a missing proxy is gone
    engine.publish_view(Vec::new(), ViewRead::Whole { as_of: 6 }, info());
    assert_eq!(engine.status_of(&p.id).map(|s| s.check_seq), Some(7));
    let mut stale = read.clone();
    stale.check_seq = 5;
    stale.status = Status::Unreachable;
    engine.publish_view(vec![stale], ViewRead::Whole { as_of: 6 }, info());
    assert_eq!(
        engine.status_of(&p.id).map(|s| (s.check_seq, s.status)),
        Some((7, Status::Ok)),
        "an older stored result never replaces a newer one"
    );
    engine.publish_view(Vec::new(), ViewRead::Whole { as_of: 7 }, info());
    assert!(engine.status_of(&p.id).is_none(), "gone from the store");

    // a replacing view replaces the set
    engine.publish_view(vec![read.clone()], ViewRead::Since, info());
    assert!(engine.status_of(&p.id).is_some());
    engine.publish_view(Vec::new(), ViewRead::Replace, info());
    assert!(engine.status_of(&p.id).is_none());
}

#[tokio::test]
async fn a_failed_view_read_keeps_the_view_and_reports_the_error() {
    let source = ListSource::with(Vec::new());
    let engine = engine(source);
    engine.view_failed("reading the shared view: down".to_owned());
    let state = engine.sweep_state();
    assert_eq!(
        state.last_error.as_deref(),
        Some("reading the shared view: down")
    );
    assert_eq!(state.consecutive_failures, 1);
    engine.publish_view(Vec::new(), ViewRead::Since, info());
    assert_eq!(engine.sweep_state().last_error, None);
}

/// Answers re-check requests the way a cluster would: checks the proxy and
/// publishes the result as a view with a higher generation; counts requests.
struct FakeCluster {
    engine: parking_lot::Mutex<Option<Engine>>,
    requests: parking_lot::Mutex<Vec<Uuid>>,
    generation: std::sync::atomic::AtomicU64,
    proxies: Vec<proxyhealth_core::Proxy>,
}

impl RecheckRequests for FakeCluster {
    fn request_recheck(&self, id: Uuid) {
        self.requests.lock().push(id);
        let Some(engine) = self.engine.lock().clone() else {
            return;
        };
        let generation = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 100;
        let proxy = self.proxies.iter().find(|p| p.id == id).cloned();
        tokio::spawn(async move {
            let Some(proxy) = proxy else { return };
            let result = engine.check(proxy).await;
            let mut status = engine.status_after(result);
            status.check_seq = generation;
            engine.publish_view(vec![status], ViewRead::Since, info());
        });
    }
}

#[tokio::test]
async fn with_recheck_requests_rechecks_and_refreshes_are_asked_of_them() {
    let server = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let a = proxy("a", &server.url);
    let b = proxy("b", &server.url);
    let source = ListSource::with(vec![a.clone(), b.clone()]);
    let cluster = Arc::new(FakeCluster {
        engine: parking_lot::Mutex::new(None),
        requests: parking_lot::Mutex::new(Vec::new()),
        generation: std::sync::atomic::AtomicU64::new(0),
        proxies: vec![a.clone(), b.clone()],
    });
    let engine = Engine::builder()
        .store(source)
        .options(EngineOptions {
            timeout: Duration::from_secs(2),
            ..EngineOptions::default()
        })
        .recheck_requests(Arc::clone(&cluster) as Arc<dyn RecheckRequests>)
        .build()
        .expect("engine");
    *cluster.engine.lock() = Some(engine.clone());

    assert!(engine.recheck_in_background(a.id));
    assert_eq!(*cluster.requests.lock(), vec![a.id]);
    assert!(
        !engine.recheck_pending(&a.id),
        "the engine runs none itself"
    );

    let status = engine.recheck(b.id).await.expect("the cluster's result");
    assert_eq!(status.status, Status::Ok);
    assert!(status.check_seq >= 100, "the result came from the cluster");
    assert_eq!(cluster.requests.lock().len(), 2);

    let hits = server.hits();
    let snapshot = engine.force_update().await.expect("refresh");
    assert_eq!(snapshot.statuses().len(), 2);
    assert_eq!(cluster.requests.lock().len(), 4, "one request per proxy");
    assert_eq!(server.hits() - hits, 2, "one check per proxy");
}

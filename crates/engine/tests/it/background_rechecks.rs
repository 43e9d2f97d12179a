//! Background re-checks of single proxies: at most one in flight per proxy, and a
//! request arriving while one runs makes it run exactly once more afterwards.

use crate::helpers::*;
use proxyhealth_core::Status;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Waits until `done` holds, failing the test after five seconds.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    proxyhealth_testkit::eventually(Duration::from_secs(5), what, async || done()).await;
}

/// A fake proxy that answers ok, its first request only once `gate` has a permit.
async fn gated_proxy(gate: &Arc<Semaphore>) -> FakeProxy {
    let gate = Arc::clone(gate);
    FakeProxy::start(move |n| {
        let gate = Arc::clone(&gate);
        async move {
            if n == 0 {
                let _permit = gate.acquire().await.expect("the gate stays open");
            }
            json(200, r#"{"errors":[]}"#)
        }
    })
    .await
}

#[tokio::test]
async fn requests_during_a_background_recheck_make_exactly_one_more_check() {
    let gate = Arc::new(Semaphore::new(0));
    let server = gated_proxy(&gate).await;
    let p = proxy("p", &server.url);
    let engine = engine(ListSource::with(vec![p.clone()]));

    assert!(
        engine.recheck_in_background(p.id),
        "the first request starts a re-check"
    );
    wait_until("the first check reached the proxy", || server.hits() == 1).await;
    for _ in 0..20 {
        assert!(
            !engine.recheck_in_background(p.id),
            "a request while a re-check runs is folded into it"
        );
    }
    assert!(engine.recheck_pending(&p.id));
    gate.add_permits(1);
    wait_until("the re-checks are done", || !engine.recheck_pending(&p.id)).await;

    assert_eq!(
        server.hits(),
        2,
        "twenty requests during one re-check make exactly one more check"
    );
    assert_eq!(engine.status_of(&p.id).expect("p").status, Status::Ok);
}

#[tokio::test]
async fn a_request_after_a_background_recheck_finished_starts_a_new_one() {
    let server = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let p = proxy("p", &server.url);
    let engine = engine(ListSource::with(vec![p.clone()]));

    assert!(engine.recheck_in_background(p.id));
    wait_until("the re-check is done", || !engine.recheck_pending(&p.id)).await;
    assert_eq!(server.hits(), 1, "one request, one check");
    assert_eq!(engine.snapshot().generation(), 1);

    assert!(
        engine.recheck_in_background(p.id),
        "a request after the re-check finished starts a new one"
    );
    wait_until("the second re-check is done", || {
        !engine.recheck_pending(&p.id)
    })
    .await;
    assert_eq!(server.hits(), 2);
    assert_eq!(engine.snapshot().generation(), 2);
}

#[tokio::test]
async fn the_check_run_again_sees_a_change_made_while_the_first_ran() {
    let gate = Arc::new(Semaphore::new(0));
    let old = gated_proxy(&gate).await;
    let new = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let p = proxy("p", &old.url);
    let source = ListSource::with(vec![p.clone()]);
    let engine = engine(source.clone());

    engine.recheck_in_background(p.id);
    wait_until("the first check reached the old address", || {
        old.hits() == 1
    })
    .await;
    // The proxy registers again at a new address while its re-check runs.
    let new_url = new.url.clone();
    source.update(p.id, move |proxy| proxy.url = new_url);
    assert!(!engine.recheck_in_background(p.id));
    gate.add_permits(1);
    wait_until("the re-checks are done", || !engine.recheck_pending(&p.id)).await;

    assert_eq!((old.hits(), new.hits()), (1, 1));
    assert_eq!(engine.status_of(&p.id).expect("p").proxy.url, new.url);
}

#[tokio::test]
async fn background_rechecks_of_different_proxies_do_not_wait_for_each_other() {
    let gate = Arc::new(Semaphore::new(0));
    let slow = gated_proxy(&gate).await;
    let fast = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let a = proxy("a", &slow.url);
    let b = proxy("b", &fast.url);
    let engine = engine(ListSource::with(vec![a.clone(), b.clone()]));

    assert!(engine.recheck_in_background(a.id));
    wait_until("a's check reached its proxy", || slow.hits() == 1).await;
    assert!(
        engine.recheck_in_background(b.id),
        "b's re-check is not folded into a's"
    );
    wait_until("b's re-check is done", || !engine.recheck_pending(&b.id)).await;
    assert_eq!(engine.status_of(&b.id).expect("b").status, Status::Ok);
    assert!(engine.recheck_pending(&a.id), "a's re-check still runs");

    gate.add_permits(1);
    wait_until("a's re-check is done", || !engine.recheck_pending(&a.id)).await;
    assert_eq!((slow.hits(), fast.hits()), (1, 1));
}

#[tokio::test]
async fn a_background_recheck_of_a_deleted_proxy_takes_it_out_and_ends() {
    let server = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let p = proxy("p", &server.url);
    let source = ListSource::with(vec![p.clone()]);
    let engine = engine(source.clone());
    engine.force_update().await.expect("sweep");
    source.update(p.id, |proxy| proxy.deleted = true);

    assert!(engine.recheck_in_background(p.id));
    wait_until("the re-check is done", || !engine.recheck_pending(&p.id)).await;
    assert!(engine.snapshot().statuses().is_empty());
    assert_eq!(server.hits(), 1, "only the sweep reached the proxy");
}

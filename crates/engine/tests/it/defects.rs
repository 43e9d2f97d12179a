//! The seed's known defects, each fixed and pinned.

use crate::helpers::*;
use axum::body::Body;
use proxyhealth_core::{Hysteresis, Proxy, Status};
use proxyhealth_engine::{Engine, EngineOptions, RedirectPolicy};
use std::time::Duration;

#[tokio::test]
async fn a_url_that_does_not_parse_is_unhealthy_and_the_sweep_goes_on() {
    let good = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let (bad, ok) = (proxy("bad", "http://[not-a-host"), proxy("ok", &good.url));
    let engine = engine(ListSource::with(vec![bad.clone(), ok.clone()]));
    engine.force_update().await.expect("the sweep succeeds");
    let status = engine.status_of(&bad.id).expect("bad");
    assert_eq!(status.status, Status::Unhealthy);
    assert!(status.host.is_none());
    assert_eq!(
        only_error(&engine, bad.id),
        "failed to parse proxy url: invalid IPv6 address"
    );
    assert_eq!(engine.status_of(&ok.id).expect("ok").status, Status::Ok);
    assert!(
        engine
            .snapshot()
            .hosts()
            .iter()
            .all(|h| !h.host.contains("not-a-host"))
    );
}

#[tokio::test]
async fn a_request_that_cannot_be_built_marks_only_its_proxy() {
    let good = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let (ftp, ok) = (proxy("ftp", "ftp://127.0.0.1:21"), proxy("ok", &good.url));
    let engine = engine(ListSource::with(vec![ftp.clone(), ok.clone()]));
    engine.force_update().await.expect("the sweep succeeds");
    assert_eq!(
        engine.status_of(&ftp.id).expect("ftp").status,
        Status::Unhealthy
    );
    assert_eq!(
        only_error(&engine, ftp.id),
        "new request: unsupported protocol scheme \"ftp\""
    );
    assert_eq!(engine.status_of(&ok.id).expect("ok").status, Status::Ok);
}

#[tokio::test]
async fn json_null_and_a_foreign_json_object_are_not_healthy() {
    let null = FakeProxy::fixed(200, Some("application/json"), "null").await;
    let foreign = FakeProxy::fixed(200, Some("application/json"), r#"{"foo":1}"#).await;
    let (a, b) = (proxy("null", &null.url), proxy("foreign", &foreign.url));
    let engine = engine(ListSource::with(vec![a.clone(), b.clone()]));
    engine.force_update().await.expect("sweep");
    assert_eq!(
        engine.status_of(&a.id).expect("a").status,
        Status::Unhealthy
    );
    assert!(only_error(&engine, a.id).ends_with(
        "failed to decode health report body: expected a JSON object with \"errors\" or \"warnings\", got null"
    ));
    assert_eq!(
        engine.status_of(&b.id).expect("b").status,
        Status::Unhealthy
    );
    assert!(only_error(&engine, b.id).ends_with(
        "expected a JSON object with \"errors\" or \"warnings\", got an object with the keys [foo]"
    ));
}

#[tokio::test]
async fn a_body_over_the_cap_is_unhealthy_and_says_so() {
    let big = format!(r#"{{"warnings":["{}"]}}"#, "x".repeat(4096));
    let big: &'static str = Box::leak(big.into_boxed_str());
    let server = FakeProxy::fixed(200, Some("application/json"), big).await;
    let p = proxy("big", &server.url);
    let engine = engine_with(
        ListSource::with(vec![p.clone()]),
        EngineOptions {
            body_cap: 1024,
            ..Default::default()
        },
    );
    engine.force_update().await.expect("sweep");
    assert_eq!(
        engine.status_of(&p.id).expect("p").status,
        Status::Unhealthy
    );
    assert_eq!(
        only_error(&engine, p.id),
        format!(
            "received a status code 200, but the health report at \"{}/healthz-report\" was not read: the body is larger than the limit of 1024 bytes (Content-Length: {})",
            server.url,
            big.len()
        )
    );
}

#[tokio::test]
async fn a_redirect_is_not_followed_by_default_and_the_location_is_named() {
    let server = FakeProxy::start(|_| async {
        axum::http::Response::builder()
            .status(302)
            .header("location", "https://elsewhere.example.com/healthz-report")
            .body(Body::empty())
            .expect("response")
    })
    .await;
    let p = proxy("redirect", &server.url);
    let engine = engine(ListSource::with(vec![p.clone()]));
    engine.force_update().await.expect("sweep");
    assert_eq!(
        engine.status_of(&p.id).expect("p").status,
        Status::Unhealthy
    );
    let error = only_error(&engine, p.id);
    assert!(error.starts_with("unexpected status code 302. "), "{error}");
    assert!(
        error.contains("\nThe proxy redirected to \"https://elsewhere.example.com/healthz-report\", which was not followed"),
        "{error}"
    );
    assert_eq!(server.hits(), 1);
}

/// An engine over `p` alone that follows same-host redirects.
fn following_redirects(p: &Proxy) -> Engine {
    engine_with(
        ListSource::with(vec![p.clone()]),
        EngineOptions {
            redirects: RedirectPolicy::SameHost,
            ..Default::default()
        },
    )
}

async fn redirecting_to(target: String) -> FakeProxy {
    FakeProxy::start(move |_| {
        let target = target.clone();
        async move {
            axum::http::Response::builder()
                .status(307)
                .header("location", target)
                .body(Body::empty())
                .expect("response")
        }
    })
    .await
}

#[tokio::test]
async fn a_same_host_redirect_is_followed_when_enabled() {
    let target = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let server = redirecting_to(format!("{}/healthz-report", target.url)).await;
    let p = proxy("redirect", &server.url);
    let engine = following_redirects(&p);
    engine.force_update().await.expect("sweep");
    assert_eq!(engine.status_of(&p.id).expect("p").status, Status::Ok);
    assert_eq!(target.hits(), 1);
}

#[tokio::test]
async fn a_followed_redirect_to_a_failing_url_names_the_url_that_answered() {
    let target = FakeProxy::fixed(500, Some("application/json"), r#"{"message":"broken"}"#).await;
    let server = redirecting_to(format!("{}/healthz-report", target.url)).await;
    let p = proxy("redirect", &server.url);
    let engine = following_redirects(&p);
    engine.force_update().await.expect("sweep");
    let error = only_error(&engine, p.id);
    assert!(
        error.contains(&format!(
            "\nError: GET {}/healthz-report: unexpected status code 500: broken",
            target.url
        )),
        "{error}"
    );
    assert_eq!(target.hits(), 1);
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed_even_when_enabled() {
    let target = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let other_host = target.url.replace("127.0.0.1", "localhost");
    let server = redirecting_to(format!("{other_host}/healthz-report")).await;
    let p = proxy("redirect", &server.url);
    let engine = following_redirects(&p);
    engine.force_update().await.expect("sweep");
    assert_eq!(
        engine.status_of(&p.id).expect("p").status,
        Status::Unhealthy
    );
    assert!(
        only_error(&engine, p.id)
            .contains(&format!("redirected to \"{other_host}/healthz-report\""))
    );
    assert_eq!(target.hits(), 0);
}

#[tokio::test]
async fn a_redirect_loop_is_unreachable_when_following() {
    let server = FakeProxy::start(|_| async {
        axum::http::Response::builder()
            .status(307)
            .header("location", "/healthz-report")
            .body(Body::empty())
            .expect("response")
    })
    .await;
    let p = proxy("loop", &server.url);
    let engine = following_redirects(&p);
    engine.force_update().await.expect("sweep");
    assert_eq!(
        engine.status_of(&p.id).expect("p").status,
        Status::Unreachable
    );
    assert!(
        only_error(&engine, p.id).contains("redirect loop"),
        "{}",
        only_error(&engine, p.id)
    );
}

// Both the fake proxies and the checker run in this test's runtime: two threads
// keep the unoptimised checks well inside the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_many_hanging_proxies_a_sweep_takes_about_one_timeout() {
    let hang = FakeProxy::start(|_| async {
        std::future::pending::<()>().await;
        json(200, "{}")
    })
    .await;
    let fast = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    // 20 of 100 hang: with the seed's 5 slots this sweep would take 4 timeouts.
    let proxies = (0..100)
        .map(|i| {
            proxy(
                &format!("p{i}"),
                if i % 5 == 0 { &hang.url } else { &fast.url },
            )
        })
        .collect();
    let engine = engine_with(
        ListSource::with(proxies),
        EngineOptions {
            timeout: Duration::from_secs(1),
            ..Default::default()
        },
    );
    let snapshot = engine.force_update().await.expect("sweep");
    let sweep = snapshot.last_sweep().expect("sweep info");
    assert_eq!(snapshot.counts()[&Status::Unreachable], 20);
    assert_eq!(snapshot.counts()[&Status::Ok], 80);
    assert!(
        sweep.duration < Duration::from_secs(2),
        "took {:?}",
        sweep.duration
    );
}

#[tokio::test]
async fn hysteresis_holds_a_change_until_enough_results_agree_and_shows_the_raw_result() {
    let server = FakeProxy::start(|n| async move {
        if n == 0 {
            json(200, r#"{"errors":[]}"#)
        } else {
            json(200, r#"{"errors":["down"]}"#)
        }
    })
    .await;
    let p = proxy("p", &server.url);
    let engine = engine_with(
        ListSource::with(vec![p.clone()]),
        EngineOptions {
            hysteresis: Hysteresis { rise: 2, fall: 2 },
            ..Default::default()
        },
    );
    engine.force_update().await.expect("sweep 1");
    assert_eq!(engine.status_of(&p.id).expect("p").status, Status::Ok);
    engine.force_update().await.expect("sweep 2");
    let held = engine.status_of(&p.id).expect("p");
    assert_eq!(
        held.status,
        Status::Ok,
        "one bad result must not flip the status"
    );
    assert_eq!(held.last_result, Status::Unhealthy);
    assert_eq!(held.report.errors, ["down"]);
    engine.force_update().await.expect("sweep 3");
    let fallen = engine.status_of(&p.id).expect("p");
    assert_eq!(fallen.status, Status::Unhealthy);
    assert_eq!(fallen.status_changed_at, fallen.checked_at);
}

#[tokio::test]
async fn without_hysteresis_every_result_sets_the_status() {
    let server = FakeProxy::start(|n| async move {
        if n % 2 == 0 {
            json(200, r#"{"errors":[]}"#)
        } else {
            json(200, r#"{"errors":["down"]}"#)
        }
    })
    .await;
    let p = proxy("p", &server.url);
    let engine = engine(ListSource::with(vec![p.clone()]));
    for expected in [Status::Ok, Status::Unhealthy, Status::Ok] {
        engine.force_update().await.expect("sweep");
        assert_eq!(engine.status_of(&p.id).expect("p").status, expected);
    }
    let history: Vec<Status> = engine
        .status_of(&p.id)
        .expect("p")
        .history
        .iter()
        .map(|h| h.status)
        .collect();
    assert_eq!(history, [Status::Ok, Status::Unhealthy, Status::Ok]);
}

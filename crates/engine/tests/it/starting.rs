//! A sweep starts its checks ahead of reading their answers: the hanging
//! proxies at the end of a long list start at once, not when the checks
//! before them have been read.

use crate::helpers::*;
use proxyhealth_core::Status;
use proxyhealth_engine::{EngineOptions, sweep_once};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

const OK_ANSWER: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 13\r\n\r\n{\"errors\":[]}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_proxies_last_in_the_list_start_before_the_quick_ones_before_them_are_read() {
    const QUICK: usize = 300;
    const HANGING: usize = 50;
    // Each hanging proxy counts the request it got; once all of them have
    // theirs, the quick proxies are allowed to answer. With checks started
    // only as answers are read (4 at a time here), the hanging ones would
    // start after the quick ones, which would never answer: every quick
    // check would time out, 4 at a time.
    let requested = Arc::new(AtomicUsize::new(0));
    let (all_requested, hanging_all_requested) = watch::channel(false);
    let all_requested = Arc::new(all_requested);
    let mut hanging = Vec::new();
    for _ in 0..HANGING {
        let (requested, all_requested) = (Arc::clone(&requested), Arc::clone(&all_requested));
        hanging.push(
            RawProxy::start(move |mut stream| {
                let (requested, all_requested) =
                    (Arc::clone(&requested), Arc::clone(&all_requested));
                async move {
                    read_head(&mut stream).await;
                    if requested.fetch_add(1, Ordering::SeqCst) + 1 == HANGING {
                        all_requested.send_replace(true);
                    }
                    std::future::pending::<()>().await;
                }
            })
            .await,
        );
    }
    let mut quick = Vec::new();
    for _ in 0..QUICK {
        let go = hanging_all_requested.clone();
        quick.push(
            RawProxy::start(move |mut stream| {
                let mut go = go.clone();
                async move {
                    read_head(&mut stream).await;
                    if go.wait_for(|all| *all).await.is_ok() {
                        let _ = stream.write_all(OK_ANSWER.as_bytes()).await;
                    }
                }
            })
            .await,
        );
    }
    let proxies: Vec<_> = quick
        .iter()
        .map(|p| proxy("quick", &p.url))
        .chain(hanging.iter().map(|p| proxy("hanging", &p.url)))
        .collect();
    let options = EngineOptions {
        parallelism: 4,
        timeout: Duration::from_secs(3),
        ..EngineOptions::default()
    };
    let results = sweep_once(proxies, &options, |_, _| {})
        .await
        .expect("the sweep runs");
    assert_eq!(requested.load(Ordering::SeqCst), HANGING);
    let (quick_results, hanging_results) = results.split_at(QUICK);
    for result in quick_results {
        assert_eq!(
            result.verdict.status,
            Status::Ok,
            "{:?}",
            result.verdict.report
        );
    }
    for result in hanging_results {
        assert_eq!(result.verdict.status, Status::Unreachable);
        let error = &result.verdict.report.errors[0];
        assert!(
            error.ends_with("timed out after 3s awaiting response headers"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn an_answer_that_arrived_while_its_check_waited_to_be_read_counts() {
    // One worker: it reads the hanging proxy's check for a whole timeout,
    // then the quick one's, started at the same moment and answered long
    // before: past its deadline, but the answer was there in time.
    let hanging = RawProxy::start(|mut stream| async move {
        read_head(&mut stream).await;
        std::future::pending::<()>().await;
    })
    .await;
    let quick = RawProxy::start(|mut stream| async move {
        read_head(&mut stream).await;
        let _ = stream.write_all(OK_ANSWER.as_bytes()).await;
        // Kept open, as a proxy that answered and waits for the checker.
        std::future::pending::<()>().await;
    })
    .await;
    let proxies = vec![proxy("hanging", &hanging.url), proxy("quick", &quick.url)];
    let options = EngineOptions {
        parallelism: 1,
        timeout: Duration::from_millis(500),
        ..EngineOptions::default()
    };
    let results = sweep_once(proxies, &options, |_, _| {})
        .await
        .expect("the sweep runs");
    assert_eq!(results[0].verdict.status, Status::Unreachable);
    assert_eq!(
        results[1].verdict.status,
        Status::Ok,
        "{:?}",
        results[1].verdict.report
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_shared_by_several_starters_checks_every_proxy_once_in_its_place() {
    // Enough checks for a starter per core, each handing on its share in
    // batches: every proxy must still get its own result, in list order,
    // and none may be left to the fallback that marks a lost check.
    const REFUSED: usize = 1_500;
    let answering = RawProxy::start(|mut stream| async move {
        read_head(&mut stream).await;
        let _ = stream.write_all(OK_ANSWER.as_bytes()).await;
    })
    .await;
    let refused = refused_url().await;
    let proxies: Vec<_> = (0..REFUSED)
        .map(|i| proxy(&format!("refused-{i}"), &refused))
        .chain(std::iter::once(proxy("answering", &answering.url)))
        .collect();
    let names: Vec<String> = proxies.iter().map(|p| p.name.clone()).collect();
    let options = EngineOptions {
        parallelism: 16,
        timeout: Duration::from_secs(3),
        ..EngineOptions::default()
    };
    let results = sweep_once(proxies, &options, |_, _| {})
        .await
        .expect("the sweep runs");
    let result_names: Vec<String> = results.iter().map(|r| r.proxy.name.clone()).collect();
    assert_eq!(result_names, names);
    let (refused_results, answering_result) = results.split_at(REFUSED);
    for result in refused_results {
        assert_eq!(result.verdict.status, Status::Unreachable);
        let error = &result.verdict.report.errors[0];
        assert!(error.contains("Connection refused"), "{error}");
    }
    assert_eq!(
        answering_result[0].verdict.status,
        Status::Ok,
        "{:?}",
        answering_result[0].verdict.report
    );
}

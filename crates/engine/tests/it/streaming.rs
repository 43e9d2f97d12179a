//! `sweep_streaming`: each check is handed on as it ends, stamped with the
//! start of its own check, while the checks after it still run.

use crate::helpers::*;
use proxyhealth_core::Status;
use proxyhealth_engine::{CheckResult, EngineOptions, sweep_streaming};
use proxyhealth_testkit::fake_proxy::json;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{Notify, mpsc};

const REPORT: &str = r#"{"errors":[],"warnings":[]}"#;

/// How long the gated proxy is held after the first result came.
const HELD: Duration = Duration::from_millis(400);

#[tokio::test]
async fn a_streamed_sweep_hands_each_result_on_as_its_check_ends_stamped_with_its_own_start() {
    // one check at a time, in list order: first, then gated (held until the
    // test has first's result), then last
    let first = FakeProxy::report(REPORT.to_owned()).await;
    let gate = Arc::new(Notify::new());
    let held = gate.clone();
    let gated = FakeProxy::start(move |_| {
        let held = held.clone();
        async move {
            held.notified().await;
            json(200, REPORT)
        }
    })
    .await;
    let last = FakeProxy::report(REPORT.to_owned()).await;
    let proxies = vec![
        proxy("first", &first.url),
        proxy("gated", &gated.url),
        proxy("last", &last.url),
    ];
    let options = EngineOptions {
        parallelism: 1,
        timeout: Duration::from_secs(10),
        ..EngineOptions::default()
    };
    let (sender, mut results) = mpsc::channel::<CheckResult>(4);
    let started = OffsetDateTime::now_utc();
    let sweep =
        tokio::spawn(async move { sweep_streaming(proxies.into(), &options, sender).await });

    let one = results.recv().await.expect("first's result");
    assert_eq!(one.proxy.name, "first");
    assert_eq!(one.verdict.status, Status::Ok);
    assert!(one.checked_at >= started, "stamped at its own start");
    // gated cannot be answered before the gate opens
    assert!(!sweep.is_finished(), "handed on before the sweep ends");

    tokio::time::sleep(HELD).await;
    gate.notify_one();
    let two = results.recv().await.expect("gated's result");
    let three = results.recv().await.expect("last's result");
    assert_eq!(
        (two.proxy.name.as_str(), three.proxy.name.as_str()),
        ("gated", "last")
    );
    assert!(
        results.recv().await.is_none(),
        "the channel ends with the sweep"
    );
    sweep
        .await
        .expect("the sweep task")
        .expect("the sweep runs");
    assert!(two.checked_at >= one.checked_at);
    assert!(
        three.checked_at - one.checked_at >= HELD,
        "last was checked after gated was let go: {} then {}",
        one.checked_at,
        three.checked_at
    );
}

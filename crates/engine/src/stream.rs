//! [`sweep_streaming`]: a one-shot sweep that hands each check on as it
//! ends, stamped with the time it started, instead of all of them at the end
//! stamped with the sweep's start. This is what an agent runs: its results
//! reach the service during the sweep, each with its own time.

use crate::error::EngineError;
use crate::options::EngineOptions;
use crate::probe::Prober;
use crate::sweep::{CheckResult, examine, internal_failure};
use futures::FutureExt;
use proxyhealth_core::Proxy;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Checks every proxy in `proxies` once with `options` (at most
/// `options.parallelism` at a time, in list order), outside any engine, and
/// sends each result into `results` as its check ends. Each result's
/// `checked_at` is the start of its own check; `check_seq` is 1.
///
/// The channel's capacity bounds what waits between the checks and the
/// receiver: a receiver that falls behind slows the checks down rather than
/// letting results pile up. When the receiver is dropped the checks stop
/// (those in flight end first). Returns when every check has ended and been
/// sent, or the receiver is gone; fails only when the HTTP client cannot be
/// built (then nothing was sent).
///
/// `proxies` is shared, not copied: a caller that checks the same list
/// every round (an agent) keeps one copy of it, and the workers share one
/// copy of `options`.
pub async fn sweep_streaming(
    proxies: Arc<[Proxy]>,
    options: &EngineOptions,
    results: mpsc::Sender<CheckResult>,
) -> Result<(), EngineError> {
    let prober = Prober::new(options)?;
    let options = Arc::new(options.clone());
    let cursor = Arc::new(AtomicUsize::new(0));
    let workers = options.parallelism.max(1).min(proxies.len());
    let mut tasks = JoinSet::new();
    for _ in 0..workers {
        let (prober, options, results) = (prober.clone(), Arc::clone(&options), results.clone());
        let (proxies, cursor) = (Arc::clone(&proxies), Arc::clone(&cursor));
        tasks.spawn(async move {
            // each worker reads every answer into the same buffer
            let mut scratch = Vec::new();
            while let Some(proxy) = proxies.get(cursor.fetch_add(1, Ordering::Relaxed)) {
                let checked_at = OffsetDateTime::now_utc();
                // This path starts its own checks.
                let mut unstarted = None;
                let check = examine(&prober, &options, proxy, &mut scratch, &mut unstarted);
                let findings = match AssertUnwindSafe(check).catch_unwind().await {
                    Ok(findings) => findings,
                    Err(_panic) => internal_failure(proxy),
                };
                let result = findings.into_result(proxy.clone(), checked_at, 1);
                if results.send(result).await.is_err() {
                    // nobody listens any more: the checks left would be lost
                    return;
                }
            }
        });
    }
    drop(results);
    while let Some(joined) = tasks.join_next().await {
        if let Err(err) = joined {
            tracing::error!(error = %err, "a sweep worker stopped unexpectedly");
        }
    }
    Ok(())
}

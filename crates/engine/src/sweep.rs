//! Checking proxies: one proxy, or all of them with bounded parallelism; and
//! [`sweep_once`], the public one-shot sweep outside any engine.

use crate::error::EngineError;
use crate::options::EngineOptions;
use crate::probe::{Probed, Prober, StartedCheck, reclaim_buffer};
use crate::starter::{self, Plan, Ticket};
use futures::FutureExt;
use proxyhealth_core::{
    Classified, HealthReport, ProbeOutcome, Proxy, ProxyHost, Status, advice, app_host_for_csp,
    classify, health_report_url, redact_report,
};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::task::JoinSet;

/// The result of checking one proxy, before it is merged into a snapshot.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// The proxy row as it was when the check started.
    pub proxy: Proxy,
    /// The proxy's hosts, when it is registered and its URL parses.
    pub host: Option<ProxyHost>,
    /// The verdict on this check alone.
    pub verdict: Classified,
    /// How long the request took; `None` when no request was made.
    pub latency: Option<Duration>,
    /// When the check started: the sweep's or re-check's start (every check
    /// of a sweep alike), or, from [`crate::sweep_streaming`], the check's own.
    pub checked_at: OffsetDateTime,
    /// Engine-wide order of the check's start.
    pub check_seq: u64,
    /// When the TLS certificate the proxy presented expires (`https://` proxies
    /// whose check got as far as the certificate); `None` otherwise.
    pub tls_not_after: Option<OffsetDateTime>,
    /// Whole days from the check to `tls_not_after`, rounded down.
    pub tls_days_left: Option<i64>,
}

/// Called as each check ends with how many have ended and how many there are
/// (a progress bar, say).
pub(crate) type Progress = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// Checks every proxy in `proxies` once with `options`, outside any engine:
/// no store, no snapshot, no metrics. This is what `proxyhealth check` runs.
///
/// `progress(done, total)` is called as each check ends, from the task that
/// ran it, with the number of checks ended so far; calls from different tasks
/// may arrive out of order, so count calls rather than trust `done` to rise.
/// The results come in the order of `proxies`, all with the same
/// `checked_at` (the sweep's start) and `check_seq` 1. Fails only when the
/// HTTP client cannot be built.
pub async fn sweep_once<F>(
    proxies: Vec<Proxy>,
    options: &EngineOptions,
    progress: F,
) -> Result<Vec<CheckResult>, EngineError>
where
    F: Fn(usize, usize) + Send + Sync + 'static,
{
    let prober = Prober::new(options)?;
    let checked_at = OffsetDateTime::now_utc();
    let progress: Progress = Arc::new(progress);
    Ok(check_all(
        &prober,
        options,
        proxies,
        None,
        checked_at,
        1,
        Some(progress),
    )
    .await)
}

/// What one check found, apart from the proxy it was about: a sweep keeps the
/// proxies it loaded and pairs them with their findings at the end, so no proxy
/// row is copied per check.
#[derive(Debug)]
pub(crate) struct Findings {
    host: Option<ProxyHost>,
    verdict: Classified,
    latency: Option<Duration>,
    tls_not_after: Option<OffsetDateTime>,
    tls_days_left: Option<i64>,
}

impl Findings {
    pub(crate) fn into_result(
        self,
        proxy: Proxy,
        checked_at: OffsetDateTime,
        check_seq: u64,
    ) -> CheckResult {
        CheckResult {
            proxy,
            host: self.host,
            verdict: self.verdict,
            latency: self.latency,
            checked_at,
            check_seq,
            tls_not_after: self.tls_not_after,
            tls_days_left: self.tls_days_left,
        }
    }
}

/// Checks one proxy. Never fails: every problem is a status with its reason.
pub(crate) async fn check_proxy(
    prober: &Prober,
    options: &EngineOptions,
    proxy: Proxy,
    checked_at: OffsetDateTime,
    check_seq: u64,
) -> CheckResult {
    examine(prober, options, &proxy, &mut Vec::new(), &mut None)
        .await
        .into_result(proxy, checked_at, check_seq)
}

/// The check itself: probe the proxy's report URL and classify the answer.
/// `scratch` lends its allocation to the response and gets it back after.
/// `started` is the check's first request when a sweep's starter sent it
/// (lent, see [`Prober::probe_reusing`]).
pub(crate) async fn examine(
    prober: &Prober,
    options: &EngineOptions,
    proxy: &Proxy,
    scratch: &mut Vec<u8>,
    started: &mut Option<StartedCheck>,
) -> Findings {
    let mut findings = Findings {
        host: None,
        verdict: Classified {
            status: Status::Unregistered,
            report: HealthReport::default(),
        },
        latency: None,
        tls_not_after: None,
        tls_days_left: None,
    };
    if !proxy.is_registered() {
        return findings;
    }
    let req_url = health_report_url(&proxy.url);
    // The report URL is the proxy URL with a path added: it parses exactly when the
    // proxy URL does, so one parse serves both.
    let outcome = match url::Url::parse(&req_url) {
        Err(err) => ProbeOutcome::InvalidUrl(err.to_string()),
        Ok(url) if url.scheme() != "http" && url.scheme() != "https" => {
            ProbeOutcome::RequestBuild(format!("unsupported protocol scheme {:?}", url.scheme()))
        }
        Ok(url) if url.host_str().is_none_or(str::is_empty) => {
            ProbeOutcome::RequestBuild(format!("no host in request URL {req_url:?}"))
        }
        Ok(url) => {
            let host = host_and_port(&url);
            findings.host = Some(ProxyHost {
                app_host: app_host_for_csp(&host, &proxy.wildcard_hostname),
                host,
            });
            let Probed {
                outcome,
                latency,
                tls_not_after,
            } = prober.probe_reusing(url, scratch, started).await;
            findings.latency = Some(latency);
            findings.tls_not_after = tls_not_after;
            outcome
        }
    };
    let mut verdict = classify(&req_url, &outcome);
    reclaim_buffer(scratch, outcome);
    // Before bounding, which could cut a password in two.
    redact_report(&mut verdict.report, &proxy.url);
    verdict.report = verdict.report.bounded(options.report_limits);
    findings.verdict = verdict;
    advise(&mut findings, options, OffsetDateTime::now_utc());
    findings
}

/// Adds the checker's own warnings to a judged check, after the proxy's
/// report was bounded (so a proxy's many warnings never push them out): a
/// TLS certificate that expires within the threshold, and an `ok` answer
/// slower than the latency threshold. Warnings never change the status.
fn advise(findings: &mut Findings, options: &EngineOptions, now: OffsetDateTime) {
    let warnings = &mut findings.verdict.report.warnings;
    if let Some(not_after) = findings.tls_not_after {
        findings.tls_days_left = Some(advice::days_left(not_after, now));
        warnings.extend(advice::expiry_warning(
            not_after,
            now,
            options.tls_expiry_warning,
        ));
    }
    if findings.verdict.status == Status::Ok
        && let (Some(latency), Some(threshold)) = (findings.latency, options.latency_warning)
    {
        warnings.extend(advice::latency_warning(latency, threshold));
    }
}

/// `host[:port]` of a URL, as Go's `url.URL.Host` (default ports are not written).
fn host_and_port(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// Checks every proxy, reading and judging at most `options.parallelism`
/// answers at once; the results come in the order of `proxies`. The checks
/// start in the order of `order` (indices into `proxies`, each once; see
/// `crate::dispatch`), or in list order without one.
///
/// The starters (`crate::starter`) start the checks ahead of the workers, on
/// threads of their own, as far as the open-files limit allows, and hand them
/// on in that order, in batches; a fixed set of worker tasks takes them in turn, reads
/// each answer and puts what it found in that proxy's slot, so a sweep uses
/// every core without a task, a permit or a growing list per check, and each
/// worker reads every answer into the same buffer. A check that panics marks
/// only its own proxy. Dropping the future aborts the checks in flight and
/// stops the starter.
pub(crate) async fn check_all(
    prober: &Prober,
    options: &EngineOptions,
    proxies: Vec<Proxy>,
    order: Option<Vec<usize>>,
    checked_at: OffsetDateTime,
    check_seq: u64,
    progress: Option<Progress>,
) -> Vec<CheckResult> {
    let total = proxies.len();
    let proxies = Arc::new(proxies);
    let slots: Arc<Vec<OnceLock<Findings>>> =
        Arc::new(std::iter::repeat_with(OnceLock::new).take(total).collect());
    let done = Arc::new(AtomicUsize::new(0));
    let parallelism = options.parallelism.max(1);
    let workers = parallelism.min(total);
    let plan = Plan::for_sweep(parallelism, total);
    let tickets = Arc::new(starter::spawn(
        prober,
        &proxies,
        order.map(Arc::new),
        plan,
        parallelism,
    ));
    let mut tasks = JoinSet::new();
    for _ in 0..workers {
        let (prober, options) = (prober.clone(), options.clone());
        let (proxies, tickets, slots, done, progress) = (
            Arc::clone(&proxies),
            Arc::clone(&tickets),
            Arc::clone(&slots),
            Arc::clone(&done),
            progress.clone(),
        );
        tasks.spawn(async move {
            let mut scratch = Vec::new();
            loop {
                let Some(Ticket { index, mut started }) = tickets.next().await else {
                    return;
                };
                let (Some(proxy), Some(slot)) = (proxies.get(index), slots.get(index)) else {
                    return;
                };
                let check = examine(&prober, &options, proxy, &mut scratch, &mut started);
                let findings = match AssertUnwindSafe(check).catch_unwind().await {
                    Ok(findings) => findings,
                    Err(_panic) => internal_failure(proxy),
                };
                if let Some(progress) = &progress {
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                }
                // Each index is handed out once, so the slot is always empty.
                let _ = slot.set(findings);
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        if let Err(err) = joined {
            tracing::error!(error = %err, "a sweep worker stopped unexpectedly");
        }
    }
    // Every worker has ended, so the proxies and slots are ours again. The
    // fallbacks are for a worker that ended without dropping them, which cannot
    // happen: the proxies are copied and every check is marked as failed.
    let proxies = Arc::try_unwrap(proxies).unwrap_or_else(|shared| shared.as_ref().clone());
    let slots = Arc::try_unwrap(slots)
        .unwrap_or_else(|shared| shared.iter().map(|_| OnceLock::new()).collect());
    proxies
        .into_iter()
        .zip(slots)
        .map(|(proxy, slot)| {
            slot.into_inner()
                .unwrap_or_else(|| internal_failure(&proxy))
                .into_result(proxy, checked_at, check_seq)
        })
        .collect()
}

pub(crate) fn internal_failure(proxy: &Proxy) -> Findings {
    tracing::error!(proxy = %proxy.name, "a proxy check panicked");
    Findings {
        host: None,
        verdict: Classified {
            status: Status::Unhealthy,
            report: HealthReport::error(
                "internal error while checking this proxy: the check panicked",
            ),
        },
        latency: None,
        tls_not_after: None,
        tls_days_left: None,
    }
}

//! Checking proxies: one proxy, or all of them with bounded parallelism.

use crate::options::EngineOptions;
use crate::probe::probe;
use proxyhealth_core::{
    Classified, HealthReport, ProbeOutcome, Proxy, ProxyHost, Status, classify, health_report_url,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
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
    /// When the sweep or re-check started.
    pub checked_at: OffsetDateTime,
    /// Engine-wide order of the check's start.
    pub check_seq: u64,
}

/// Checks one proxy. Never fails: every problem is a status with its reason.
pub async fn check_proxy(
    client: &reqwest::Client,
    options: &EngineOptions,
    proxy: Proxy,
    checked_at: OffsetDateTime,
    check_seq: u64,
) -> CheckResult {
    let mut result = CheckResult {
        host: None,
        verdict: Classified {
            status: Status::Unregistered,
            report: HealthReport::default(),
        },
        latency: None,
        checked_at,
        check_seq,
        proxy,
    };
    if !result.proxy.is_registered() {
        return result;
    }
    let req_url = health_report_url(&result.proxy.url);
    let parsed = url::Url::parse(&result.proxy.url).and_then(|_| url::Url::parse(&req_url));
    let outcome = match parsed {
        Err(err) => ProbeOutcome::InvalidUrl(err.to_string()),
        Ok(url) if url.scheme() != "http" && url.scheme() != "https" => {
            ProbeOutcome::RequestBuild(format!("unsupported protocol scheme {:?}", url.scheme()))
        }
        Ok(url) if url.host_str().is_none_or(str::is_empty) => {
            ProbeOutcome::RequestBuild(format!("no host in request URL {req_url:?}"))
        }
        Ok(url) => {
            result.host = Some(ProxyHost::new(
                &host_and_port(&url),
                &result.proxy.wildcard_hostname,
            ));
            let (outcome, latency) = probe(client, url, options.timeout, options.body_cap).await;
            result.latency = Some(latency);
            outcome
        }
    };
    let mut verdict = classify(&req_url, &outcome);
    verdict.report = verdict.report.bounded(options.report_limits);
    result.verdict = verdict;
    result
}

/// `host[:port]` of a URL, as Go's `url.URL.Host` (default ports are not written).
fn host_and_port(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// Checks every proxy with at most `options.parallelism` checks in flight.
///
/// Each check runs in its own task, so a sweep uses every core; a check that
/// panics marks only its own proxy. Dropping the future aborts the checks in flight.
pub async fn check_all(
    client: &reqwest::Client,
    options: &EngineOptions,
    proxies: Vec<Proxy>,
    checked_at: OffsetDateTime,
    check_seq: u64,
) -> Vec<CheckResult> {
    let slots = Arc::new(Semaphore::new(options.parallelism.max(1)));
    let mut tasks = JoinSet::new();
    let mut by_task = HashMap::with_capacity(proxies.len());
    let mut results = Vec::with_capacity(proxies.len());
    for proxy in proxies {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let client = client.clone();
        let options = options.clone();
        let kept = proxy.clone();
        let handle = tasks.spawn(async move {
            let result = check_proxy(&client, &options, proxy, checked_at, check_seq).await;
            drop(slot);
            result
        });
        by_task.insert(handle.id(), kept);
        while let Some(joined) = tasks.try_join_next_with_id() {
            collect(joined, &mut by_task, &mut results, checked_at, check_seq);
        }
    }
    while let Some(joined) = tasks.join_next_with_id().await {
        collect(joined, &mut by_task, &mut results, checked_at, check_seq);
    }
    results
}

fn collect(
    joined: Result<(tokio::task::Id, CheckResult), tokio::task::JoinError>,
    by_task: &mut HashMap<tokio::task::Id, Proxy>,
    results: &mut Vec<CheckResult>,
    checked_at: OffsetDateTime,
    check_seq: u64,
) {
    match joined {
        Ok((id, result)) => {
            by_task.remove(&id);
            results.push(result);
        }
        Err(err) => {
            if let Some(proxy) = by_task.remove(&err.id()) {
                tracing::error!(proxy = %proxy.name, error = %err, "a proxy check failed internally");
                results.push(CheckResult {
                    proxy,
                    host: None,
                    verdict: Classified {
                        status: Status::Unhealthy,
                        report: HealthReport::error(format!(
                            "internal error while checking this proxy: {err}"
                        )),
                    },
                    latency: None,
                    checked_at,
                    check_seq,
                });
            }
        }
    }
}

//! Starting a sweep's checks ahead of reading their answers.
//!
//! A sweep ends one timeout after its last hanging check starts, and a first
//! sweep knows nothing, so any proxy may hang: to end within the timeout and a
//! little, every check must start within that little. When each of the
//! sweep's workers started its own check and read its answer, a new check
//! could start only when one ended, at the rate answers came back. Here a
//! thread of its own (so that starting gets a core of its own when the
//! machine has one, rather than a turn among the answers being read) opens
//! each check's connection and writes its request without waiting, in the
//! sweep's order, and hands it on as a [`Ticket`]: a socket and a start time,
//! a few dozen bytes, where a worker waiting on an answer is a task of some 3
//! KiB. The workers take the tickets in that order and read and judge the
//! answers; the parallelism bounds that work, not the starts. A check's
//! timeout still counts from its own start, so a slow-but-healthy proxy gets
//! its whole timeout.
//!
//! The starts are bounded by the open-files limit ([`lead`]): a started check
//! holds a file until its answer has been read, so the starter keeps at most
//! the files the limit leaves beside the workers' and the rest of the
//! process's; the binary raises the soft limit to the hard one at start.
//! Checks this path cannot start without waiting (`https://`, whose
//! handshake is CPU the workers spend, so that a check started long before
//! its handshake could time out waiting for the machine rather than the
//! proxy; host names, whose lookup waits; a client the caller supplied) are
//! handed on unstarted, in their place in the order, and their workers
//! start them.

use crate::probe::{Prober, StartedCheck};
use proxyhealth_core::{Proxy, health_report_url};
use std::sync::Arc;
use tokio::sync::mpsc;

/// One check for a sweep worker: the proxy's index in the sweep's list, and
/// its first request when the starter sent it.
#[derive(Debug)]
pub(crate) struct Ticket {
    /// The proxy's index in the sweep's list.
    pub(crate) index: usize,
    /// The check's first request, sent; `None` when the worker sends it.
    pub(crate) started: Option<StartedCheck>,
}

/// The open-files limit when it cannot be read (the usual default).
const USUAL_FILE_LIMIT: u64 = 1024;

/// How many of a sweep's `checks` the starter may have started that no
/// worker has taken yet, under the process's open-files limit
/// ([`lead_under`]).
pub(crate) fn lead(parallelism: usize, checks: usize) -> usize {
    let limit = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map(|(soft, _hard)| soft)
        .unwrap_or(USUAL_FILE_LIMIT);
    lead_under(limit, parallelism, checks)
}

/// How many checks may be started and not yet taken by a worker under an
/// open-files limit of `limit`: three quarters of the limit (a quarter is
/// left to the rest of the process: the store, the listener and its clients,
/// the logs) less the `parallelism` connections the workers hold while they
/// read; at least one, so that under a low limit the starter keeps just
/// ahead of the workers, as when they started their checks themselves; at
/// most the sweep's `checks`, which also keeps an unlimited file limit from
/// asking for a channel larger than one can be.
fn lead_under(limit: u64, parallelism: usize, checks: usize) -> usize {
    let for_sweeps = limit - limit / 4;
    let workers = u64::try_from(parallelism).unwrap_or(u64::MAX);
    let spare = for_sweeps.saturating_sub(workers);
    usize::try_from(spare)
        .unwrap_or(usize::MAX)
        .min(checks)
        .max(1)
}

/// Hands a ticket for each proxy to `tickets` in the sweep's order (`order`,
/// indices into `proxies`, or the list's), starting each check it can, from a
/// thread of its own. It stops when every ticket is handed on or when nobody
/// takes them any more (the sweep was dropped). Should the thread not start,
/// a task hands the tickets on unstarted, and the workers start the checks.
pub(crate) fn spawn(
    prober: Prober,
    proxies: Arc<Vec<Proxy>>,
    order: Option<Arc<Vec<usize>>>,
    tickets: mpsc::Sender<Ticket>,
) {
    let fallback = (Arc::clone(&proxies), order.clone(), tickets.clone());
    // The runtime's clock, for the starts' times (paused in tests).
    let runtime = tokio::runtime::Handle::try_current().ok();
    let thread = std::thread::Builder::new()
        .name("sweep-starter".to_owned())
        .spawn(move || {
            let _clock = runtime.as_ref().map(tokio::runtime::Handle::enter);
            for index in in_order(proxies.len(), order.as_ref().map(|order| order.as_slice())) {
                let started = proxies.get(index).and_then(|proxy| start(&prober, proxy));
                if tickets.blocking_send(Ticket { index, started }).is_err() {
                    return;
                }
            }
        });
    if let Err(err) = thread {
        tracing::warn!(
            error = %err,
            "could not start the sweep's starter thread: each worker starts its own checks"
        );
        let (proxies, order, tickets) = fallback;
        tokio::spawn(async move {
            for index in in_order(proxies.len(), order.as_ref().map(|order| order.as_slice())) {
                let ticket = Ticket {
                    index,
                    started: None,
                };
                if tickets.send(ticket).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// The indices of a list of `total` in the sweep's `order`, or the list's.
fn in_order(total: usize, order: Option<&[usize]>) -> impl Iterator<Item = usize> + '_ {
    (0..total).map(move |position| match order {
        Some(order) => order.get(position).copied().unwrap_or(position),
        None => position,
    })
}

/// Starts the check of `proxy` when it is registered and its report URL can
/// be sent to without waiting.
fn start(prober: &Prober, proxy: &Proxy) -> Option<StartedCheck> {
    if !proxy.is_registered() {
        return None;
    }
    let url = url::Url::parse(&health_report_url(&proxy.url)).ok()?;
    prober.start(&url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starts_ahead_leave_a_quarter_of_the_file_limit_and_the_workers_connections() {
        // The binary raises the limit to the hard one: 20,000 on our machines,
        // room to start 10,000 checks ahead of 1,024 workers.
        assert_eq!(lead_under(20_000, 1024, 100_000), 13_976);
        assert_eq!(lead_under(1_048_576, 1024, 1_000_000), 785_408);
    }

    #[test]
    fn the_starts_ahead_are_never_more_than_the_sweeps_checks() {
        // An unlimited file limit (RLIM_INFINITY) leaves the sweep's size
        // as the only bound.
        assert_eq!(lead_under(u64::MAX, 1024, 10_000), 10_000);
        assert_eq!(lead_under(20_000, 1024, 0), 1);
    }

    #[test]
    fn under_a_low_file_limit_the_starter_keeps_one_check_ahead() {
        assert_eq!(lead_under(1024, 1024, 10_000), 1);
        assert_eq!(lead_under(0, 1, 10_000), 1);
    }
}

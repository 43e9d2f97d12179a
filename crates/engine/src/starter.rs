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
//! Starting is the one part of a first sweep that decides when it ends (a
//! first sweep knows nothing, so its last check may hang), and on a small
//! machine it shares the cores with reading the answers and with whatever
//! else runs there. So the starts go to two threads per core (up to
//! [`MAX_STARTERS`], fewer for a small sweep), each taking every n-th check
//! of the order: the kernel shares a busy core between the threads that
//! want it, so two per core give starting the larger share of the CPU while
//! it lasts (the answers wait in their sockets meanwhile), rather than one
//! thread's share among all the runnable ones; and the
//! tickets go to the workers in batches ([`Plan`]), so that a sweep wakes an
//! idle worker once per batch rather than once per check: each such wake-up
//! was a system call and a chance for the woken thread to take the starter's
//! core.
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
use tokio::sync::{Mutex, mpsc};

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

/// Most starter threads a sweep uses, however many cores there are.
const MAX_STARTERS: usize = 4;

/// Starter threads per core (see the module's documentation).
const STARTERS_PER_CORE: usize = 2;

/// Fewest checks per starter thread: a sweep smaller than this is started by
/// one, which costs less than making another thread.
const CHECKS_PER_STARTER: usize = 512;

/// Most tickets handed on together.
const MAX_BATCH: usize = 64;

/// How a sweep's checks are started and handed on: by how many threads, in
/// batches of how many tickets, and how many batches may wait for the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Starter threads, each starting every `starters`-th check of the order.
    pub(crate) starters: usize,
    /// Tickets per batch (a thread's last batch may hold fewer).
    pub(crate) batch: usize,
    /// Batches handed on and not yet taken by a worker, at most.
    pub(crate) batches: usize,
}

impl Plan {
    /// The plan for a sweep of `checks` read by `parallelism` workers, on
    /// this machine's cores and under the process's open-files limit.
    pub(crate) fn for_sweep(parallelism: usize, checks: usize) -> Plan {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Plan::under(lead(parallelism, checks), checks, cores)
    }

    /// The most connections the sweep holds open at once: the started ones
    /// not yet taken and the workers', at most one per check.
    fn files(self, parallelism: usize, checks: usize) -> usize {
        let in_hand = (self.batches + self.starters).saturating_mul(self.batch);
        in_hand.saturating_add(parallelism).min(checks)
    }

    /// The plan for `checks` with at most `lead` started and not yet taken
    /// by a worker, on `cores` cores: two starters per core (at most
    /// [`MAX_STARTERS`], and at least [`CHECKS_PER_STARTER`] checks each);
    /// batches of up to [`MAX_BATCH`], small enough that every starter's
    /// batch in hand and the batches waiting stay within the lead, so the
    /// started connections not yet read stay within the lead and one batch
    /// (the one the workers are taking from). Under a low file limit (a
    /// lead of one) that is one starter handing on one ticket at a time, as
    /// when the workers started their checks themselves.
    fn under(lead: usize, checks: usize, cores: usize) -> Plan {
        let starters = cores
            .saturating_mul(STARTERS_PER_CORE)
            .min(MAX_STARTERS)
            .min(checks.div_ceil(CHECKS_PER_STARTER))
            .min(lead)
            .max(1);
        let batch = (lead / (4 * starters)).clamp(1, MAX_BATCH);
        let batches = (lead / batch).saturating_sub(starters).max(1);
        Plan {
            starters,
            batch,
            batches,
        }
    }
}

/// The tickets of a sweep, as its workers take them: one at a time, in the
/// order the starters handed them on.
pub(crate) struct Tickets {
    /// The batches handed on, and the rest of the batch being taken from.
    queue: Mutex<(mpsc::Receiver<Vec<Ticket>>, std::vec::IntoIter<Ticket>)>,
}

impl Tickets {
    /// The next ticket; `None` once every starter has handed on all of its
    /// tickets and they have all been taken.
    pub(crate) async fn next(&self) -> Option<Ticket> {
        let mut queue = self.queue.lock().await;
        let (batches, taking) = &mut *queue;
        loop {
            if let Some(ticket) = taking.next() {
                return Some(ticket);
            }
            *taking = batches.recv().await?.into_iter();
        }
    }
}

/// Starts the sweep's checks as `plan` says and gives the tickets to take, a
/// ticket for each proxy, in the sweep's order (`order`, indices into
/// `proxies`, or the list's) as far as the starters keep step with one
/// another. Each starter thread stops when it has handed on its tickets or
/// when nobody takes them any more (the sweep was dropped). Should a thread
/// not start, a task hands its tickets on unstarted, and the workers start
/// those checks.
pub(crate) fn spawn(
    prober: &Prober,
    proxies: &Arc<Vec<Proxy>>,
    order: Option<Arc<Vec<usize>>>,
    plan: Plan,
    parallelism: usize,
) -> Tickets {
    let (sender, receiver) = mpsc::channel::<Vec<Ticket>>(plan.batches.max(1));
    if !proxies.is_empty() {
        make_room_for_files(plan.files(parallelism, proxies.len()));
        for first in 0..plan.starters {
            let share = Share {
                proxies: Arc::clone(proxies),
                order: order.clone(),
                first,
                step: plan.starters,
                batch: plan.batch,
            };
            spawn_starter(prober.clone(), share, sender.clone());
        }
    }
    Tickets {
        queue: Mutex::new((receiver, Vec::new().into_iter())),
    }
}

/// One starter's part of a sweep: every `step`-th position of the order from
/// `first`, handed on `batch` tickets at a time.
#[derive(Clone)]
struct Share {
    proxies: Arc<Vec<Proxy>>,
    order: Option<Arc<Vec<usize>>>,
    first: usize,
    step: usize,
    batch: usize,
}

impl Share {
    /// The proxies' indices in this share, in the sweep's order.
    fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        let order = self.order.as_ref().map(|order| order.as_slice());
        positions(self.proxies.len(), self.first, self.step).map(move |position| match order {
            Some(order) => order.get(position).copied().unwrap_or(position),
            None => position,
        })
    }
}

/// Starts the checks of `share` on a thread of its own, or has a task hand
/// them on unstarted when no thread can be made.
fn spawn_starter(prober: Prober, share: Share, batches: mpsc::Sender<Vec<Ticket>>) {
    let fallback = (share.clone(), batches.clone());
    // The runtime's clock, for the starts' times (paused in tests).
    let runtime = tokio::runtime::Handle::try_current().ok();
    let thread = std::thread::Builder::new()
        .name("sweep-starter".to_owned())
        .spawn(move || {
            let _clock = runtime.as_ref().map(tokio::runtime::Handle::enter);
            let mut batch = Vec::with_capacity(share.batch);
            for index in share.indices() {
                let started = share
                    .proxies
                    .get(index)
                    .and_then(|proxy| start(&prober, proxy));
                batch.push(Ticket { index, started });
                if batch.len() >= share.batch {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(share.batch));
                    if batches.blocking_send(full).is_err() {
                        return;
                    }
                }
            }
            if !batch.is_empty() {
                let _ = batches.blocking_send(batch);
            }
        });
    if let Err(err) = thread {
        tracing::warn!(
            error = %err,
            "could not start a sweep's starter thread: each worker starts its share of the checks"
        );
        let (share, batches) = fallback;
        tokio::spawn(async move {
            for index in share.indices() {
                let ticket = Ticket {
                    index,
                    started: None,
                };
                if batches.send(vec![ticket]).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Grows the process's table of open files, once, to hold `files` more than
/// the lowest free descriptor: a sweep's starts would otherwise grow it step
/// by step as they open their sockets, doubling it some seven times on the
/// way to 10,000, and each time a process with several threads waits in the
/// kernel for an RCU grace period (milliseconds; tens of them on a busy
/// machine), every starter with it. The table never shrinks, so later sweeps
/// find it grown. Best effort: a sweep runs the same without it.
fn make_room_for_files(files: usize) {
    use std::os::fd::AsRawFd;
    let Ok(socket) = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None) else {
        return;
    };
    let limit =
        rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(USUAL_FILE_LIMIT, |(soft, _)| soft);
    let lowest = u64::try_from(socket.as_raw_fd()).unwrap_or(u64::MAX);
    let highest = lowest
        .saturating_add(u64::try_from(files).unwrap_or(u64::MAX))
        .min(limit.saturating_sub(1));
    if let Ok(highest) = i32::try_from(highest)
        && highest > 0
    {
        // The duplicate is closed at once: only the table's growth is wanted.
        let _ = rustix::io::fcntl_dupfd_cloexec(&socket, highest);
    }
}

/// The positions of the order that the starter `first` of `step` starts: every
/// `step`-th of `total`, from `first`.
fn positions(total: usize, first: usize, step: usize) -> impl Iterator<Item = usize> {
    (first..total).step_by(step.max(1))
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
    fn a_large_sweep_is_started_by_two_threads_per_core_handing_on_batches_within_the_lead() {
        let plan = Plan::under(10_000, 10_000, 2);
        assert_eq!(
            plan,
            Plan {
                starters: 4,
                batch: MAX_BATCH,
                batches: 152,
            }
        );
        let in_hand_and_waiting = (plan.batches + plan.starters) * plan.batch;
        assert!(in_hand_and_waiting <= 10_000, "{in_hand_and_waiting}");
    }

    #[test]
    fn the_starter_threads_are_two_per_core_at_most_four_and_one_for_a_small_sweep() {
        assert_eq!(Plan::under(13_976, 100_000, 64).starters, MAX_STARTERS);
        assert_eq!(Plan::under(13_976, 100, 8).starters, 1);
        assert_eq!(Plan::under(13_976, 10_000, 1).starters, 2);
        assert_eq!(Plan::under(13_976, 1_000, 4).starters, 2);
    }

    #[test]
    fn under_a_low_file_limit_one_starter_hands_on_one_ticket_at_a_time() {
        assert_eq!(
            Plan::under(1, 10_000, 2),
            Plan {
                starters: 1,
                batch: 1,
                batches: 1,
            }
        );
        // A small lead keeps the batches small enough to stay within it.
        let plan = Plan::under(40, 10_000, 2);
        assert_eq!((plan.starters, plan.batch), (4, 2));
        assert!(
            (plan.batches + plan.starters) * plan.batch <= 40,
            "{plan:?}"
        );
    }

    #[test]
    fn a_sweep_makes_room_for_its_started_checks_and_its_workers_connections() {
        let plan = Plan::under(10_000, 10_000, 2);
        // All of a 10,000-proxy sweep may be open at once, never more.
        assert_eq!(plan.files(1024, 10_000), 10_000);
        assert_eq!(plan.files(1024, 100_000), (152 + 4) * 64 + 1024);
    }

    #[test]
    fn the_starters_take_every_position_once_each_in_the_orders_sequence() {
        let shares: Vec<Vec<usize>> = (0..3)
            .map(|first| positions(10, first, 3).collect())
            .collect();
        assert_eq!(shares, vec![vec![0, 3, 6, 9], vec![1, 4, 7], vec![2, 5, 8]]);
        assert_eq!(positions(5, 0, 1).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn under_a_low_file_limit_the_starter_keeps_one_check_ahead() {
        assert_eq!(lead_under(1024, 1024, 10_000), 1);
        assert_eq!(lead_under(0, 1, 10_000), 1);
    }
}

//! One round of the agent: every assigned proxy checked once, each result
//! stamped with its own check's start and sent to the service while the
//! round goes on, in batches that leave when [`BATCH`] results wait or when
//! the oldest has waited [`LINGER`], whichever comes first.
//!
//! Batches carrying up to [`ON_THEIR_WAY`] results are on their way at once:
//! the service serves a batch as soon as it arrives but answers it only once
//! it has kept it (so an answered batch survives a restart), and that write
//! can wait behind the service's own history writes. A batch leaves as soon
//! as it is full, whatever the batches before it still wait for: with a
//! handful of batches at a time, every result checked meanwhile waited for
//! the service's writes before it could even leave, and that wait, not the
//! trip, was most of the time from a check to its result served. The bound
//! is on results, not batches, since results are what the agent holds until
//! they are answered. A proxy is in at most one batch on its way, so
//! batches that overtake one another never carry two results of one proxy
//! (the service would refuse the older as such). The checks go on meanwhile
//! and what they find waits in [`Pending`] (the newest per proxy), so a slow
//! or absent service costs memory for at most one result per assigned proxy
//! and the results on their way, never more. While the service answers, the
//! round reads no more checks once [`HOLD`] results wait: a service slower
//! than the checks then slows the checks (each keeps its own start as its
//! time) instead of filling [`Pending`] with the whole round, so the agent's
//! peak memory is its batches', not its fleet's.

use super::link::{Failure, Link, Sending};
use super::pending::Pending;
use super::probing::agent_result;
use proxyhealth_api::ApiError;
use proxyhealth_api::wire::{AgentResult, MAX_AGENT_BATCH};
use proxyhealth_core::Proxy;
use proxyhealth_engine::{CheckResult, EngineOptions, sweep_streaming};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};
use uuid::Uuid;

/// Results that make a batch worth sending at once.
pub const BATCH: usize = 500;
/// The longest a result waits for its batch to fill before it is sent.
pub const LINGER: Duration = Duration::from_millis(200);
/// Results on their way to the service at once (in batches of at most
/// [`BATCH`], beside a first one of at most [`MAX_AGENT_BATCH`]): a few
/// hundred KiB of results, and more than a round of 10,000 proxies sends
/// while the service's slowest writes of the bench run (about a second).
pub const ON_THEIR_WAY: usize = 8_000;
/// Results between the checks and the batches: a bound on what waits there
/// (the checks pause when it is full, which only happens when this loop is
/// starved of CPU).
const CHANNEL: usize = 256;
/// Results waiting (not on their way) above which the round reads no more
/// checks while the service answers: a whole batch for the next send.
pub const HOLD: usize = MAX_AGENT_BATCH;

/// Whether another batch may leave while `on_their_way` results are on
/// their way and the service is away (`outage`) or not: in an outage one
/// batch tries the service at a time; else while a batch of the usual size
/// fits under [`ON_THEIR_WAY`] (the first may be larger, to catch up after
/// an outage).
pub fn sends_another(on_their_way: usize, outage: bool) -> bool {
    if outage {
        on_their_way == 0
    } else {
        on_their_way == 0 || on_their_way + BATCH <= ON_THEIR_WAY
    }
}

/// Whether the round reads the next check when `waiting` results wait and
/// the service is away (`outage`) or not: in an outage always (the newest
/// result per proxy is kept, at most one per proxy), else only below
/// [`HOLD`] (the batch on its way and the next one are enough to hold).
pub fn reads_checks(waiting: usize, outage: bool) -> bool {
    outage || waiting < HOLD
}

/// Checks `proxies` once with `options`, sending results as described in
/// the module docs; `seen` is called with each result and its proxy's name
/// as it comes (to log changes). Returns when every check has ended and
/// every result was sent, or is kept in `pending` because the service is
/// away. Fails only when the service refuses the agent.
pub async fn run(
    proxies: Arc<[Proxy]>,
    options: &EngineOptions,
    link: &mut Link,
    pending: &mut Pending,
    mut seen: impl FnMut(&str, &AgentResult),
) -> anyhow::Result<()> {
    let (results, mut checks) = mpsc::channel::<CheckResult>(CHANNEL);
    let options = options.clone();
    let mut sweep = Checks(tokio::spawn(async move {
        sweep_streaming(proxies, &options, results).await
    }));
    let mut checking = true;
    let mut sending = InFlight::default();
    // when the oldest result not yet on its way must leave: at once for
    // what an outage left over from earlier rounds
    let mut due: Option<Instant> = (!pending.is_empty()).then(Instant::now);
    loop {
        let now = Instant::now();
        let retry = link.retry_at();
        let room = sends_another(sending.results(), retry.is_some());
        if room && !pending.is_empty() && retry.is_none_or(|at| at <= now) {
            let full = pending.len() >= BATCH;
            if !checking || full || retry.is_some() || due.is_some_and(|due| due <= now) {
                // beside a batch on its way, a batch of the usual size: what
                // is in flight stays a small share of the agent's memory
                let most = if sending.is_empty() {
                    MAX_AGENT_BATCH
                } else {
                    BATCH
                };
                let batch = pending.take_batch_except(most, &sending.proxies);
                if batch.is_empty() {
                    // every result waiting is of a proxy on its way: it
                    // leaves once that batch is answered
                    due = None;
                } else {
                    trace_sent(&batch, pending.len());
                    sending.send(link, batch);
                    // what is left has waited long enough: it goes next
                    due = (!pending.is_empty()).then_some(now);
                }
            }
        }
        if !checking && sending.is_empty() && (pending.is_empty() || link.retry_at().is_some()) {
            break;
        }
        // nothing to wake for while batches fill the room (an answer
        // does) or none waits; else the next try of an outage, or when
        // the oldest waiting result is due
        let wake = if !room || pending.is_empty() {
            None
        } else {
            link.retry_at().or(due)
        };
        let reading = checking && reads_checks(pending.len(), link.retry_at().is_some());
        tokio::select! {
            check = checks.recv(), if reading => match check {
                Some(mut check) => {
                    let name = std::mem::take(&mut check.proxy.name);
                    if let Some(result) = agent_result(check) {
                        seen(&name, &result);
                        due.get_or_insert(Instant::now() + LINGER);
                        pending.keep(result);
                    }
                }
                None => checking = false,
            },
            Some((batch, outcome, before_outage)) = sending.answer(), if !sending.is_empty() => {
                if before_outage && link.retry_at().is_some() {
                    // sent with the batch whose failure began the outage:
                    // the same try, so it neither lengthens the pause nor
                    // ends the outage; what it did not deliver waits
                    if outcome.as_ref().is_err_and(|err| Failure::of(err) == Failure::Unreachable) {
                        pending.put_back(batch);
                    } else {
                        link.settle(batch, outcome, pending)?;
                    }
                } else {
                    link.settle(batch, outcome, pending)?;
                }
                // what waited behind the batch may leave now
                if !pending.is_empty() {
                    due.get_or_insert(Instant::now());
                }
            }
            () = async {
                match wake {
                    Some(at) => sleep_until(at).await,
                    None => std::future::pending().await,
                }
            }, if wake.is_some() => {}
        }
    }
    match (&mut sweep.0).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::error!(
            error = %err,
            "cannot check the proxies with the service's probe settings"
        ),
        Err(err) => tracing::error!(error = %err, "the round's checks stopped unexpectedly"),
    }
    Ok(())
}

/// A batch back from the service: the batch, the answer, when it was sent,
/// and whether the service was answering then.
type Answered = (Vec<AgentResult>, Result<(), ApiError>, Instant, bool);

/// The batches on their way, and the proxies they carry.
#[derive(Default)]
struct InFlight {
    /// Each call gives back its batch, the answer, when it was sent and
    /// whether the service was answering then (no outage).
    calls: JoinSet<Answered>,
    proxies: HashSet<Uuid>,
}

impl InFlight {
    /// Results on their way (each of its own proxy).
    fn results(&self) -> usize {
        self.proxies.len()
    }

    fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Sends `batch` through `link`.
    fn send(&mut self, link: &Link, batch: Vec<AgentResult>) {
        self.proxies
            .extend(batch.iter().map(|result| result.proxy_id));
        let call: Sending = link.send(batch);
        let sent = Instant::now();
        let answering = link.retry_at().is_none();
        self.calls.spawn(async move {
            let (batch, outcome) = call.await;
            (batch, outcome, sent, answering)
        });
    }

    /// The next batch answered (in any order), with the answer and whether
    /// it was sent while the service was answering; `None` when none is on
    /// its way.
    async fn answer(&mut self) -> Option<(Vec<AgentResult>, Result<(), ApiError>, bool)> {
        loop {
            match self.calls.join_next().await? {
                Ok((batch, outcome, sent, answering)) => {
                    for result in &batch {
                        self.proxies.remove(&result.proxy_id);
                    }
                    tracing::debug!(results = batch.len(), took = ?sent.elapsed(), ok = outcome.is_ok(), "batch answered");
                    return Some((batch, outcome, answering));
                }
                // a call that panicked lost its batch: its results are
                // sent again with the next round's
                Err(err) => {
                    tracing::error!(error = %err, "sending a batch stopped unexpectedly");
                    if self.calls.is_empty() {
                        self.proxies.clear();
                    }
                }
            }
        }
    }
}

/// Logs (at debug) a batch leaving: its size, how long ago its oldest and
/// its newest check started, and what stays waiting.
fn trace_sent(batch: &[AgentResult], waiting: usize) {
    let oldest = batch.iter().map(|result| result.checked_at).min();
    let newest = batch.iter().map(|result| result.checked_at).max();
    if let (Some(oldest), Some(newest)) = (oldest, newest) {
        let now = time::OffsetDateTime::now_utc();
        tracing::debug!(
            results = batch.len(),
            oldest_check_ms = (now - oldest).whole_milliseconds(),
            newest_check_ms = (now - newest).whole_milliseconds(),
            waiting,
            "batch sent"
        );
    }
}

/// The round's checks, stopped when the round ends early (the service
/// refused the agent).
struct Checks(tokio::task::JoinHandle<Result<(), proxyhealth_engine::EngineError>>);

impl Drop for Checks {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn while_the_service_answers_the_checks_wait_once_a_batch_waits() {
        assert!(reads_checks(0, false));
        assert!(reads_checks(HOLD - 1, false));
        assert!(
            !reads_checks(HOLD, false),
            "a batch's worth waiting: the next check waits for it to leave"
        );
    }

    #[test]
    fn batches_leave_while_their_results_fit_on_the_way_whatever_the_batches_before_await() {
        assert!(sends_another(0, false));
        assert!(
            sends_another(ON_THEIR_WAY - BATCH, false),
            "many batches on their way, room for one more"
        );
        assert!(
            !sends_another(ON_THEIR_WAY - BATCH + 1, false),
            "a batch of the usual size would not fit"
        );
    }

    #[test]
    fn in_an_outage_one_batch_tries_the_service_at_a_time() {
        assert!(sends_another(0, true));
        assert!(!sends_another(1, true));
    }

    #[test]
    fn in_an_outage_the_checks_never_wait_for_the_service() {
        assert!(reads_checks(HOLD, true));
        assert!(reads_checks(10 * HOLD, true));
    }
}

//! One round of the agent: every assigned proxy checked once, each result
//! stamped with its own check's start and sent to the service while the
//! round goes on, in batches that leave when [`BATCH`] results wait or when
//! the oldest has waited [`LINGER`], whichever comes first. One batch is on
//! its way at a time; the checks go on meanwhile and what they find waits in
//! [`Pending`] (the newest per proxy), so a slow or absent service costs
//! memory for at most one result per assigned proxy, never more. While the
//! service answers, the round reads no more checks once [`HOLD`] results
//! wait: a service slower than the checks then slows the checks (each keeps
//! its own start as its time) instead of filling [`Pending`] with the whole
//! round, so the agent's peak memory is its batches', not its fleet's.

use super::link::{Link, Sending};
use super::pending::Pending;
use super::probing::agent_result;
use proxyhealth_api::wire::{AgentResult, MAX_AGENT_BATCH};
use proxyhealth_core::Proxy;
use proxyhealth_engine::{CheckResult, EngineOptions, sweep_streaming};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

/// Results that make a batch worth sending at once.
pub const BATCH: usize = 500;
/// The longest a result waits for its batch to fill before it is sent.
pub const LINGER: Duration = Duration::from_millis(200);
/// Results between the checks and the batches: a bound on what waits there
/// (the checks pause when it is full, which only happens when this loop is
/// starved of CPU).
const CHANNEL: usize = 256;
/// Results waiting (not on their way) above which the round reads no more
/// checks while the service answers: a whole batch for the next send.
pub const HOLD: usize = MAX_AGENT_BATCH;

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
    let mut sending: Option<Sending> = None;
    // when the oldest result not yet on its way must leave: at once for
    // what an outage left over from earlier rounds
    let mut due: Option<Instant> = (!pending.is_empty()).then(Instant::now);
    loop {
        let now = Instant::now();
        let retry = link.retry_at();
        if sending.is_none() && !pending.is_empty() && retry.is_none_or(|at| at <= now) {
            let full = pending.len() >= BATCH;
            if !checking || full || retry.is_some() || due.is_some_and(|due| due <= now) {
                sending = Some(link.send(pending.take_batch(MAX_AGENT_BATCH)));
                // what is left has waited long enough: it goes next
                due = (!pending.is_empty()).then_some(now);
            }
        }
        if !checking && sending.is_none() && (pending.is_empty() || link.retry_at().is_some()) {
            break;
        }
        // nothing to wake for while a batch is on its way (its answer
        // does) or none waits; else the next try of an outage, or when the
        // oldest waiting result is due
        let wake = if sending.is_some() || pending.is_empty() {
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
            (batch, outcome) = async {
                match sending.as_mut() {
                    Some(batch) => batch.await,
                    None => std::future::pending().await,
                }
            }, if sending.is_some() => {
                sending = None;
                link.settle(batch, outcome, pending)?;
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
    fn in_an_outage_the_checks_never_wait_for_the_service() {
        assert!(reads_checks(HOLD, true));
        assert!(reads_checks(10 * HOLD, true));
    }
}

//! One round of the agent: every assigned proxy checked once, each result
//! stamped with its own check's start and sent to the service while the
//! round goes on, in batches that leave when [`BATCH`] results wait or when
//! the oldest has waited [`LINGER`], whichever comes first. One batch is on
//! its way at a time; the checks go on meanwhile and what they find waits in
//! [`Pending`] (the newest per proxy), so a slow or absent service costs
//! memory for at most one result per assigned proxy, never more.

use super::link::{Link, Sending};
use super::pending::Pending;
use super::probing::agent_result;
use proxyhealth_api::wire::{AgentResult, MAX_AGENT_BATCH};
use proxyhealth_core::Proxy;
use proxyhealth_engine::{CheckResult, EngineOptions, sweep_streaming};
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

/// Checks `proxies` once with `options`, sending results as described in
/// the module docs; `seen` is called with each result as it comes (to log
/// changes). Returns when every check has ended and every result was sent,
/// or is kept in `pending` because the service is away. Fails only when
/// the service refuses the agent.
pub async fn run(
    proxies: Vec<Proxy>,
    options: &EngineOptions,
    link: &mut Link,
    pending: &mut Pending,
    mut seen: impl FnMut(&AgentResult),
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
        tokio::select! {
            check = checks.recv(), if checking => match check {
                Some(check) => {
                    if let Some(result) = agent_result(check) {
                        seen(&result);
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

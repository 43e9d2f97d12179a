//! The probe loop: claims due proxies (when woken by a due notice or a
//! finished write, and on a poll tick), never more than it has free check
//! slots, checks them with the engine, and hands each result to the writer:
//! the status merged with the view's, or, for an `ok` proxy that now fails
//! while two or more replicas are live, a request for a second opinion.
//!
//! At shutdown it stops claiming, drops the checks in flight (their leases
//! are released by the replica's stop) and waits for the writer to send
//! what it holds.

use crate::quiet::Quiet;
use crate::shared::Shared;
use crate::writer::{self, Finished};
use proxyhealth_core::{Proxy, ProxyStatus, Status, Transition};
use proxyhealth_engine::CheckResult;
use proxyhealth_engine::own_history::own_transition;
use proxyhealth_store::{Claim, ResultWrite};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Claims, checks and hands results to the writer until `shutdown`; returns
/// once the writer has sent its last write.
pub(crate) async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    let (to_writer, from_checks) = mpsc::channel(crate::settings::BATCH_MAX * 2);
    let writer = tokio::spawn(writer::run(Arc::clone(&shared), from_checks));
    let mut checks: JoinSet<(Claim, CheckResult)> = JoinSet::new();
    let mut next_poll = Instant::now() + jittered_poll(shared.settings.poll);
    let mut want_claim = true;
    let mut quiet = Quiet::default();
    loop {
        if want_claim {
            want_claim = claim(&shared, &mut checks, &shutdown, &mut quiet).await;
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = shared.wake.notified() => want_claim = true,
            () = tokio::time::sleep_until(next_poll) => {
                next_poll = Instant::now() + jittered_poll(shared.settings.poll);
                want_claim = true;
            }
            Some(joined) = checks.join_next() => {
                match joined {
                    Ok((claim, result)) => {
                        let finished = finish(&shared, claim, result);
                        if to_writer.send(finished).await.is_err() {
                            tracing::error!("the result writer stopped; results are lost until the leases run out");
                        }
                    }
                    Err(err) if err.is_cancelled() => {}
                    Err(err) => tracing::error!(error = %err, "a check task failed"),
                }
            }
        }
    }
    checks.abort_all();
    drop(to_writer);
    if let Err(err) = writer.await {
        tracing::error!(error = %err, "the result writer failed");
    }
}

/// Claims as many due proxies as there are free slots and starts their
/// checks. `true` when every slot asked for was filled (more may be due).
async fn claim(
    shared: &Arc<Shared>,
    checks: &mut JoinSet<(Claim, CheckResult)>,
    shutdown: &CancellationToken,
    quiet: &mut Quiet,
) -> bool {
    let free = shared.settings.parallelism.saturating_sub(checks.len());
    let limit = u32::try_from(free)
        .unwrap_or(u32::MAX)
        .min(shared.settings.claim_max);
    if limit == 0 || shutdown.is_cancelled() {
        return false;
    }
    let claims = match shared
        .coordination
        .claim_due(shared.me(), limit, shared.settings.lease)
        .await
    {
        Ok(claims) => {
            quiet.ok("claiming due proxies");
            claims
        }
        Err(err) => {
            quiet.warn("claiming due proxies", &err);
            return false;
        }
    };
    if claims.is_empty() {
        return false;
    }
    let full = claims.len() == usize::try_from(limit).unwrap_or(usize::MAX);
    shared
        .metrics
        .claims
        .inc_by(u64::try_from(claims.len()).unwrap_or(u64::MAX));
    let takeovers = claims
        .iter()
        .filter(|claim| claim.taken_over_from.is_some())
        .count();
    if takeovers > 0 {
        shared
            .metrics
            .takeovers
            .inc_by(u64::try_from(takeovers).unwrap_or(u64::MAX));
        tracing::info!(takeovers, "took over proxies whose replica's lease ran out");
    }
    let mut proxies = match proxies_of(shared, &claims).await {
        Ok(proxies) => proxies,
        Err(err) => {
            // the leases run out and the proxies are claimed again
            tracing::warn!(error = %err, "reading the claimed proxies failed");
            return false;
        }
    };
    for claim in claims {
        // a proxy deleted since the claim: its row goes with it
        let Some(proxy) = proxies.remove(&claim.proxy_id) else {
            continue;
        };
        let engine = shared.engine.clone();
        checks.spawn(async move {
            let result = engine.check(proxy).await;
            (claim, result)
        });
    }
    full
}

/// The claimed proxies' rows, by id (deleted ones left out).
async fn proxies_of(
    shared: &Shared,
    claims: &[Claim],
) -> Result<HashMap<Uuid, Proxy>, proxyhealth_core::SourceError> {
    let ids: Vec<Uuid> = claims.iter().map(|claim| claim.proxy_id).collect();
    Ok(shared
        .source
        .proxies_by_ids(&ids)
        .await?
        .into_iter()
        .filter(|proxy| !proxy.deleted)
        .map(|proxy| (proxy.id, proxy))
        .collect())
}

/// What to do with a finished check: write the merged status, or ask for a
/// second opinion (see the module docs). A written status carries the
/// transition it makes from the claim's previous status, the cluster's truth
/// while the claim holds: the store records it as told.
fn finish(shared: &Shared, claim: Claim, result: CheckResult) -> Finished {
    let took = result.latency.unwrap_or_default();
    let previous = shared.engine.snapshot().get(&claim.proxy_id).cloned();
    let status = shared.engine.status_after(result);
    // the vantage's own damped status, judged from the same view the status was
    let own = own_transition(
        &shared.engine.options().vantage,
        previous.as_deref(),
        &status,
    );
    let message = status.report.headline().to_owned();
    if needs_second_opinion(shared, &claim, &status) {
        return Finished::Defer {
            claim,
            status: status.status,
            message,
        };
    }
    Finished::Write(
        Box::new(ResultWrite {
            transition: Transition::between(claim.previous_status, &status, Some(claim.owner)),
            message,
            result: status,
            // due an interval after the check started, not after it ended: a
            // slow proxy is not checked less often than a fast one
            next_due_in: next_due(shared.settings.interval, claim.previous_status.is_none())
                .saturating_sub(took),
            claim,
        }),
        own,
    )
}

fn needs_second_opinion(shared: &Shared, claim: &Claim, status: &ProxyStatus) -> bool {
    shared.settings.second_opinion
        && shared.live() >= 2
        && claim.confirming.is_none()
        && claim.previous_status == Some(Status::Ok)
        && matches!(status.status, Status::Unhealthy | Status::Unreachable)
}

/// The poll period, anywhere from half to one and a half times it, drawn
/// anew at each poll: replicas' polls do not stay in step, so whichever
/// replica is first to a due proxy changes from one proxy to the next and
/// the checks are shared out (with a fixed period, the replica whose tick
/// came first after a proxy fell due would take it every time).
fn jittered_poll(poll: Duration) -> Duration {
    poll.mul_f64(rand::random_range(0.5..1.5))
}

/// When a proxy is due again after a check: the interval, give or take 5 %;
/// after its first check anywhere from half to one and a half intervals.
///
/// Proxies first seen together (a cluster's start, a Coder database attached
/// with thousands of rows) are all checked in the first pass; due again at
/// one interval, they would stay a burst of results every interval that the
/// views take a while to read (and ±5 % spreads it only slowly). Spread over
/// a whole interval once, they stay spread; later checks keep their rhythm.
fn next_due(interval: Duration, first_check: bool) -> Duration {
    let spread = if first_check { 0.5..1.5 } else { 0.95..1.05 };
    interval.mul_f64(rand::random_range(spread))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_checks_spread_over_an_interval_and_later_ones_keep_their_rhythm() {
        let interval = Duration::from_secs(60);
        let firsts: Vec<f64> = (0..2000)
            .map(|_| next_due(interval, true).as_secs_f64())
            .collect();
        assert!(firsts.iter().all(|d| (30.0..90.0).contains(d)));
        let quarter = |lo: f64, hi: f64| firsts.iter().filter(|d| (lo..hi).contains(*d)).count();
        for (lo, hi) in [(30.0, 45.0), (45.0, 60.0), (60.0, 75.0), (75.0, 90.0)] {
            let n = quarter(lo, hi);
            assert!(n > 350, "{n} of 2000 first checks due in {lo}..{hi} s");
        }
        for _ in 0..2000 {
            let later = next_due(interval, false).as_secs_f64();
            assert!((57.0..63.0).contains(&later), "{later}");
        }
    }
}

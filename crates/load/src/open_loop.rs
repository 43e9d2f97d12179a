//! Re-registration at a fixed arrival rate (open loop): every proxy registers
//! again once per period with its own token, the proxies spread evenly over
//! the period, each request sent at its planned time whether or not the ones
//! before it were answered.
//!
//! A closed loop (a client that waits for an answer before sending again)
//! slows down when the server does and so hides the wait it caused
//! (coordinated omission). Here each latency runs from the request's planned
//! send time to its answer, so a stall shows as the time every request
//! planned during it waited.

use crate::setup::Member;
use crate::stats::{Samples, failure};
use proxyhealth_api::ApiClient;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The planned load: every member once per `every`, for `duration`.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// How often each proxy registers again.
    pub every: Duration,
    /// How long requests are sent.
    pub duration: Duration,
}

impl Pace {
    /// The planned gap between two requests with `members` proxies.
    pub fn gap(&self, members: usize) -> Duration {
        self.every / u32::try_from(members.max(1)).unwrap_or(u32::MAX)
    }

    /// Requests planned with `members` proxies.
    pub fn planned(&self, members: usize) -> u64 {
        let gap = self.gap(members).as_nanos().max(1);
        u64::try_from(self.duration.as_nanos() / gap).unwrap_or(u64::MAX)
    }

    /// The planned rate with `members` proxies, requests per second.
    pub fn rate(&self, members: usize) -> f64 {
        members as f64 / self.every.as_secs_f64()
    }
}

/// What an open-loop run did.
#[derive(Debug, Default)]
pub struct OpenLoop {
    /// Requests sent.
    pub sent: u64,
    /// Every answered request's latency from its planned send time (201 only),
    /// and the failures.
    pub samples: Samples,
    /// Seconds from the first planned send to the last actual send.
    pub send_span_s: f64,
    /// The latest any request was sent after its planned time (the sender's own lag).
    pub max_send_lag: Duration,
}

impl OpenLoop {
    /// Requests sent per second over the sending span (planned gaps included).
    pub fn achieved_rate(&self, pace: &Pace, members: usize) -> f64 {
        let span = self.send_span_s + pace.gap(members).as_secs_f64();
        self.sent as f64 / span.max(1e-9)
    }
}

/// Sends re-registrations of `members` through `client` as `pace` plans them,
/// then waits for every answer (each bounded by the client's timeout).
pub async fn reregister(client: &ApiClient, members: &[Member], pace: Pace) -> OpenLoop {
    let members: Arc<[Member]> = members.into();
    let gap = pace.gap(members.len());
    let planned = pace.planned(members.len());
    let (done, mut answers) = mpsc::unbounded_channel::<Result<Duration, String>>();
    let collector = tokio::spawn(async move {
        let mut samples = Samples::default();
        while let Some(answer) = answers.recv().await {
            match answer {
                Ok(latency) => samples.latencies.push(latency),
                Err(reason) => samples.fail(reason),
            }
        }
        samples
    });
    let start = Instant::now();
    let mut run = OpenLoop::default();
    let mut last_sent = start;
    for (index, at) in (0..planned).map(|i| {
        (
            i,
            start + gap.saturating_mul(u32::try_from(i).unwrap_or(u32::MAX)),
        )
    }) {
        tokio::time::sleep_until(at).await;
        last_sent = Instant::now();
        run.max_send_lag = run.max_send_lag.max(last_sent - at);
        run.sent += 1;
        let members = Arc::clone(&members);
        let client = client.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let member = &members[usize::try_from(index).unwrap_or(0) % members.len()];
            let answer = match client.register(&member.token, &member.registration()).await {
                Ok(answer) if answer.status == 201 => Ok(at.elapsed()),
                Ok(answer) => Err(format!("register: {}", answer.status)),
                Err(err) => Err(failure("register", &err)),
            };
            let _ = done.send(answer);
        });
    }
    run.send_span_s = (last_sent - start).as_secs_f64();
    drop(done);
    run.samples = collector.await.unwrap_or_else(|err| {
        let mut samples = Samples::default();
        samples.fail(format!("collector task: {err}"));
        samples
    });
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_thousand_proxies_every_fifteen_seconds_are_667_requests_a_second() {
        let pace = Pace {
            every: Duration::from_secs(15),
            duration: Duration::from_secs(60),
        };
        assert_eq!(pace.gap(10_000), Duration::from_micros(1_500));
        assert_eq!(pace.planned(10_000), 40_000);
        assert!((pace.rate(10_000) - 666.67).abs() < 0.01);
    }
}

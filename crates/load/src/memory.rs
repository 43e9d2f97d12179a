//! The server's resident memory sampled while a load runs: at its start and
//! at each quarter, the series that shows whether memory stays flat.
//!
//! Each reading is the highest RSS seen over one span (the server's interval:
//! one whole sweep cycle) rather than one instant. A sweep's checks and the
//! work after them allocate for a moment and an allocator that gives freed
//! pages back shows that as a peak, so a single instant would compare a
//! reading inside a sweep with one between two sweeps; the highest over a
//! cycle compares like with like, and memory a process keeps still shows.

use crate::serve::Server;
use std::time::Duration;
use tokio::time::Instant;

/// The labels of the samples, in order.
pub const LABELS: [&str; 5] = ["start", "25%", "50%", "75%", "100%"];

/// How often RSS is read within a span.
const TICK: Duration = Duration::from_millis(250);

/// The server's RSS in KiB at the start of `duration` and at each quarter of
/// it, labelled by [`LABELS`]: "start" is the highest reading over the first
/// `span` of the run, each quarter's the highest over the `span` that ends
/// there (`span` at most a quarter; 0 when every reading of a span failed).
pub async fn rss_at_quarters(
    server: &Server,
    duration: Duration,
    span: Duration,
) -> Vec<(&'static str, u64)> {
    let started = Instant::now();
    let span = span.min(duration / 4);
    let mut samples = vec![(LABELS[0], highest(server, started, started + span).await)];
    for (quarter, label) in (1u32..=4).zip(&LABELS[1..]) {
        let end = started + duration * quarter / 4;
        samples.push((*label, highest(server, end - span, end).await));
    }
    samples
}

/// The highest RSS read from `from` (waiting for it) to `until`.
async fn highest(server: &Server, from: Instant, until: Instant) -> u64 {
    tokio::time::sleep_until(from).await;
    let mut high = server.rss_kib().unwrap_or(0);
    while Instant::now() + TICK <= until {
        tokio::time::sleep(TICK).await;
        high = high.max(server.rss_kib().unwrap_or(0));
    }
    high
}

/// The last sample over the first: how much the server grew during the run
/// (`None` when either reading failed).
pub fn growth(samples: &[(&'static str, u64)]) -> Option<f64> {
    match (samples.first(), samples.last()) {
        (Some((_, first)), Some((_, last))) if *first > 0 && *last > 0 => {
            Some(*last as f64 / *first as f64)
        }
        _ => None,
    }
}

//! The server's resident memory sampled while a load runs: at its start and
//! at each quarter, the series that shows whether memory stays flat.

use crate::serve::Server;
use std::time::Duration;
use tokio::time::Instant;

/// The labels of the samples, in order.
pub const LABELS: [&str; 5] = ["start", "25%", "50%", "75%", "100%"];

/// The server's RSS in KiB now, then at each quarter of `duration` from now
/// (0 for a reading that failed), labelled by [`LABELS`].
pub async fn rss_at_quarters(server: &Server, duration: Duration) -> Vec<(&'static str, u64)> {
    let started = Instant::now();
    let mut samples = vec![(LABELS[0], server.rss_kib().unwrap_or(0))];
    for (quarter, label) in (1u32..=4).zip(&LABELS[1..]) {
        tokio::time::sleep_until(started + duration * quarter / 4).await;
        samples.push((*label, server.rss_kib().unwrap_or(0)));
    }
    samples
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

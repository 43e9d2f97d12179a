//! Latency samples per kind of request, and their percentiles.

use proxyhealth_api::ApiError;
use std::time::Duration;

/// How many failure reasons are kept for the report.
const REASONS_KEPT: usize = 5;

/// A failed call as a sample's reason: the status when the server answered, else the error.
pub fn failure(kind: &str, err: &ApiError) -> String {
    match err.status() {
        Some(status) => format!("{kind}: {status}"),
        None => format!("{kind}: {err}"),
    }
}

/// The latencies and failures of one kind of request.
#[derive(Debug, Default)]
pub struct Samples {
    /// Every successful request's latency.
    pub latencies: Vec<Duration>,
    /// Requests that failed (an error or an unexpected status), with the first reasons.
    pub failures: u64,
    /// Up to a few failure reasons, for the report.
    pub reasons: Vec<String>,
}

impl Samples {
    /// Adds another task's samples.
    pub fn merge(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        self.failures += other.failures;
        for reason in other.reasons {
            if self.reasons.len() < REASONS_KEPT {
                self.reasons.push(reason);
            }
        }
    }

    /// Records a failure and keeps its reason if few are kept yet.
    pub fn fail(&mut self, reason: String) {
        self.failures += 1;
        if self.reasons.len() < REASONS_KEPT {
            self.reasons.push(reason);
        }
    }

    /// Requests done (successful or not).
    pub fn total(&self) -> u64 {
        self.latencies.len() as u64 + self.failures
    }

    /// The longest latency; zero when empty.
    pub fn max(&self) -> Duration {
        self.latencies
            .iter()
            .copied()
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// The `p`-th percentile (0–100) of the latencies, nearest rank; zero when empty.
    pub fn percentile(&mut self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies.sort_unstable();
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut samples = Samples {
            latencies: (1..=100).map(Duration::from_millis).collect(),
            ..Samples::default()
        };
        assert_eq!(samples.percentile(50.0), Duration::from_millis(50));
        assert_eq!(samples.percentile(99.0), Duration::from_millis(99));
        assert_eq!(samples.max(), Duration::from_millis(100));
        assert_eq!(Samples::default().percentile(50.0), Duration::ZERO);
    }
}

//! The hourly rollup of one proxy's checks, and the bounded latency sketch
//! that gives its median.
//!
//! A median needs the samples or a sketch of them. The rollup keeps a
//! log-scale histogram of latencies in microseconds: bucket 0 holds 0 µs,
//! bucket `1 + floor(4 · log2(µs))` the rest, so each bucket spans a factor
//! of 2^¼ (≈ 1.19) and the median read back (the bucket's geometric middle,
//! clamped to the observed maximum) is within ±9 % of the true one. At most
//! [`SKETCH_BUCKETS`] buckets exist (up to 2^36 µs, about 19 hours), stored
//! sparsely (5 bytes per bucket in use), so a rollup row stays a few dozen
//! bytes however many checks an hour holds. The maximum is kept exactly.

use crate::Status;
use std::collections::BTreeMap;
use std::time::Duration;

/// How many buckets the sketch can have (bucket 0 is 0 µs).
pub const SKETCH_BUCKETS: u8 = 145;

/// One proxy's checks within one hour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollup {
    /// Checks counted.
    pub checks: u64,
    /// Checks whose result was `ok`.
    pub ok: u64,
    /// Checks whose result was `unhealthy`.
    pub unhealthy: u64,
    /// Checks whose result was `unreachable`.
    pub unreachable: u64,
    /// Checks whose result was `unregistered`.
    pub unregistered: u64,
    /// The largest latency seen, in microseconds (`None` when no request was made).
    pub latency_max_us: Option<u64>,
    /// The latency sketch.
    pub sketch: LatencySketch,
}

impl Rollup {
    /// Counts one check.
    pub fn add(&mut self, result: Status, latency: Option<Duration>) {
        self.checks += 1;
        match result {
            Status::Ok => self.ok += 1,
            Status::Unhealthy => self.unhealthy += 1,
            Status::Unreachable => self.unreachable += 1,
            Status::Unregistered => self.unregistered += 1,
            Status::Unknown => {}
        }
        if let Some(latency) = latency {
            let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
            self.latency_max_us = Some(self.latency_max_us.map_or(us, |max| max.max(us)));
            self.sketch.add(us);
        }
    }

    /// Adds another rollup of the same hour (another writer's share).
    pub fn merge(&mut self, other: &Rollup) {
        self.checks += other.checks;
        self.ok += other.ok;
        self.unhealthy += other.unhealthy;
        self.unreachable += other.unreachable;
        self.unregistered += other.unregistered;
        self.latency_max_us = match (self.latency_max_us, other.latency_max_us) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.sketch.merge(&other.sketch);
    }

    /// The median latency in microseconds, from the sketch (see the module
    /// docs for its precision), never above the maximum.
    pub fn latency_median_us(&self) -> Option<u64> {
        let median = self.sketch.median()?;
        Some(self.latency_max_us.map_or(median, |max| median.min(max)))
    }
}

/// A log-scale histogram of latencies (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencySketch {
    counts: BTreeMap<u8, u32>,
}

/// Why stored sketch bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad latency sketch: {0}")]
pub struct SketchDecodeError(String);

impl LatencySketch {
    /// The bucket of a latency in microseconds.
    pub fn bucket(us: u64) -> u8 {
        if us == 0 {
            return 0;
        }
        // 4 · log2(us), exact on powers of two: the integer part from the
        // leading zeros, the quarter from the next bits compared to 2^(k/4).
        let log2 = 63 - us.leading_zeros();
        let quarter = (((us as f64).log2() - f64::from(log2)) * 4.0).floor() as u32;
        let bucket = 1 + 4 * log2 + quarter.min(3);
        u8::try_from(bucket.min(u32::from(SKETCH_BUCKETS) - 1)).unwrap_or(SKETCH_BUCKETS - 1)
    }

    /// The geometric middle of a bucket, in microseconds.
    pub fn bucket_middle(bucket: u8) -> u64 {
        if bucket == 0 {
            return 0;
        }
        let low = 2f64.powf(f64::from(bucket - 1) / 4.0);
        let middle = low * 2f64.powf(1.0 / 8.0);
        middle.round() as u64
    }

    /// Counts one latency.
    pub fn add(&mut self, us: u64) {
        let count = self.counts.entry(Self::bucket(us)).or_default();
        *count = count.saturating_add(1);
    }

    /// Adds another sketch's counts.
    pub fn merge(&mut self, other: &LatencySketch) {
        for (bucket, count) in &other.counts {
            let mine = self.counts.entry(*bucket).or_default();
            *mine = mine.saturating_add(*count);
        }
    }

    /// How many latencies were counted.
    pub fn count(&self) -> u64 {
        self.counts.values().map(|count| u64::from(*count)).sum()
    }

    /// The median (the lower one for an even count), as its bucket's middle.
    pub fn median(&self) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = total.div_ceil(2);
        let mut seen = 0;
        for (bucket, count) in &self.counts {
            seen += u64::from(*count);
            if seen >= rank {
                return Some(Self::bucket_middle(*bucket));
            }
        }
        None
    }

    /// The stored form: (bucket: 1 byte, count: 4 bytes little-endian) per
    /// bucket in use, by bucket.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.counts.len() * 5);
        for (bucket, count) in &self.counts {
            bytes.push(*bucket);
            bytes.extend_from_slice(&count.to_le_bytes());
        }
        bytes
    }

    /// Reads [`LatencySketch::encode`]'s form.
    pub fn decode(bytes: &[u8]) -> Result<Self, SketchDecodeError> {
        if !bytes.len().is_multiple_of(5) {
            return Err(SketchDecodeError(format!(
                "{} bytes is not a whole number of 5-byte entries",
                bytes.len()
            )));
        }
        let mut counts = BTreeMap::new();
        for entry in bytes.chunks_exact(5) {
            let count = u32::from_le_bytes([entry[1], entry[2], entry[3], entry[4]]);
            if entry[0] >= SKETCH_BUCKETS {
                return Err(SketchDecodeError(format!(
                    "bucket {} out of range",
                    entry[0]
                )));
            }
            counts.insert(entry[0], count);
        }
        Ok(LatencySketch { counts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_a_quarter_octave_wide() {
        assert_eq!(LatencySketch::bucket(0), 0);
        assert_eq!(LatencySketch::bucket(1), 1);
        assert_eq!(LatencySketch::bucket(2), 5);
        assert_eq!(LatencySketch::bucket(1024), 41);
        assert_eq!(LatencySketch::bucket(u64::MAX), SKETCH_BUCKETS - 1);
    }

    #[test]
    fn the_median_is_within_nine_percent() {
        for true_median in [350u64, 1_000, 12_345, 250_000, 4_900_000] {
            let mut sketch = LatencySketch::default();
            for us in [true_median / 3, true_median, true_median * 7] {
                sketch.add(us);
            }
            let median = sketch.median().expect("a median");
            let error = (median as f64 - true_median as f64).abs() / true_median as f64;
            assert!(error < 0.095, "{true_median} read as {median}");
        }
    }

    #[test]
    fn a_sketch_survives_its_stored_form() {
        let mut rollup = Rollup::default();
        for ms in [3u64, 5, 5, 900] {
            rollup.add(Status::Ok, Some(Duration::from_millis(ms)));
        }
        let decoded = LatencySketch::decode(&rollup.sketch.encode()).expect("decode");
        assert_eq!(decoded, rollup.sketch);
        assert_eq!(rollup.latency_max_us, Some(900_000));
        let median = rollup.latency_median_us().expect("median");
        assert!((4_500..=5_500).contains(&median), "{median}");
    }

    #[test]
    fn merging_adds_counts_and_keeps_the_larger_maximum() {
        let mut a = Rollup::default();
        a.add(Status::Ok, Some(Duration::from_millis(10)));
        let mut b = Rollup::default();
        b.add(Status::Unreachable, None);
        b.add(Status::Unhealthy, Some(Duration::from_millis(30)));
        a.merge(&b);
        assert_eq!((a.checks, a.ok, a.unhealthy, a.unreachable), (3, 1, 1, 1));
        assert_eq!(a.latency_max_us, Some(30_000));
        assert_eq!(a.sketch.count(), 2);
    }

    #[test]
    fn bad_stored_bytes_are_refused() {
        assert!(LatencySketch::decode(&[1, 2, 3]).is_err());
        assert!(LatencySketch::decode(&[200, 1, 0, 0, 0]).is_err());
    }
}

//! Reading what the criterion benches of `reads` (reads.rs) left
//! in `<target>/criterion`: the median time of each read.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The read benches, by group and function, as reads.rs names them.
pub const READS: [(&str, &str); 6] = [
    ("status_map", "n100_idle"),
    ("status_map", "n10000_idle"),
    ("status_map", "n10000_storing"),
    ("host_list", "n100_idle"),
    ("host_list", "n10000_idle"),
    ("host_list", "n10000_storing"),
];

/// The median ns of each read, in [`READS`] order, and how often the background
/// published while the `storing` benches ran.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReadsReport {
    /// `(group, function, median ns)`.
    pub medians: Vec<(String, String, f64)>,
    /// Snapshots stored per second by the background task, if it said.
    pub stores_per_s: Option<f64>,
}

impl ReadsReport {
    /// The median ns of one read.
    pub fn ns(&self, group: &str, function: &str) -> Option<f64> {
        self.medians
            .iter()
            .find(|(g, f, _)| g == group && f == function)
            .map(|(_, _, ns)| *ns)
    }
}

/// The criterion id of one read in one round.
pub fn round_id(function: &str, round: usize) -> String {
    format!("{function}_r{round}")
}

#[derive(Deserialize)]
struct Estimates {
    median: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

#[derive(Deserialize)]
struct Background {
    stores_per_s: f64,
}

/// Reads every estimate of `rounds` rounds (criterion ids `<function>_r<k>`) and
/// keeps, for each read, the lowest of its rounds' medians: noise on a shared
/// machine only ever adds time. A missing estimate is an error (the bench did
/// not run).
pub fn read_reads(criterion_dir: &Path, rounds: usize) -> anyhow::Result<ReadsReport> {
    let mut report = ReadsReport::default();
    for (group, function) in READS {
        let mut best = f64::INFINITY;
        for round in 1..=rounds.max(1) {
            let path = criterion_dir
                .join(group)
                .join(round_id(function, round))
                .join("new")
                .join("estimates.json");
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("read {}", path.display()))?;
            let estimates: Estimates =
                serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
            best = best.min(estimates.median.point_estimate);
        }
        report
            .medians
            .push((group.to_owned(), function.to_owned(), best));
    }
    let background = criterion_dir.join("reads-background.json");
    if let Ok(text) = std::fs::read_to_string(background) {
        report.stores_per_s = serde_json::from_str::<Background>(&text)
            .ok()
            .map(|b| b.stores_per_s);
    }
    Ok(report)
}

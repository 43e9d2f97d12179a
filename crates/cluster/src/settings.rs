//! The replica runtime's periods and bounds, derived from the engine's
//! interval and timeout, with the reasoning.

use proxyhealth_engine::EngineOptions;
use std::time::Duration;

/// How often a replica heartbeats (Coder's tailnet coordinator uses 2 s).
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A replica is live while its heartbeat is younger than this many periods.
pub const LIVE_PERIODS: u32 = 3;
/// How often a replica looks for due proxies when nothing woke it (a quarter
/// interval when that is shorter, see [`ClusterSettings::for_engine`]).
pub const POLL: Duration = Duration::from_secs(1);
/// How long finished checks are collected before one write sends them all.
pub const BATCH: Duration = Duration::from_millis(250);
/// Most results in one write.
pub const BATCH_MAX: usize = 1000;
/// How often the view reads new results even without a notification (cheap
/// when nothing is new): a lost notification costs at most this long.
pub const SAFETY_READ: Duration = Duration::from_secs(3);
/// How often the whole view is reloaded anyway: it drops the proxies another
/// replica deleted (that replica took them out of its own view at once; no
/// result tells the others). A full read costs a few kilobytes per proxy (its
/// status with its history), so not much more often than this.
pub const FULL_RELOAD: Duration = Duration::from_secs(60);
/// Most proxies claimed in one statement.
pub const CLAIM_MAX: u32 = 512;
/// Whether a failure of an `ok` proxy is confirmed by a second replica
/// unless configured otherwise: on, so one replica's bad network never moves
/// a proxy for everyone.
pub const SECOND_OPINION: bool = true;

/// The replica runtime's settings. [`ClusterSettings::for_engine`] gives the
/// documented defaults for an engine's interval and timeout.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// How often each proxy is checked, cluster-wide (the engine's interval).
    pub interval: Duration,
    /// Checks in flight at once on this replica (the engine's parallelism):
    /// a replica never claims more than it can start at once.
    pub parallelism: usize,
    /// How often the heartbeat is written.
    pub heartbeat: Duration,
    /// The lease of a claim: at least twice the check timeout plus slack, so a
    /// check that runs to its timeout is written well within it (by default
    /// [`EngineOptions::result_within`]).
    pub lease: Duration,
    /// How often due proxies are looked for without a wake-up: [`POLL`], or a
    /// quarter interval when that is shorter. A reading is fresh for two
    /// intervals and two checks of a proxy are at most interval + batch +
    /// 1.5 × poll apart, so with a longer poll at a short interval a
    /// vantage's own reading would turn stale between two of its checks.
    pub poll: Duration,
    /// How long finished checks are collected into one write.
    pub batch: Duration,
    /// How often new results are read without a notification.
    pub safety_read: Duration,
    /// How often the whole view is reloaded.
    pub full_reload: Duration,
    /// Whether a failing check of an `ok` proxy is confirmed by a different
    /// replica before the status changes (when two or more are live).
    pub second_opinion: bool,
    /// Most proxies claimed in one statement.
    pub claim_max: u32,
}

impl ClusterSettings {
    /// The defaults for an engine with these options.
    pub fn for_engine(options: &EngineOptions) -> ClusterSettings {
        ClusterSettings {
            interval: options.interval,
            parallelism: options.parallelism.max(1),
            heartbeat: HEARTBEAT,
            lease: options.result_within(),
            poll: POLL.min(options.interval / 4),
            batch: BATCH,
            safety_read: SAFETY_READ,
            full_reload: FULL_RELOAD,
            second_opinion: SECOND_OPINION,
            claim_max: CLAIM_MAX,
        }
    }

    /// A replica is live while its heartbeat is younger than this: what every
    /// replica and the consistency report use.
    pub fn live_window(&self) -> Duration {
        self.heartbeat.saturating_mul(LIVE_PERIODS)
    }

    /// A result older than this is stale, and so is a view not read for this
    /// long: the engine's rule ([`proxyhealth_engine::options::stale_after`])
    /// for this interval.
    pub fn stale_after(&self) -> Duration {
        proxyhealth_engine::options::stale_after(self.interval)
    }

    /// How often the agents' kept readings are read: the safety read, or a
    /// quarter interval when that is shorter. A reading is fresh for two
    /// intervals after its check and an agent checks every interval, so the
    /// replicas its batches do not reach must read well within the interval
    /// that is left, or its vantage turns stale there between two reads.
    pub fn readings_read(&self) -> Duration {
        self.safety_read.min(self.interval / 4)
    }

    /// How long a proxy held for a second opinion waits for another replica
    /// before its first checker may take it again.
    pub fn confirm_within(&self) -> Duration {
        self.interval.saturating_mul(2)
    }

    /// The longest a dead replica's proxy waits to be checked again: its lease
    /// runs out, the next poll claims it (polls are jittered up to 1.5 ×
    /// the period), the check runs to its timeout and the batch is written.
    pub fn takeover_bound(&self, timeout: Duration) -> Duration {
        self.lease + self.poll.mul_f64(1.5) + timeout + self.batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(interval: Duration) -> ClusterSettings {
        ClusterSettings::for_engine(&EngineOptions {
            interval,
            ..EngineOptions::default()
        })
    }

    #[test]
    fn a_short_interval_polls_for_claims_every_quarter_interval() {
        assert_eq!(
            settings(Duration::from_secs(2)).poll,
            Duration::from_millis(500)
        );
        assert_eq!(settings(Duration::from_secs(60)).poll, POLL);
    }

    #[test]
    fn the_agents_readings_are_read_every_quarter_interval_when_that_is_shorter() {
        assert_eq!(
            settings(Duration::from_secs(1)).readings_read(),
            Duration::from_millis(250)
        );
        assert_eq!(
            settings(Duration::from_secs(30)).readings_read(),
            SAFETY_READ
        );
    }
}

//! Notification counters, per target (labelled by the target's configured
//! name, never its URL): sent (delivered), retried (an attempt failed and
//! another is due) and failed (given up).

use prometheus::{IntCounterVec, Opts, Registry};

/// The counters, registered on the engine's registry.
#[derive(Debug, Clone)]
pub struct NotifyMetrics {
    sent: IntCounterVec,
    retried: IntCounterVec,
    failed: IntCounterVec,
}

impl NotifyMetrics {
    /// Registers the counters on `registry`, each target's series at zero.
    pub fn register(registry: &Registry, targets: &[&str]) -> Result<Self, prometheus::Error> {
        let counter = |name: &str, help: &str| -> Result<IntCounterVec, prometheus::Error> {
            let counter = IntCounterVec::new(Opts::new(name, help), &["target"])?;
            registry.register(Box::new(counter.clone()))?;
            for target in targets {
                counter.with_label_values(&[*target]);
            }
            Ok(counter)
        };
        Ok(NotifyMetrics {
            sent: counter(
                "proxyhealth_notifications_sent_total",
                "Notifications delivered (answered with a 2xx), by target name.",
            )?,
            retried: counter(
                "proxyhealth_notifications_retried_total",
                "Notification attempts that failed and will be retried, by target name.",
            )?,
            failed: counter(
                "proxyhealth_notifications_failed_total",
                "Notifications given up after the retry bound, by target name.",
            )?,
        })
    }

    /// One notification delivered to `target`.
    pub fn sent(&self, target: &str) {
        self.sent.with_label_values(&[target]).inc();
    }

    /// One failed attempt to `target` that will be retried.
    pub fn retried(&self, target: &str) {
        self.retried.with_label_values(&[target]).inc();
    }

    /// One notification to `target` given up.
    pub fn failed(&self, target: &str) {
        self.failed.with_label_values(&[target]).inc();
    }
}

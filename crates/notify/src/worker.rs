//! The delivery worker: claims due outbox rows with a lease, sends each to
//! its target, and records the outcome (delivered; or retried after an
//! exponential backoff until the retry bound, then failed), counting each.
//! Every replica runs one; the store's claim gives each row to one of them.

use crate::message::Event;
use crate::metrics::NotifyMetrics;
use crate::send::{SendError, Sender};
use crate::settings::{DuplicateTargetName, NotifySettings};
use proxyhealth_store::{AttemptFailure, DeliveryState, Notification, Outbox, OutboxPolicy};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Rows claimed at once (sent concurrently).
const BATCH: u32 = 16;
/// Time between looks at the outbox when nothing was due.
const POLL: Duration = Duration::from_millis(500);
/// The first retry's backoff; doubled after each failed attempt.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest backoff.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// A lease outlasts the attempt's timeout by this much.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// Finished rows are kept this long (the API lists them), then pruned.
const KEEP_FINISHED: Duration = Duration::from_secs(7 * 24 * 3600);
/// Time between prunings.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The backoff after `attempts` failed attempts (1 s, 2 s, 4 s, … 5 min).
pub fn backoff(attempts: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1)))
        .min(MAX_BACKOFF)
}

/// Delivers a store's outbox.
#[derive(Debug, Clone)]
pub struct Notifier {
    outbox: Arc<dyn Outbox>,
    sender: Sender,
    metrics: NotifyMetrics,
    owner: Uuid,
}

/// Why a [`Notifier`] could not be made.
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    /// Two targets share a name.
    #[error(transparent)]
    Settings(#[from] DuplicateTargetName),
    /// The per-target counters could not be registered (twice on one
    /// registry, say).
    #[error("notification metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The HTTP client could not be built.
    #[error("notification client: {0}")]
    Client(#[from] SendError),
    /// The store was opened writing notification rows for other targets (or
    /// another damping) than the worker's: the rows written would not be the
    /// ones it delivers. Open the store with [`NotifySettings::outbox_policy`].
    #[error(
        "the store writes notification rows for {opened_with:?}, not for this worker's {wanted:?}: \
         open it with the notification settings' outbox policy"
    )]
    StoreOpenedForOtherTargets {
        /// The policy of this worker's settings.
        wanted: OutboxPolicy,
        /// The policy the store was opened with.
        opened_with: OutboxPolicy,
    },
}

impl Notifier {
    /// A worker over `outbox`, which must have been opened with these
    /// settings' targets and damping ([`NotifySettings::outbox_policy`]); its
    /// counters go on `registry`.
    pub fn new(
        outbox: Arc<dyn Outbox>,
        settings: NotifySettings,
        registry: &prometheus::Registry,
    ) -> Result<Notifier, NotifierError> {
        settings.validate()?;
        let names: Vec<&str> = settings.targets.iter().map(|t| t.name.as_str()).collect();
        let metrics = NotifyMetrics::register(registry, &names)?;
        let wanted = settings.outbox_policy();
        let opened_with = outbox.policy();
        if opened_with != wanted {
            return Err(NotifierError::StoreOpenedForOtherTargets {
                wanted,
                opened_with,
            });
        }
        let sender = Sender::new(settings)?;
        Ok(Notifier {
            outbox,
            sender,
            metrics,
            owner: Uuid::new_v4(),
        })
    }

    /// Delivers due rows until `shutdown`: a pass, then another at once when
    /// the pass was full, else after a short pause.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut pruned_at: Option<tokio::time::Instant> = None;
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let full = match self.deliver_due().await {
                Ok(count) => count == BATCH as usize,
                Err(err) => {
                    tracing::warn!(error = %err, "reading the notification outbox failed");
                    false
                }
            };
            if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                pruned_at = Some(tokio::time::Instant::now());
                let before = time::OffsetDateTime::now_utc() - KEEP_FINISHED;
                if let Err(err) = self.outbox.prune(before).await {
                    tracing::warn!(error = %err, "pruning the notification outbox failed");
                }
            }
            if !full {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(POLL) => {}
                }
            }
        }
    }

    /// One pass: claims up to a batch of due rows and sends them
    /// concurrently; returns how many were claimed.
    pub async fn deliver_due(&self) -> Result<usize, proxyhealth_store::StoreError> {
        let lease = self.sender.settings().timeout + LEASE_MARGIN;
        let claimed = self.outbox.claim(self.owner, lease, BATCH).await?;
        let count = claimed.len();
        futures::future::join_all(claimed.into_iter().map(|row| self.deliver(row))).await;
        Ok(count)
    }

    async fn deliver(&self, row: Notification) {
        let settings = self.sender.settings();
        let target_name = row.target.clone();
        let outcome = match settings.target(&row.target) {
            Some(target) => {
                let event = Event::Change {
                    id: row.id,
                    transition: row.transition.clone(),
                };
                self.sender.send(target, &event).await
            }
            None => Err(SendError::Request {
                host: String::new(),
                reason: format!("target {:?} is no longer configured", row.target),
            }),
        };
        let proxy = &row.transition.proxy_name;
        let recorded = match outcome {
            Ok(status) => self
                .outbox
                .delivered(row.id, self.owner, Some(status))
                .await
                .map(|held| {
                    if held {
                        self.metrics.sent(&target_name);
                        tracing::info!(target = %target_name, proxy = %proxy, id = row.id, "notification delivered");
                    }
                }),
            Err(err) => {
                let unknown_target = settings.target(&row.target).is_none();
                let failure = AttemptFailure {
                    error: err.to_string(),
                    status: err.status(),
                    retry_in: backoff(row.attempts + 1),
                    retry_for: if unknown_target {
                        Duration::ZERO
                    } else {
                        settings.retry_for
                    },
                };
                self.outbox
                    .attempt_failed(row.id, self.owner, &failure)
                    .await
                    .map(|state| match state {
                        Some(DeliveryState::Failed) => {
                            self.metrics.failed(&target_name);
                            tracing::warn!(
                                target = %target_name, proxy = %proxy, id = row.id,
                                attempts = row.attempts + 1, error = %err,
                                "notification given up"
                            );
                        }
                        Some(_) => {
                            self.metrics.retried(&target_name);
                            tracing::info!(
                                target = %target_name, proxy = %proxy, id = row.id,
                                error = %err, retry_in = ?failure.retry_in,
                                "notification attempt failed; will retry"
                            );
                        }
                        None => {}
                    })
            }
        };
        if let Err(err) = recorded {
            tracing::warn!(error = %err, id = row.id, "recording a notification's outcome failed");
        }
    }
}

/// What one target answered to a test notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    /// The target's name.
    pub target: String,
    /// Its kind.
    pub kind: crate::TargetKind,
    /// The 2xx status code, or why it failed.
    pub result: Result<u16, SendError>,
}

/// Sends a test notification to every configured target, one at a time, in
/// the configured order (`proxyhealth notify test`).
pub async fn send_tests(settings: &NotifySettings) -> Result<Vec<TestOutcome>, SendError> {
    let sender = Sender::new(settings.clone())?;
    let mut outcomes = Vec::with_capacity(settings.targets.len());
    for target in &settings.targets {
        outcomes.push(TestOutcome {
            target: target.name.clone(),
            kind: target.kind,
            result: sender.send(target, &Event::Test).await,
        });
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(30), Duration::from_secs(300));
    }
}

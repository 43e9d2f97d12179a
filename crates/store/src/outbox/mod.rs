//! The notification outbox: one row per recorded status
//! transition and configured target, written by the journal in the same
//! transaction as the transition, and delivered by a worker
//! (`proxyhealth-notify`) that claims due rows with a lease.
//!
//! - [`Outbox`]: what every writable store gives through
//!   [`crate::ProxyStore::outbox`]: the policy the journal writes rows by
//!   ([`OutboxPolicy`]: the targets and the damping time), the worker's
//!   claim and its two outcomes, the recent rows for the API, pruning.
//! - `outbox::sqlite`, `outbox::postgres`, `outbox::memory`: the statements
//!   of each backend; the journal calls their `write_in` inside its
//!   transaction.
//!
//! # Rules
//! - A transition with a previous status is notified; a proxy's first
//!   recorded status only when it is neither `ok` nor `unregistered` (a new
//!   proxy, or a fresh database, is not news unless it is failing).
//! - Rows of one proxy and target are delivered in order: a row is claimed
//!   only when no earlier row of the same proxy and target is pending.
//! - Damping: a row is due at `not_before` (written "now + damping", on the
//!   store's clock). A new transition of the same proxy while an earlier row
//!   is still inside its damping time cancels that row; when the new status
//!   is the one from before the cancelled row, nothing is written (down for
//!   20 s then back sends nothing with a 1 minute damping), otherwise the new
//!   row carries the cancelled row's `from`.
//! - Retries: a failed attempt is retried at `now + retry_in` (the worker's
//!   backoff), but never later than `not_before + retry_for`; an attempt
//!   failing at or after that bound marks the row `failed`
//!   (`AttemptFailure::outcome`, which every backend applies).
//! - Claims take a lease on the store's clock (PostgreSQL: `now()` and
//!   `FOR UPDATE SKIP LOCKED`, so replicas never claim the same row); the
//!   outcome is written only by the lease's owner.

pub(crate) mod memory;
pub(crate) mod postgres;
pub(crate) mod sqlite;

use proxyhealth_core::{Status, Transition};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

/// What the journal writes outbox rows by: given when the store is opened
/// ([`crate::OpenOptions::outbox_policy`], [`crate::MemoryStore::with_outbox_policy`]),
/// so no batch can be recorded before it is known; with no targets no row is
/// written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxPolicy {
    /// The configured targets' names: one row per transition and target.
    pub targets: Vec<String>,
    /// How long a new status must last before it is notified (zero: at once).
    pub damping: Duration,
}

/// The policy shared by a store's journals (its history's and, with replicas,
/// its coordination's).
#[derive(Debug, Clone, Default)]
pub(crate) struct PolicyHandle(Arc<OutboxPolicy>);

impl PolicyHandle {
    /// A handle on `policy`, fixed for the store's life.
    pub(crate) fn new(policy: OutboxPolicy) -> Self {
        PolicyHandle(Arc::new(policy))
    }

    /// The policy.
    pub(crate) fn get(&self) -> OutboxPolicy {
        OutboxPolicy::clone(&self.0)
    }
}

/// Where a notification is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Waiting for its damping time, its next attempt, or a worker.
    Pending,
    /// A target accepted it (a 2xx answer).
    Delivered,
    /// Every attempt failed until the retry bound; given up.
    Failed,
    /// Superseded by a newer transition of the same proxy within the damping time.
    Cancelled,
}

impl DeliveryState {
    /// The word stored and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Cancelled => "cancelled",
        }
    }

    /// The state a stored word names.
    pub(crate) fn parse(word: &str) -> Result<DeliveryState, StoreError> {
        match word {
            "pending" => Ok(DeliveryState::Pending),
            "delivered" => Ok(DeliveryState::Delivered),
            "failed" => Ok(DeliveryState::Failed),
            "cancelled" => Ok(DeliveryState::Cancelled),
            other => Err(StoreError::Internal(format!(
                "bad stored notification state {other:?}"
            ))),
        }
    }
}

/// One outbox row: a transition to notify to one target, and how its
/// delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The row's id (unique per store; also the delivery id receivers see).
    pub id: i64,
    /// The target's configured name.
    pub target: String,
    /// The transition notified (`from` and `previous_lasted` as recorded, or
    /// merged with a cancelled row, see the module docs).
    pub transition: Transition,
    /// Where it is.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the row was written.
    pub created_at: OffsetDateTime,
    /// When the damping time ends: the first attempt, and the start of the
    /// retry bound.
    pub not_before: OffsetDateTime,
    /// When it is due next (pending rows).
    pub next_attempt_at: OffsetDateTime,
    /// When it was delivered, given up or cancelled.
    pub finished_at: Option<OffsetDateTime>,
    /// The last attempt's error, if it failed.
    pub last_error: Option<String>,
    /// The HTTP status of the last attempt's answer, if one came.
    pub last_status: Option<u16>,
}

/// A failed attempt, as the worker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptFailure {
    /// What went wrong (the status and a bit of the body, or the error).
    pub error: String,
    /// The HTTP status of the answer, if one came.
    pub status: Option<u16>,
    /// The backoff before the next attempt.
    pub retry_in: Duration,
    /// How long after `not_before` attempts go on before the row is failed.
    pub retry_for: Duration,
}

impl AttemptFailure {
    /// The retry bound of a row due from `not_before`: no attempt is made
    /// after `not_before + retry_for`.
    pub fn retry_until(&self, not_before: OffsetDateTime) -> OffsetDateTime {
        plus(not_before, self.retry_for)
    }

    /// Where this failure, at `now`, leaves a row due from `not_before`:
    /// due again after the backoff (`now + retry_in`) but never after the
    /// [retry bound](AttemptFailure::retry_until); failed, and finished now,
    /// once the bound has come. Every backend applies it, so they agree.
    pub(crate) fn outcome(&self, not_before: OffsetDateTime, now: OffsetDateTime) -> AfterFailure {
        let bound = self.retry_until(not_before);
        let failed = now >= bound;
        AfterFailure {
            state: if failed {
                DeliveryState::Failed
            } else {
                DeliveryState::Pending
            },
            next_attempt_at: plus(now, self.retry_in).min(bound),
            finished_at: failed.then_some(now),
        }
    }
}

/// Where a failed attempt leaves its row ([`AttemptFailure::outcome`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AfterFailure {
    /// Pending again, or failed.
    pub state: DeliveryState,
    /// When it is due next.
    pub next_attempt_at: OffsetDateTime,
    /// Now when it failed; `None` while it is pending.
    pub finished_at: Option<OffsetDateTime>,
}

/// `at` plus `duration`, saturating instead of overflowing.
pub(crate) fn plus(at: OffsetDateTime, duration: Duration) -> OffsetDateTime {
    at.saturating_add(time::Duration::try_from(duration).unwrap_or(time::Duration::MAX))
}

/// A store's notification outbox; see the module docs.
#[async_trait::async_trait]
pub trait Outbox: Send + Sync + std::fmt::Debug {
    /// The targets and damping the journal writes rows by, as the store was
    /// opened with; a worker checks they are its own.
    fn policy(&self) -> OutboxPolicy;

    /// Leases at most `limit` due rows to `owner` for `lease`, oldest due
    /// first, at most one per proxy and target (the oldest pending).
    async fn claim(
        &self,
        owner: Uuid,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError>;

    /// Marks a claimed row delivered; `false` when `owner` no longer holds it.
    async fn delivered(
        &self,
        id: i64,
        owner: Uuid,
        status: Option<u16>,
    ) -> Result<bool, StoreError>;

    /// Records a failed attempt of a claimed row: pending again (due after
    /// the backoff, capped at the bound) or failed (the bound has passed).
    /// `None` when `owner` no longer holds it.
    async fn attempt_failed(
        &self,
        id: i64,
        owner: Uuid,
        failure: &AttemptFailure,
    ) -> Result<Option<DeliveryState>, StoreError>;

    /// The newest `limit` rows, newest first.
    async fn recent(&self, limit: u32) -> Result<Vec<Notification>, StoreError>;

    /// Deletes finished rows (delivered, failed, cancelled) finished before
    /// `before`; returns how many.
    async fn prune(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Whether a recorded transition is notified (see the module docs).
pub(crate) fn notifiable(transition: &Transition) -> bool {
    transition.from.is_some() || !matches!(transition.to, Status::Ok | Status::Unregistered)
}

/// What a row still inside its damping time held, when a newer transition
/// cancels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cancelled {
    /// Its `from`.
    pub from: Option<Status>,
    /// Its `previous_lasted`.
    pub previous_lasted: Option<Duration>,
}

/// The row to write for `transition` after cancelling `cancelled` (the
/// earliest first); `None` when the proxy is back where it was.
pub(crate) fn after_damping(
    transition: &Transition,
    cancelled: Option<Cancelled>,
) -> Option<Transition> {
    let Some(cancelled) = cancelled else {
        return Some(transition.clone());
    };
    if cancelled.from == Some(transition.to) {
        return None;
    }
    let mut merged = transition.clone();
    merged.from = cancelled.from;
    merged.previous_lasted = cancelled.previous_lasted;
    Some(merged)
}

/// The rows a batch of recorded transitions makes under `policy`, before
/// damping: each notifiable transition once per target.
pub(crate) fn rows_of<'a>(
    policy: &'a OutboxPolicy,
    recorded: &'a [Transition],
) -> impl Iterator<Item = (&'a str, &'a Transition)> + 'a {
    recorded
        .iter()
        .filter(|transition| notifiable(transition))
        .flat_map(move |transition| {
            policy
                .targets
                .iter()
                .map(move |target| (target.as_str(), transition))
        })
}

/// A status code from a column.
pub(crate) fn status_code(value: Option<i64>) -> Option<u16> {
    value.and_then(|code| u16::try_from(code).ok())
}

/// A count of attempts from a column.
pub(crate) fn attempts(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proxyhealth_core::HealthReport;

    fn transition(from: Option<Status>, to: Status) -> Transition {
        Transition {
            proxy_id: Uuid::nil(),
            proxy_name: "eu".to_owned(),
            proxy_url: "https://eu.example".to_owned(),
            at: OffsetDateTime::UNIX_EPOCH,
            from,
            to,
            report: HealthReport::default(),
            replica: None,
            previous_lasted: Some(Duration::from_secs(5)),
        }
    }

    #[test]
    fn a_first_status_is_notified_only_when_failing() {
        assert!(!notifiable(&transition(None, Status::Ok)));
        assert!(!notifiable(&transition(None, Status::Unregistered)));
        assert!(notifiable(&transition(None, Status::Unreachable)));
        assert!(notifiable(&transition(Some(Status::Unhealthy), Status::Ok)));
    }

    #[test]
    fn a_failed_attempt_is_retried_until_the_bound_and_then_failed() {
        let failure = AttemptFailure {
            error: "502".to_owned(),
            status: Some(502),
            retry_in: Duration::from_secs(60),
            retry_for: Duration::from_secs(100),
        };
        let not_before = OffsetDateTime::UNIX_EPOCH;
        let at = |secs| not_before + time::Duration::seconds(secs);
        assert_eq!(
            failure.outcome(not_before, at(10)),
            AfterFailure {
                state: DeliveryState::Pending,
                next_attempt_at: at(70),
                finished_at: None,
            }
        );
        assert_eq!(
            failure.outcome(not_before, at(50)).next_attempt_at,
            at(100),
            "never due after the bound"
        );
        assert_eq!(
            failure.outcome(not_before, at(100)),
            AfterFailure {
                state: DeliveryState::Failed,
                next_attempt_at: at(100),
                finished_at: Some(at(100)),
            }
        );
    }

    #[test]
    fn a_flap_inside_the_damping_time_writes_nothing() {
        let back = transition(Some(Status::Unreachable), Status::Ok);
        let cancelled = Cancelled {
            from: Some(Status::Ok),
            previous_lasted: Some(Duration::from_secs(3600)),
        };
        assert_eq!(after_damping(&back, Some(cancelled)), None);
        let worse = transition(Some(Status::Unhealthy), Status::Unreachable);
        let merged = after_damping(&worse, Some(cancelled)).expect("a row");
        assert_eq!(merged.from, Some(Status::Ok));
        assert_eq!(merged.previous_lasted, Some(Duration::from_secs(3600)));
    }
}

//! The outbox in memory, for the memory store: the same rules as the
//! databases under one lock; nothing survives the process.

use parking_lot::Mutex;
use proxyhealth_core::Transition;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    AttemptFailure, Cancelled, DeliveryState, Notification, Outbox, OutboxPolicy, PolicyHandle,
    after_damping, plus, rows_of,
};
use crate::{StoreClock, StoreError};

/// The memory store's outbox.
#[derive(Debug, Default)]
pub(crate) struct MemoryOutbox {
    policy: PolicyHandle,
    /// What damping, leases and backoff are measured on.
    clock: StoreClock,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    rows: Vec<Row>,
    next_id: i64,
}

#[derive(Debug, Clone)]
struct Row {
    notification: Notification,
    lease: Option<(Uuid, OffsetDateTime)>,
}

impl MemoryOutbox {
    /// An empty outbox written by `policy`, on `clock`.
    pub(crate) fn new(policy: OutboxPolicy, clock: StoreClock) -> Self {
        MemoryOutbox {
            policy: PolicyHandle::new(policy),
            clock,
            inner: Mutex::default(),
        }
    }

    /// Writes the outbox rows of `recorded` (called under the history's lock,
    /// as part of its "transaction").
    pub(crate) fn write(&self, recorded: &[Transition]) {
        let policy = self.policy.get();
        if policy.targets.is_empty() || recorded.is_empty() {
            return;
        }
        let now = self.clock.now();
        let not_before = plus(now, policy.damping);
        let mut inner = self.inner.lock();
        for (target, transition) in rows_of(&policy, recorded) {
            let row = if policy.damping.is_zero() {
                Some(transition.clone())
            } else {
                let mut earliest = None;
                for row in inner.rows.iter_mut() {
                    let n = &mut row.notification;
                    if n.transition.proxy_id == transition.proxy_id
                        && n.target == target
                        && n.state == DeliveryState::Pending
                        && n.not_before > now
                    {
                        n.state = DeliveryState::Cancelled;
                        n.finished_at = Some(now);
                        earliest.get_or_insert(Cancelled {
                            from: n.transition.from,
                            previous_lasted: n.transition.previous_lasted,
                        });
                    }
                }
                after_damping(transition, earliest)
            };
            let Some(transition) = row else { continue };
            inner.next_id += 1;
            let id = inner.next_id;
            inner.rows.push(Row {
                notification: Notification {
                    id,
                    target: target.to_owned(),
                    transition,
                    state: DeliveryState::Pending,
                    attempts: 0,
                    created_at: now,
                    not_before,
                    next_attempt_at: not_before,
                    finished_at: None,
                    last_error: None,
                    last_status: None,
                },
                lease: None,
            });
        }
    }
}

#[async_trait::async_trait]
impl Outbox for MemoryOutbox {
    fn policy(&self) -> OutboxPolicy {
        self.policy.get()
    }

    async fn claim(
        &self,
        owner: Uuid,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError> {
        let now = self.clock.now();
        let mut inner = self.inner.lock();
        let mut blocked = std::collections::HashSet::new();
        let mut due = Vec::new();
        // rows are in id order: the first pending row of a proxy and target
        // blocks the later ones
        for (index, row) in inner.rows.iter().enumerate() {
            let n = &row.notification;
            if n.state != DeliveryState::Pending {
                continue;
            }
            let key = (n.transition.proxy_id, n.target.clone());
            if !blocked.insert(key) {
                continue;
            }
            let leased = row.lease.is_some_and(|(_, until)| until >= now);
            if n.next_attempt_at <= now && !leased {
                due.push(index);
            }
        }
        due.sort_by_key(|index| {
            let n = &inner.rows[*index].notification;
            (n.next_attempt_at, n.id)
        });
        due.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let mut claimed = Vec::with_capacity(due.len());
        for index in due {
            let row = &mut inner.rows[index];
            row.lease = Some((owner, plus(now, lease)));
            claimed.push(row.notification.clone());
        }
        claimed.sort_unstable_by_key(|n| n.id);
        Ok(claimed)
    }

    async fn delivered(
        &self,
        id: i64,
        owner: Uuid,
        status: Option<u16>,
    ) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock();
        let Some(row) = held(&mut inner, id, owner) else {
            return Ok(false);
        };
        row.lease = None;
        let n = &mut row.notification;
        n.state = DeliveryState::Delivered;
        n.attempts += 1;
        n.finished_at = Some(self.clock.now());
        n.last_status = status;
        n.last_error = None;
        Ok(true)
    }

    async fn attempt_failed(
        &self,
        id: i64,
        owner: Uuid,
        failure: &AttemptFailure,
    ) -> Result<Option<DeliveryState>, StoreError> {
        let now = self.clock.now();
        let mut inner = self.inner.lock();
        let Some(row) = held(&mut inner, id, owner) else {
            return Ok(None);
        };
        row.lease = None;
        let n = &mut row.notification;
        let after = failure.outcome(n.not_before, now);
        n.attempts += 1;
        n.last_error = Some(failure.error.clone());
        n.last_status = failure.status;
        n.state = after.state;
        n.next_attempt_at = after.next_attempt_at;
        n.finished_at = after.finished_at;
        Ok(Some(n.state))
    }

    async fn recent(&self, limit: u32) -> Result<Vec<Notification>, StoreError> {
        let inner = self.inner.lock();
        Ok(inner
            .rows
            .iter()
            .rev()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|row| row.notification.clone())
            .collect())
    }

    async fn prune(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut inner = self.inner.lock();
        let count = inner.rows.len();
        inner.rows.retain(|row| {
            let n = &row.notification;
            n.state == DeliveryState::Pending || n.finished_at.is_none_or(|at| at >= before)
        });
        Ok(u64::try_from(count - inner.rows.len()).unwrap_or(0))
    }
}

/// The pending row `id` if `owner` holds its lease.
fn held(inner: &mut Inner, id: i64, owner: Uuid) -> Option<&mut Row> {
    inner.rows.iter_mut().find(|row| {
        row.notification.id == id
            && row.notification.state == DeliveryState::Pending
            && row.lease.is_some_and(|(holder, _)| holder == owner)
    })
}

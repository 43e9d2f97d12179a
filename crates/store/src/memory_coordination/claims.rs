//! [`Claims`] in memory: the same leases, fences, request counting and
//! deferrals as on PostgreSQL, on tokio's clock.

use std::collections::HashSet;
use std::time::Duration;

use proxyhealth_core::maintenance_filter::MaintenanceFilter;
use proxyhealth_core::{HistoryBatch, ProxyStatus, Status, Transition};
use time::OffsetDateTime;
use tokio::time::Instant;
use uuid::Uuid;

use super::MemoryCoordination;
use super::state::{CheckEntry, StoredResult};
use crate::StoreError;
use crate::coordination::{
    Claim, Claims, Notice, ReplicaId, ResultWrite, WriteOutcome, history_through,
};

#[async_trait::async_trait]
impl Claims for MemoryCoordination {
    async fn claim_due(
        &self,
        owner: ReplicaId,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Claim>, StoreError> {
        let live = self.live_proxies().await?;
        let now = Instant::now();
        let mut state = self.state.lock().await;
        for proxy_id in live.keys() {
            state
                .checks
                .entry(*proxy_id)
                .or_insert_with(|| CheckEntry::new(now));
        }
        let mut due: Vec<(Instant, Uuid)> = state
            .checks
            .iter()
            .filter(|(proxy_id, row)| {
                live.contains_key(proxy_id)
                    && row.due <= now
                    && row.lease_until.is_none_or(|until| until < now)
                    && (row.confirm_for != Some(owner)
                        || row.confirm_until.is_some_and(|until| until <= now))
            })
            .map(|(proxy_id, row)| (row.due, *proxy_id))
            .collect();
        due.sort_unstable();
        due.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let mut claims = Vec::with_capacity(due.len());
        for (_, proxy_id) in due {
            let Some(row) = state.checks.get_mut(&proxy_id) else {
                continue;
            };
            let taken_over_from = row.lease_owner;
            row.lease_owner = Some(owner);
            row.lease_until = Some(now + lease);
            row.due = now + lease;
            row.attempt += 1;
            row.claimed_requests = row.requests;
            let confirming = row
                .confirm_for
                .filter(|_| row.confirm_until.is_some_and(|until| until > now));
            claims.push(Claim {
                proxy_id,
                owner,
                attempt: row.attempt,
                lease,
                taken_over_from,
                previous_status: row.result.as_ref().map(|stored| stored.result.status),
                confirming,
            });
        }
        Ok(claims)
    }

    async fn record_judged(
        &self,
        transitions: Vec<Transition>,
    ) -> Result<Vec<Transition>, StoreError> {
        let Some(history) = self.store.history() else {
            return Ok(Vec::new());
        };
        if transitions.is_empty() {
            return Ok(Vec::new());
        }
        // under the state's lock, as a result write records its history
        let _state = self.state.lock().await;
        let filter = self.filter().await?;
        history
            .record_batch(HistoryBatch {
                checks: Vec::new(),
                transitions: transitions
                    .into_iter()
                    .filter(|t| !filter.book().covers(&t.proxy_id))
                    .collect(),
            })
            .await
    }

    async fn write_results(
        &self,
        writes: Vec<ResultWrite>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        // stored as PostgreSQL stores them: what their JSON keeps (no token
        // hash, no process-local check_seq)
        let stored = writes
            .iter()
            .map(|write| stored_form(&write.result))
            .collect::<Result<Vec<_>, _>>()?;
        let now = Instant::now();
        let mut state = self.state.lock().await;
        let base = state.generation;
        // which writes the fences let in (a proxy once per batch: its first
        // accepted write releases the lease)
        let mut taken = HashSet::new();
        let outcomes: Vec<WriteOutcome> = writes
            .iter()
            .zip(1..)
            .map(|(write, ord)| {
                let claim = &write.claim;
                let fenced_in = state
                    .checks
                    .get(&claim.proxy_id)
                    .is_some_and(|row| row.held_by(claim.owner, claim.attempt));
                if fenced_in && taken.insert(claim.proxy_id) {
                    WriteOutcome::Accepted {
                        generation: base + ord,
                    }
                } else {
                    WriteOutcome::Rejected
                }
            })
            .collect();
        let accepted = || {
            writes
                .iter()
                .zip(&outcomes)
                .filter(|(_, outcome)| matches!(outcome, WriteOutcome::Accepted { .. }))
        };
        // the history first: when it fails, nothing has changed
        if let Some(history) = self.store.history() {
            let filter = self.filter().await?;
            history
                .record_batch(history_through(&filter, accepted().map(|(write, _)| write)))
                .await?;
        }
        state.generation = base + i64::try_from(writes.len()).unwrap_or(i64::MAX);
        let mut newest = None;
        for ((write, outcome), result) in writes.iter().zip(&outcomes).zip(stored) {
            let WriteOutcome::Accepted { generation } = *outcome else {
                continue;
            };
            let claim = &write.claim;
            if let Some(row) = state.checks.get_mut(&claim.proxy_id) {
                row.release();
                row.due = if row.requests > row.claimed_requests {
                    now
                } else {
                    now + write.next_due_in
                };
                row.confirm_for = None;
                row.confirm_until = None;
                row.result = Some(StoredResult {
                    result,
                    generation,
                    checked: now,
                    checked_by: claim.owner,
                });
            }
            state.observe(
                claim.proxy_id,
                claim.owner,
                write.result.status,
                &write.message,
                now,
            );
            newest = Some((generation, claim.proxy_id));
        }
        drop(state);
        if let Some((generation, proxy_id)) = newest {
            self.notify(Notice::Result {
                generation,
                proxy_id,
            });
        }
        Ok(outcomes)
    }

    async fn defer_for_confirmation(
        &self,
        claim: &Claim,
        status: Status,
        message: &str,
        within: Duration,
    ) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut state = self.state.lock().await;
        let Some(row) = state
            .checks
            .get_mut(&claim.proxy_id)
            .filter(|row| row.held_by(claim.owner, claim.attempt))
        else {
            return Ok(false);
        };
        row.release();
        row.due = now;
        row.confirm_for = Some(claim.owner);
        row.confirm_until = Some(now + within);
        state.observe(claim.proxy_id, claim.owner, status, message, now);
        drop(state);
        self.notify(Notice::Due {
            proxy_id: Some(claim.proxy_id),
        });
        Ok(true)
    }

    async fn request_check(&self, proxy_id: Uuid) -> Result<(), StoreError> {
        let live = self
            .store
            .get_proxy(proxy_id)
            .await?
            .is_some_and(|proxy| !proxy.deleted);
        if !live {
            return Err(StoreError::NotFound);
        }
        let now = Instant::now();
        let mut state = self.state.lock().await;
        match state.checks.get_mut(&proxy_id) {
            Some(row) => {
                row.requests += 1;
                // a request during a check: due again right after its write
                if row.lease_until.is_none_or(|until| until < now) {
                    row.due = row.due.min(now);
                }
            }
            None => {
                state.checks.insert(proxy_id, CheckEntry::new(now));
            }
        }
        drop(state);
        self.notify(Notice::Due {
            proxy_id: Some(proxy_id),
        });
        Ok(())
    }
}

/// A result as a stored one reads back: through its JSON, which leaves out
/// what is never stored (the proxy's token hash, the process-local
/// `check_seq`).
fn stored_form(result: &ProxyStatus) -> Result<ProxyStatus, StoreError> {
    serde_json::to_value(result)
        .and_then(serde_json::from_value)
        .map_err(|err| StoreError::Internal(format!("cannot store a result: {err}")))
}

impl MemoryCoordination {
    /// The windows of the shared store now, as the PostgreSQL write reads them.
    async fn filter(&self) -> Result<MaintenanceFilter, StoreError> {
        let windows = match self.store.maintenance() {
            Some(book) => book
                .list()
                .await
                .map_err(|err| StoreError::Internal(err.to_string()))?,
            None => Vec::new(),
        };
        Ok(MaintenanceFilter::compile(
            &windows,
            OffsetDateTime::now_utc(),
        ))
    }
}

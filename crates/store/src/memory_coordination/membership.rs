//! [`Membership`] in memory.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;
use uuid::Uuid;

use super::MemoryCoordination;
use super::state::ReplicaEntry;
use crate::StoreError;
use crate::coordination::{Membership, Notice, ReplicaId, ReplicaInfo, ReplicaRow};

#[async_trait::async_trait]
impl Membership for MemoryCoordination {
    async fn register(&self, info: ReplicaInfo) -> Result<ReplicaId, StoreError> {
        let now = Instant::now();
        let id = Uuid::new_v4();
        self.state.lock().await.replicas.insert(
            id,
            ReplicaEntry {
                info,
                started: now,
                heartbeat: now,
                stopped: None,
                view_generation: 0,
            },
        );
        Ok(id)
    }

    async fn heartbeat(
        &self,
        id: ReplicaId,
        view_generation: i64,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let now = Instant::now();
        let mut state = self.state.lock().await;
        let Some(replica) = state.replicas.get_mut(&id).filter(|r| r.stopped.is_none()) else {
            return Ok(None);
        };
        replica.heartbeat = now;
        replica.view_generation = view_generation;
        Ok(Some(self.clock.date(now)))
    }

    async fn stop(&self, id: ReplicaId) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut state = self.state.lock().await;
        if let Some(replica) = state.replicas.get_mut(&id).filter(|r| r.stopped.is_none()) {
            replica.stopped = Some(now);
        }
        let mut released = false;
        for row in state.checks.values_mut() {
            if row.lease_owner == Some(id) {
                row.release();
                row.due = row.due.min(now);
                released = true;
            }
        }
        drop(state);
        if released {
            self.notify(Notice::Due { proxy_id: None });
        }
        Ok(())
    }

    async fn replicas(&self, live_window: Duration) -> Result<Vec<ReplicaRow>, StoreError> {
        let now = Instant::now();
        let state = self.state.lock().await;
        // the oldest result each view generation has not seen: results by generation
        let mut results: Vec<(i64, Instant)> = state
            .checks
            .values()
            .filter_map(|row| row.result.as_ref())
            .map(|result| (result.generation, result.checked))
            .collect();
        results.sort_unstable_by_key(|(generation, _)| *generation);
        let mut rows: Vec<(Instant, ReplicaRow)> = state
            .replicas
            .iter()
            .map(|(id, replica)| {
                let heartbeat_age = now.saturating_duration_since(replica.heartbeat);
                let oldest_unseen = results
                    .iter()
                    .find(|(generation, _)| *generation > replica.view_generation);
                let row = ReplicaRow {
                    id: *id,
                    hostname: replica.info.hostname.clone(),
                    version: replica.info.version.clone(),
                    listen_addr: replica.info.listen_addr.clone(),
                    pid: replica.info.pid,
                    vantage: replica.info.vantage.clone(),
                    started_at: self.clock.date(replica.started),
                    heartbeat_at: self.clock.date(replica.heartbeat),
                    stopped_at: replica.stopped.map(|at| self.clock.date(at)),
                    live: heartbeat_age < live_window && replica.stopped.is_none(),
                    heartbeat_age,
                    view_generation: replica.view_generation,
                    generation_lag: (state.generation - replica.view_generation).max(0),
                    lag: oldest_unseen
                        .map(|(_, checked)| now.saturating_duration_since(*checked))
                        .unwrap_or_default(),
                };
                (replica.started, row)
            })
            .collect();
        rows.sort_by_key(|(started, row)| (*started, row.id));
        Ok(rows.into_iter().map(|(_, row)| row).collect())
    }
}

//! [`Observations`] in memory: observations, disagreements among live
//! replicas, and stale proxies.

use std::collections::HashSet;
use std::time::Duration;

use proxyhealth_core::Status;
use tokio::time::Instant;
use uuid::Uuid;

use super::MemoryCoordination;
use crate::StoreError;
use crate::coordination::{Disagreement, Observation, Observations, ReplicaId, disagreements_of};

#[async_trait::async_trait]
impl Observations for MemoryCoordination {
    async fn record_observation(
        &self,
        proxy_id: Uuid,
        replica: ReplicaId,
        status: Status,
        message: &str,
    ) -> Result<(), StoreError> {
        if self.store.get_proxy(proxy_id).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        let now = Instant::now();
        self.state
            .lock()
            .await
            .observe(proxy_id, replica, status, message, now);
        Ok(())
    }

    async fn observations(&self, proxy_id: Uuid) -> Result<Vec<Observation>, StoreError> {
        let state = self.state.lock().await;
        Ok(state
            .observations
            .range((proxy_id, Uuid::nil())..=(proxy_id, Uuid::max()))
            .map(|((proxy_id, replica_id), seen)| Observation {
                proxy_id: *proxy_id,
                replica_id: *replica_id,
                status: seen.status,
                message: seen.message.clone(),
                observed_at: self.clock.date(seen.observed),
            })
            .collect())
    }

    async fn disagreements(
        &self,
        live_window: Duration,
        within: Duration,
    ) -> Result<Vec<Disagreement>, StoreError> {
        let live_proxies = self.live_proxies().await?;
        let now = Instant::now();
        let state = self.state.lock().await;
        let recent: Vec<Observation> = state
            .observations
            .iter()
            .filter(|((proxy_id, replica_id), seen)| {
                live_proxies.contains_key(proxy_id)
                    && now.saturating_duration_since(seen.observed) < within
                    && state.replicas.get(replica_id).is_some_and(|replica| {
                        replica.stopped.is_none()
                            && now.saturating_duration_since(replica.heartbeat) < live_window
                    })
            })
            .map(|((proxy_id, replica_id), seen)| Observation {
                proxy_id: *proxy_id,
                replica_id: *replica_id,
                status: seen.status,
                message: seen.message.clone(),
                observed_at: self.clock.date(seen.observed),
            })
            .collect();
        Ok(disagreements_of(recent)
            .into_iter()
            .filter(|split| {
                let statuses: HashSet<Status> =
                    split.observations.iter().map(|seen| seen.status).collect();
                statuses.len() > 1
            })
            .collect())
    }

    async fn stale(&self, older_than: Duration) -> Result<Vec<Uuid>, StoreError> {
        let live = self.live_proxies().await?;
        let now = Instant::now();
        let today = self.clock.date(now);
        let state = self.state.lock().await;
        let mut stale: Vec<Uuid> = live
            .values()
            .filter(|proxy| match state.checks.get(&proxy.id) {
                Some(row) => {
                    let since = row.result.as_ref().map_or(row.created, |r| r.checked);
                    now.saturating_duration_since(since) > older_than
                }
                None => today - proxy.created_at > older_than,
            })
            .map(|proxy| proxy.id)
            .collect();
        stale.sort_unstable();
        Ok(stale)
    }
}

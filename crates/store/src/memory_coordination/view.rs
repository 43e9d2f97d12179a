//! [`SharedView`] in memory, and its listener: a receiver of the
//! coordination's broadcast channel.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::MemoryCoordination;
use crate::StoreError;
use crate::coordination::{
    ListenerStats, Notice, NoticeSource, ResultBatch, ResultRow, SharedView,
};

impl MemoryCoordination {
    /// Results newer than `generation` of non-deleted proxies, by generation.
    async fn results_after(&self, generation: i64) -> Result<ResultBatch, StoreError> {
        let live = self.live_proxies().await?;
        let state = self.state.lock().await;
        let mut rows: Vec<ResultRow> = state
            .checks
            .iter()
            .filter(|(proxy_id, _)| live.contains_key(proxy_id))
            .filter_map(|(proxy_id, row)| {
                let stored = row.result.as_ref()?;
                // one probing group here: a row is its writer's vantage's
                let vantage = state.replicas.get(&stored.checked_by).map_or_else(
                    || proxyhealth_core::VantageName::DEFAULT.to_owned(),
                    |replica| replica.info.vantage.clone(),
                );
                (stored.generation > generation).then(|| ResultRow {
                    proxy_id: *proxy_id,
                    vantage,
                    generation: stored.generation,
                    result: stored.result.clone(),
                    checked_at: self.clock.date(stored.checked),
                    checked_by: stored.checked_by,
                })
            })
            .collect();
        rows.sort_by_key(|row| row.generation);
        Ok(ResultBatch {
            generation: state.generation,
            rows,
        })
    }
}

#[async_trait::async_trait]
impl SharedView for MemoryCoordination {
    async fn results_since(&self, generation: i64) -> Result<ResultBatch, StoreError> {
        self.results_after(generation).await
    }

    async fn all_results(&self) -> Result<ResultBatch, StoreError> {
        self.results_after(0).await
    }

    async fn newest_generation(&self) -> Result<i64, StoreError> {
        Ok(self.state.lock().await.generation)
    }

    async fn listen(&self) -> Result<Box<dyn NoticeSource>, StoreError> {
        let stats = Arc::new(ListenerStats::default());
        stats.set_connected(true);
        Ok(Box::new(MemoryListener {
            notices: self.notices.subscribe(),
            stats,
        }))
    }
}

/// A listener of [`MemoryCoordination`]'s notices: always connected; one
/// that fell behind the channel yields [`Notice::Reconnected`] (its lost
/// notices call for a full reload) and counts it as a reconnect.
struct MemoryListener {
    notices: broadcast::Receiver<Notice>,
    stats: Arc<ListenerStats>,
}

#[async_trait::async_trait]
impl NoticeSource for MemoryListener {
    async fn recv(&mut self) -> Notice {
        match self.notices.recv().await {
            Ok(notice) => notice,
            Err(broadcast::error::RecvError::Lagged(_)) => {
                self.stats.count_reconnect();
                Notice::Reconnected
            }
            // the coordination is gone: nothing more will come
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }

    fn stats(&self) -> Arc<ListenerStats> {
        Arc::clone(&self.stats)
    }
}

//! Deleting old rows a chunk at a time, each chunk its own short
//! transaction, so other writes wait for one chunk at most (SQLite has one
//! writer): what every retention pass does.

use std::future::Future;

use crate::StoreError;

/// Calls `prune` with `limit` until a call deletes fewer than `limit` rows,
/// letting other tasks run between calls; returns how many rows went.
pub(crate) async fn prune_in_chunks<F, Fut>(limit: u32, mut prune: F) -> Result<u64, StoreError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<u64, StoreError>>,
{
    let limit = limit.max(1);
    let mut total = 0;
    loop {
        let pruned = prune(limit).await?;
        total += pruned;
        if pruned < u64::from(limit) {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

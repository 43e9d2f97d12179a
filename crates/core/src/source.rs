//! The interface the engine reads proxies through.

use crate::Proxy;

/// Why a store could not list the proxies.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    /// What went wrong, with the cause; shown in logs, `/healthz` and sweep errors.
    pub message: String,
}

impl SourceError {
    /// A source error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        SourceError {
            message: message.into(),
        }
    }
}

/// Where the engine loads the proxies to check from, at the start of every sweep.
///
/// Stores (in-memory, SQLite, PostgreSQL, a Coder database) implement it; the
/// engine needs nothing else from them.
#[async_trait::async_trait]
pub trait ProxySource: Send + Sync {
    /// Every proxy that is not soft-deleted, in a stable order (creation, then id).
    async fn list_proxies(&self) -> Result<Vec<Proxy>, SourceError>;

    /// One proxy by id, deleted or not; `None` when there is no such row.
    async fn proxy_by_id(&self, id: uuid::Uuid) -> Result<Option<Proxy>, SourceError>;

    /// The proxies with these ids, deleted or not, in any order; ids with no
    /// row are left out. A replica reads what it claimed this way, so a claim
    /// costs in proportion to its size, not to the fleet's. The default asks
    /// one by one; a store that can do it in one query does.
    async fn proxies_by_ids(&self, ids: &[uuid::Uuid]) -> Result<Vec<Proxy>, SourceError> {
        let mut found = Vec::with_capacity(ids.len());
        for &id in ids {
            if let Some(proxy) = self.proxy_by_id(id).await? {
                found.push(proxy);
            }
        }
        Ok(found)
    }
}

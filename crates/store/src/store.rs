//! The `ProxyStore` trait every backend implements.

use std::sync::Arc;

use proxyhealth_core::{Proxy, ProxySource};
use uuid::Uuid;

use crate::{
    Coordination, CreatedProxy, HistoryStore, InstanceGuard, InstanceInfo, InstanceLockError,
    NewProxy, ProxyUpdate, Registration, StoreError, TokenError, token,
};

/// Where proxies, their token hashes and the admin token hash are kept.
///
/// Object-safe: the service holds an `Arc<dyn ProxyStore>`. Every write checks
/// the rules of [`proxyhealth_core::validate`] and returns a typed
/// [`StoreError`]; names are unique case-insensitively among non-deleted
/// proxies, enforced by the database itself so concurrent writers cannot both
/// win. [`ProxySource`] (`list_proxies`, `proxy_by_id`) is what the engine reads.
#[async_trait::async_trait]
pub trait ProxyStore: ProxySource {
    /// Creates a proxy (`derp_enabled` true, `derp_only` false, not registered)
    /// and mints its token, which is returned only here.
    async fn create_proxy(&self, new: NewProxy) -> Result<CreatedProxy, StoreError>;

    /// One proxy by id, deleted or not, with a typed error (what `proxy_by_id`
    /// returns, before its error is turned into a [`proxyhealth_core::SourceError`]).
    async fn get_proxy(&self, id: Uuid) -> Result<Option<Proxy>, StoreError>;

    /// The proxies with these ids, deleted or not, in any order; ids with no
    /// row are left out (what `proxies_by_ids` returns, with a typed error).
    /// The default asks one by one; PostgreSQL answers in one query.
    async fn get_proxies(&self, ids: &[Uuid]) -> Result<Vec<Proxy>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for &id in ids {
            if let Some(proxy) = self.get_proxy(id).await? {
                found.push(proxy);
            }
        }
        Ok(found)
    }

    /// The non-deleted proxy with this name in any case (`EU-WEST` finds
    /// `eu-west`): the rule names are unique by, so a lookup finds the one
    /// proxy a create under that name would clash with.
    async fn proxy_by_name(&self, name: &str) -> Result<Option<Proxy>, StoreError>;

    /// Every non-deleted proxy ordered by creation time, then id.
    async fn all_proxies(&self) -> Result<Vec<Proxy>, StoreError>;

    /// Changes name, display name or icon of a non-deleted proxy; sets `updated_at`.
    async fn update_proxy(&self, id: Uuid, update: ProxyUpdate) -> Result<Proxy, StoreError>;

    /// Mints a new token for a non-deleted proxy; the old one stops working.
    async fn regenerate_token(&self, id: Uuid) -> Result<CreatedProxy, StoreError>;

    /// Soft-deletes a proxy (sets `deleted` and `updated_at`); its name becomes
    /// free. [`StoreError::NotFound`] when it does not exist or is already deleted.
    async fn delete_proxy(&self, id: Uuid) -> Result<(), StoreError>;

    /// Records what a non-deleted proxy registered: URL, wildcard, DERP flags and
    /// version, and sets `updated_at`.
    async fn register_proxy(
        &self,
        id: Uuid,
        registration: Registration,
    ) -> Result<Proxy, StoreError>;

    /// The SHA-256 of the admin token, if one was stored.
    async fn admin_token_hash(&self) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores the admin token hash unless one exists; `true` when this call stored
    /// it. Atomic: of two replicas starting at once, exactly one gets `true`.
    async fn set_admin_token_hash_if_absent(&self, hash: Vec<u8>) -> Result<bool, StoreError>;

    /// Checks that the database answers (for `/healthz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Checks that the database takes a write (for `/healthz` after a write
    /// failed: a locked file, a full disk or a read-only file answers reads but
    /// not writes). The default is [`ProxyStore::ping`]; stores that can write a
    /// throw-away value do so. Never changes a proxy.
    async fn probe_write(&self) -> Result<(), StoreError> {
        self.ping().await
    }

    /// Whether writes are refused (attached read-only to a Coder database).
    fn is_read_only(&self) -> bool;

    /// How replicas sharing this store coordinate, when they can: `Some` for a
    /// writable PostgreSQL store, `None` for stores that are one process
    /// (memory), one writer (SQLite) or read-only.
    fn coordination(&self) -> Option<Arc<dyn Coordination>> {
        None
    }

    /// The store's persisted history: `Some` for stores that
    /// write it (memory, SQLite, writable PostgreSQL), `None` attached
    /// read-only to a Coder database.
    fn history(&self) -> Option<Arc<dyn HistoryStore>> {
        None
    }

    /// The store's notification outbox: `Some` for stores that
    /// write history, `None` attached read-only to a Coder database.
    fn outbox(&self) -> Option<Arc<dyn crate::Outbox>> {
        None
    }

    /// The vantages and their agent tokens: `Some` for stores with tables
    /// of our own, `None` attached read-only to a Coder database without a
    /// schema of our own.
    fn vantages(&self) -> Option<Arc<dyn crate::VantageStore>> {
        None
    }

    /// The maintenance windows: `Some` for stores with tables of our own,
    /// `None` attached read-only to a Coder database without a schema of
    /// our own.
    fn maintenance(&self) -> Option<Arc<dyn crate::MaintenanceStore>> {
        None
    }

    /// The dashboard's logins under way and sessions: `Some` for stores
    /// with tables of our own, `None` attached read-only to a Coder database
    /// without a schema of our own.
    fn sessions(&self) -> Option<Arc<dyn crate::SessionStore>> {
        None
    }

    /// The personal tokens people act with: `Some` for stores with tables of
    /// our own, `None` attached read-only to a Coder database without a
    /// schema of our own (then only the admin token works).
    fn personal_tokens(&self) -> Option<Arc<dyn crate::PersonalTokenStore>> {
        None
    }

    /// The audit log: `Some` for stores with tables of our own, `None`
    /// attached read-only to a Coder database without a schema of our own.
    fn audit(&self) -> Option<Arc<dyn crate::AuditLog>> {
        None
    }

    /// Makes this process the only `serve` on the store, when the store needs
    /// that (SQLite: one writer). `Ok(None)` for stores that need no lock; hold
    /// the guard while serving. [`InstanceLockError::Held`] names the holder.
    fn instance_lock(
        &self,
        info: &InstanceInfo,
    ) -> Result<Option<InstanceGuard>, InstanceLockError> {
        let _ = info;
        Ok(None)
    }

    /// Checks a `Coder-External-Proxy-Token` and returns its proxy.
    ///
    /// The token must be `<uuid>:<64 hex>`; the proxy must exist and not be
    /// deleted; the SHA-256 of the secret is compared in constant time.
    async fn verify_proxy_token(&self, token: &str) -> Result<Proxy, TokenError> {
        let (id, secret) = token::parse(token).ok_or(TokenError::Malformed)?;
        let proxy = self.get_proxy(id).await?.ok_or(TokenError::NotFound)?;
        if proxy.deleted {
            return Err(TokenError::Deleted);
        }
        if !token::secret_matches(secret, &proxy.token_hashed_secret) {
            return Err(TokenError::WrongSecret);
        }
        Ok(proxy)
    }
}

/// Implements [`ProxySource`] for a type that implements [`ProxyStore`], by
/// delegating to `all_proxies` and `get_proxy`.
macro_rules! impl_proxy_source {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl proxyhealth_core::ProxySource for $ty {
            async fn list_proxies(
                &self,
            ) -> Result<Vec<proxyhealth_core::Proxy>, proxyhealth_core::SourceError> {
                Ok($crate::ProxyStore::all_proxies(self).await?)
            }

            async fn proxy_by_id(
                &self,
                id: uuid::Uuid,
            ) -> Result<Option<proxyhealth_core::Proxy>, proxyhealth_core::SourceError> {
                Ok($crate::ProxyStore::get_proxy(self, id).await?)
            }

            async fn proxies_by_ids(
                &self,
                ids: &[uuid::Uuid],
            ) -> Result<Vec<proxyhealth_core::Proxy>, proxyhealth_core::SourceError> {
                Ok($crate::ProxyStore::get_proxies(self, ids).await?)
            }
        }
    };
}
pub(crate) use impl_proxy_source;

//! `MemoryStore`: the proxies in a mutex-guarded map, for tests and `memory:`.

use std::collections::HashMap;

use parking_lot::Mutex;
use proxyhealth_core::Proxy;
use uuid::Uuid;

use crate::rules::{self, check_new, check_registration, check_update, fold_name};
use crate::store::impl_proxy_source;
use crate::{CreatedProxy, NewProxy, ProxyStore, ProxyUpdate, Registration, StoreError, token};

/// A store that keeps everything in memory, with the same rules as the
/// database stores; nothing survives the process.
///
/// [`MemoryStore::set_failing`] makes every call fail as if the database were
/// down, so tests can check how callers survive an unavailable store.
#[derive(Debug)]
pub struct MemoryStore {
    /// Shared with the vantages, which ask it whether a proxy is live.
    inner: std::sync::Arc<Mutex<Inner>>,
    /// What the outbox's damping, leases and backoff are measured on.
    clock: crate::StoreClock,
    /// The vantages and their agent tokens.
    vantages: std::sync::Arc<crate::vantages::memory::MemoryVantages>,
    /// The dashboard's logins and sessions.
    sessions: std::sync::Arc<crate::sessions::memory::MemorySessions>,
    /// The personal tokens.
    personal_tokens: std::sync::Arc<crate::personal_tokens::memory::MemoryPersonalTokens>,
    /// The audit log.
    audit: std::sync::Arc<crate::audit::memory::MemoryAudit>,
    /// The maintenance windows.
    maintenance: std::sync::Arc<crate::maintenance::memory::MemoryMaintenance>,
    /// Persisted (in memory) history.
    history: std::sync::Arc<crate::history::memory::MemoryHistory>,
}

#[derive(Debug, Default)]
struct Inner {
    proxies: HashMap<Uuid, Proxy>,
    next_region_id: i32,
    admin_token_hash: Option<Vec<u8>>,
    failing: Option<String>,
    read_only: bool,
}

impl Inner {
    fn check_failing(&self) -> Result<(), StoreError> {
        match &self.failing {
            Some(message) => Err(StoreError::Unavailable(message.clone())),
            None => Ok(()),
        }
    }

    /// [`Inner::check_failing`], then [`StoreError::ReadOnly`] when writes are off.
    fn check_writable(&self) -> Result<(), StoreError> {
        self.check_failing()?;
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        Ok(())
    }

    /// Whether a non-deleted proxy other than `except` has this name, ignoring case.
    fn name_taken(&self, name: &str, except: Option<Uuid>) -> bool {
        let folded = fold_name(name);
        self.proxies
            .values()
            .any(|p| !p.deleted && Some(p.id) != except && fold_name(&p.name) == folded)
    }

    fn live_mut(&mut self, id: Uuid) -> Result<&mut Proxy, StoreError> {
        self.proxies
            .get_mut(&id)
            .filter(|p| !p.deleted)
            .ok_or(StoreError::NotFound)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store that writes no notification rows.
    pub fn new() -> Self {
        Self::with_outbox_policy(crate::OutboxPolicy::default())
    }

    /// An empty store whose history writes notification rows by `policy`
    /// (the targets and damping of the notifications configured).
    pub fn with_outbox_policy(policy: crate::OutboxPolicy) -> Self {
        let clock = crate::StoreClock::new();
        let inner = std::sync::Arc::new(Mutex::new(Inner::default()));
        let proxies = inner.clone();
        let live = crate::vantages::memory::ProxyLiveness::new(move |id| {
            proxies.lock().proxies.get(id).is_some_and(|p| !p.deleted)
        });
        MemoryStore {
            inner,
            history: std::sync::Arc::new(crate::history::memory::MemoryHistory::with_outbox(
                policy,
                clock.clone(),
            )),
            vantages: std::sync::Arc::new(crate::vantages::memory::MemoryVantages::new(
                clock.clone(),
                live,
            )),
            sessions: Default::default(),
            audit: std::sync::Arc::default(),
            maintenance: std::sync::Arc::default(),
            personal_tokens: std::sync::Arc::new(
                crate::personal_tokens::memory::MemoryPersonalTokens::new(clock.clone()),
            ),
            clock,
        }
    }

    /// The clock the outbox's rules read: a test moves it
    /// ([`crate::StoreClock::advance`]) to see damping or backoff end
    /// without waiting for it.
    pub fn clock(&self) -> &crate::StoreClock {
        &self.clock
    }

    /// Test hook: with `Some(message)`, every call returns
    /// [`StoreError::Unavailable`] with that message until called with `None`.
    pub fn set_failing(&self, message: Option<String>) {
        self.inner.lock().failing = message;
    }

    /// Test hook: with `true`, the store behaves like a read-only attach (as
    /// `open_store` gives for a Coder database): reads work, every write is
    /// refused with [`StoreError::ReadOnly`], and `is_read_only` is `true`.
    pub fn set_read_only(&self, read_only: bool) {
        self.inner.lock().read_only = read_only;
    }
}

impl_proxy_source!(MemoryStore);

#[async_trait::async_trait]
impl ProxyStore for MemoryStore {
    async fn create_proxy(&self, new: NewProxy) -> Result<CreatedProxy, StoreError> {
        check_new(&new)?;
        let id = Uuid::new_v4();
        let minted = token::mint(id).map_err(rules::rng_error)?;
        let mut inner = self.inner.lock();
        inner.check_writable()?;
        if inner.name_taken(&new.name, None) {
            return Err(StoreError::NameTaken(new.name));
        }
        inner.next_region_id += 1;
        let now = rules::now();
        let proxy = Proxy {
            id,
            name: new.name,
            display_name: new.display_name,
            icon: new.icon,
            url: String::new(),
            wildcard_hostname: String::new(),
            created_at: now,
            updated_at: now,
            deleted: false,
            token_hashed_secret: minted.hashed_secret,
            region_id: inner.next_region_id,
            derp_enabled: true,
            derp_only: false,
            version: String::new(),
        };
        inner.proxies.insert(id, proxy.clone());
        Ok(CreatedProxy {
            proxy,
            token: minted.token,
        })
    }

    async fn get_proxy(&self, id: Uuid) -> Result<Option<Proxy>, StoreError> {
        let inner = self.inner.lock();
        inner.check_failing()?;
        Ok(inner.proxies.get(&id).cloned())
    }

    async fn proxy_by_name(&self, name: &str) -> Result<Option<Proxy>, StoreError> {
        let inner = self.inner.lock();
        inner.check_failing()?;
        Ok(inner
            .proxies
            .values()
            .find(|p| !p.deleted && fold_name(&p.name) == fold_name(name))
            .cloned())
    }

    async fn all_proxies(&self) -> Result<Vec<Proxy>, StoreError> {
        let inner = self.inner.lock();
        inner.check_failing()?;
        let mut proxies: Vec<Proxy> = inner
            .proxies
            .values()
            .filter(|p| !p.deleted)
            .cloned()
            .collect();
        proxies.sort_by_key(|p| (p.created_at, p.id));
        Ok(proxies)
    }

    async fn update_proxy(&self, id: Uuid, update: ProxyUpdate) -> Result<Proxy, StoreError> {
        check_update(&update)?;
        let mut inner = self.inner.lock();
        inner.check_writable()?;
        inner.live_mut(id)?;
        if let Some(name) = &update.name
            && inner.name_taken(name, Some(id))
        {
            return Err(StoreError::NameTaken(name.clone()));
        }
        let proxy = inner.live_mut(id)?;
        if let Some(name) = update.name {
            proxy.name = name;
        }
        if let Some(display_name) = update.display_name {
            proxy.display_name = display_name;
        }
        if let Some(icon) = update.icon {
            proxy.icon = icon;
        }
        proxy.updated_at = rules::now();
        Ok(proxy.clone())
    }

    async fn regenerate_token(&self, id: Uuid) -> Result<CreatedProxy, StoreError> {
        let minted = token::mint(id).map_err(rules::rng_error)?;
        let mut inner = self.inner.lock();
        inner.check_writable()?;
        let proxy = inner.live_mut(id)?;
        proxy.token_hashed_secret = minted.hashed_secret;
        proxy.updated_at = rules::now();
        Ok(CreatedProxy {
            proxy: proxy.clone(),
            token: minted.token,
        })
    }

    async fn delete_proxy(&self, id: Uuid) -> Result<(), StoreError> {
        {
            let mut inner = self.inner.lock();
            inner.check_writable()?;
            let proxy = inner.live_mut(id)?;
            proxy.deleted = true;
            proxy.updated_at = rules::now();
        }
        // after the store's lock is let go: the vantages take it under theirs
        // (to ask whether a proxy is live), so it is never held while
        // taking theirs; a reading being kept now either sees the proxy
        // deleted or is forgotten here
        self.vantages.forget_proxy(&id);
        Ok(())
    }

    async fn register_proxy(
        &self,
        id: Uuid,
        registration: Registration,
    ) -> Result<Proxy, StoreError> {
        check_registration(&registration)?;
        let mut inner = self.inner.lock();
        inner.check_writable()?;
        let proxy = inner.live_mut(id)?;
        proxy.url = registration.url;
        proxy.wildcard_hostname = registration.wildcard_hostname;
        proxy.derp_enabled = registration.derp_enabled;
        proxy.derp_only = registration.derp_only;
        proxy.version = registration.version;
        proxy.updated_at = rules::now();
        Ok(proxy.clone())
    }

    async fn admin_token_hash(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let inner = self.inner.lock();
        inner.check_failing()?;
        Ok(inner.admin_token_hash.clone())
    }

    async fn set_admin_token_hash_if_absent(&self, hash: Vec<u8>) -> Result<bool, StoreError> {
        let mut inner = self.inner.lock();
        inner.check_writable()?;
        if inner.admin_token_hash.is_some() {
            return Ok(false);
        }
        inner.admin_token_hash = Some(hash);
        Ok(true)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.lock().check_failing()
    }

    fn is_read_only(&self) -> bool {
        self.inner.lock().read_only
    }

    fn history(&self) -> Option<std::sync::Arc<dyn crate::HistoryStore>> {
        Some(self.history.clone())
    }

    fn outbox(&self) -> Option<std::sync::Arc<dyn crate::Outbox>> {
        Some(self.history.outbox.clone())
    }

    fn vantages(&self) -> Option<std::sync::Arc<dyn crate::VantageStore>> {
        Some(self.vantages.clone())
    }

    fn maintenance(&self) -> Option<std::sync::Arc<dyn crate::MaintenanceStore>> {
        Some(self.maintenance.clone())
    }

    fn sessions(&self) -> Option<std::sync::Arc<dyn crate::SessionStore>> {
        Some(self.sessions.clone())
    }

    fn personal_tokens(&self) -> Option<std::sync::Arc<dyn crate::PersonalTokenStore>> {
        Some(self.personal_tokens.clone())
    }

    fn audit(&self) -> Option<std::sync::Arc<dyn crate::AuditLog>> {
        Some(self.audit.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_only_memory_store_answers_reads_and_refuses_writes() {
        let store = MemoryStore::new();
        let created = store
            .create_proxy(NewProxy {
                name: "eu".into(),
                display_name: String::new(),
                icon: String::new(),
            })
            .await
            .expect("create");
        store.set_read_only(true);
        assert!(store.is_read_only());
        assert_eq!(store.all_proxies().await.expect("read").len(), 1);
        let err = store
            .delete_proxy(created.proxy.id)
            .await
            .expect_err("refused");
        assert_eq!(err, StoreError::ReadOnly);
        store.set_read_only(false);
        store
            .delete_proxy(created.proxy.id)
            .await
            .expect("writable again");
    }
}

//! `MemoryCoordination`: [`Coordination`](crate::Coordination) in one
//! process, for tests of the replica runtime without a database, passing the
//! same conformance suite as [`crate::PgCoordination`].
//!
//! Its "database" is a tokio mutex over a few maps; every statement takes it
//! once, so statements are serial (as transactions holding the view row are
//! on PostgreSQL) and a write's history is recorded before its result is
//! applied, under the same lock: a failed history write changes nothing.
//! Leases, due times and heartbeats are on tokio's clock, so tests may run it
//! with paused time; wall-clock stamps (`checked_at`, `heartbeat_at`, …) are
//! that clock read as a date. Notices go through a tokio broadcast channel; a
//! listener that falls behind it is told [`Notice::Reconnected`], as one whose
//! connection was lost.
//!
//! Proxies are read from the [`ProxyStore`] it is made over (usually a
//! [`crate::MemoryStore`]), and its history is recorded in that store's
//! [`crate::HistoryStore`] (with its outbox rows). Unlike PostgreSQL it
//! inserts missing check rows at every claim (it is cheap here), and prunes
//! nothing (a test's process is short).
//!
//! # Layout
//! - `state`: the rows (the clock is [`crate::StoreClock`]).
//! - `membership`, `claims`, `view`, `observations`: one concern each.

mod claims;
mod membership;
mod observations;
mod state;
mod view;

use std::collections::HashMap;
use std::sync::Arc;

use proxyhealth_core::Proxy;
use tokio::sync::{Mutex, broadcast};
use uuid::Uuid;

use crate::StoreClock;
use crate::coordination::Notice;
use crate::{ProxyStore, StoreError};
use state::State;

/// How many notices a listener may fall behind before it is told to reload.
const NOTICE_BACKLOG: usize = 1024;

/// [`Coordination`](crate::Coordination) in memory; see the module docs.
/// Share one (in an `Arc`) between the replicas of a test: they are one
/// cluster.
pub struct MemoryCoordination {
    store: Arc<dyn ProxyStore>,
    state: Mutex<State>,
    clock: StoreClock,
    notices: broadcast::Sender<Notice>,
}

impl std::fmt::Debug for MemoryCoordination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCoordination").finish_non_exhaustive()
    }
}

impl MemoryCoordination {
    /// Coordination of replicas sharing `store`'s proxies (and history).
    pub fn new(store: Arc<dyn ProxyStore>) -> Self {
        let (notices, _) = broadcast::channel(NOTICE_BACKLOG);
        MemoryCoordination {
            store,
            state: Mutex::new(State::default()),
            clock: StoreClock::new(),
            notices,
        }
    }

    /// The store's non-deleted proxies, by id.
    async fn live_proxies(&self) -> Result<HashMap<Uuid, Proxy>, StoreError> {
        Ok(self
            .store
            .all_proxies()
            .await?
            .into_iter()
            .map(|proxy| (proxy.id, proxy))
            .collect())
    }

    /// Sends a notice to every listener (none listening is fine).
    fn notify(&self, notice: Notice) {
        let _ = self.notices.send(notice);
    }
}

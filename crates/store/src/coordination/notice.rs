//! Notices: how a replica learns that something changed without polling, and
//! the state of its listener.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use uuid::Uuid;

/// A notification from the backend, or the news that some may have been lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// A result was written; read [`crate::SharedView::results_since`] the
    /// view's generation (the payload is a hint; the rows are the truth).
    Result {
        /// The result's generation.
        generation: i64,
        /// Its proxy.
        proxy_id: Uuid,
    },
    /// A proxy became due before its time (a re-check request, a deferral, a
    /// stopped replica's released leases): claim now.
    Due {
        /// The proxy, when one is named.
        proxy_id: Option<Uuid>,
    },
    /// The notification connection was lost and is back (or the listener fell
    /// behind): notices sent meanwhile are gone, so reload everything
    /// ([`crate::SharedView::all_results`]).
    Reconnected,
}

/// The listener's state, shared with whoever exports metrics.
#[derive(Debug, Default)]
pub struct ListenerStats {
    connected: AtomicBool,
    reconnects: AtomicU64,
    pings_lost: AtomicU64,
}

impl ListenerStats {
    /// Whether the notification connection is up right now.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// How many times it was lost and re-established.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// How many times a self-ping went unanswered (a half-open connection).
    pub fn pings_lost(&self) -> u64 {
        self.pings_lost.load(Ordering::Relaxed)
    }

    pub(crate) fn set_connected(&self, up: bool) {
        self.connected.store(up, Ordering::Relaxed);
    }

    pub(crate) fn count_reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_ping_lost(&self) {
        self.pings_lost.fetch_add(1, Ordering::Relaxed);
    }
}

/// A source of [`Notice`]s that reconnects by itself.
#[async_trait::async_trait]
pub trait NoticeSource: Send {
    /// The next notice. Never fails: while the backend is away it waits,
    /// reconnecting with a back-off, and yields [`Notice::Reconnected`] once
    /// back. Cancel-safe (use it in `select!`).
    async fn recv(&mut self) -> Notice;

    /// The connection state and counters.
    fn stats(&self) -> Arc<ListenerStats>;
}

//! The state one simulated proxy shares with its accept loop, its connections
//! and the stack serving them (the lean answer in `serve`, the costly router in
//! `costly`): a leaf both of them read.

use crate::kind::Kind;
use crate::stack::Serving;
use crate::stats::{Connections, InFlight, Stats};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The state one simulated proxy shares with its accept loop and connections.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The address the proxy listens on (or would, when refused).
    pub(crate) addr: SocketAddr,
    kind: Mutex<Kind>,
    /// Requests since the kind was last set, for [`Kind::Flapping`].
    flap: AtomicU64,
    pub(crate) stats: Arc<Stats>,
    pub(crate) connections: Arc<Connections>,
    /// The server stack and TLS it serves with.
    pub(crate) serving: Serving,
}

impl Shared {
    /// State for a proxy on `addr`, counting into `fleet` when it belongs to one.
    pub(crate) fn new(
        addr: SocketAddr,
        kind: Kind,
        fleet: Option<Arc<Stats>>,
        serving: Serving,
    ) -> Self {
        Shared {
            addr,
            kind: Mutex::new(kind),
            flap: AtomicU64::new(0),
            stats: Arc::new(Stats::with_parent(fleet)),
            connections: Arc::new(Connections::default()),
            serving,
        }
    }

    /// Counts one health-report request: the kind answering it, its number
    /// since the kind was set, and its in-flight mark.
    pub(crate) fn begin_request(self: &Arc<Self>) -> (Kind, u64, InFlight) {
        let kind = self.kind();
        let flap_index = self.flap.fetch_add(1, Ordering::AcqRel);
        (kind, flap_index, self.stats.begin())
    }

    /// The kind answering now.
    pub(crate) fn kind(&self) -> Kind {
        *self.kind.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the kind for the next requests and restarts the flapping count.
    pub(crate) fn set_kind(&self, kind: Kind) {
        *self.kind.lock().unwrap_or_else(PoisonError::into_inner) = kind;
        self.flap.store(0, Ordering::Release);
    }
}

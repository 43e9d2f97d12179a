//! The coordination conformance suite on `MemoryCoordination`, with tokio's
//! clock paused: leases and heartbeats run out without waiting.

use std::sync::Arc;

use proxyhealth_store::{Coordination, MemoryCoordination, MemoryStore, ProxyStore};

use super::conformance::{Setup, coordination_suite, create_proxies};

async fn setup(n: usize) -> Option<Setup> {
    let store: Arc<dyn ProxyStore> = Arc::new(MemoryStore::new());
    let proxies = create_proxies(store.as_ref(), n).await;
    let coord: Arc<dyn Coordination> = Arc::new(MemoryCoordination::new(Arc::clone(&store)));
    Some(Setup {
        other: Arc::clone(&coord),
        coord,
        store,
        proxies,
        db: None,
    })
}

coordination_suite!(setup; (start_paused = true));

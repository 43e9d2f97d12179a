//! The conformance suite on `MemoryStore`, and its failure hook.

use std::sync::Arc;

use proxyhealth_core::ProxySource;
use proxyhealth_store::{MemoryStore, NewProxy, OutboxPolicy, ProxyStore, StoreError};

use crate::conformance::conformance_suite;
use crate::support::Fixture;

async fn fixture() -> Option<Fixture> {
    Some(Fixture::new(Arc::new(MemoryStore::new())))
}

/// A fresh store writing notification rows by `policy`.
async fn outbox_fixture(policy: OutboxPolicy) -> Option<Fixture> {
    Some(Fixture::new(Arc::new(MemoryStore::with_outbox_policy(
        policy,
    ))))
}

conformance_suite!(fixture);
crate::vantages::vantage_suite!(fixture);
crate::sessions::session_suite!(fixture);
crate::access::access_suite!(fixture);
crate::maintenance::maintenance_suite!(fixture);
crate::history::history_suite!(fixture);
// the memory store's outbox reads tokio's clock: its waits cost no time
crate::outbox::outbox_suite!(outbox_fixture; (start_paused = true));

#[tokio::test]
async fn a_failing_memory_store_reports_unavailable_until_it_recovers() {
    let store = MemoryStore::new();
    store
        .create_proxy(NewProxy {
            name: "eu".into(),
            ..Default::default()
        })
        .await
        .expect("create");
    store.set_failing(Some("database is down".into()));
    let err = store.all_proxies().await.expect_err("failing");
    assert_eq!(err, StoreError::Unavailable("database is down".into()));
    assert!(err.is_unavailable());
    assert_eq!(err.to_string(), "store unavailable: database is down");
    let source_err = store.list_proxies().await.expect_err("failing");
    assert_eq!(source_err.message, "store unavailable: database is down");
    assert!(store.ping().await.is_err());
    assert!(
        store
            .create_proxy(NewProxy {
                name: "us".into(),
                ..Default::default()
            })
            .await
            .is_err()
    );
    store.set_failing(None);
    assert_eq!(store.list_proxies().await.expect("recovered").len(), 1);
}

//! The conformance suite on `SqliteStore`, plus file-level behaviour.

use std::sync::Arc;

use proxyhealth_core::ProxySource;
use proxyhealth_store::{NewProxy, OpenOptions, OutboxPolicy, ProxyStore, SqliteStore};

use crate::conformance::conformance_suite;
use crate::support::Fixture;

async fn fixture() -> Option<Fixture> {
    outbox_fixture(OutboxPolicy::default()).await
}

/// A fresh store writing notification rows by `policy`.
async fn outbox_fixture(policy: OutboxPolicy) -> Option<Fixture> {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = OpenOptions {
        outbox_policy: policy,
        ..OpenOptions::default()
    };
    let store = SqliteStore::open_with(&dir.path().join("proxyhealth.db"), &options)
        .await
        .expect("open sqlite store");
    let mut fixture = Fixture::new(Arc::new(store));
    fixture.dir = Some(dir);
    Some(fixture)
}

conformance_suite!(fixture);
crate::vantages::vantage_suite!(fixture);
crate::sessions::session_suite!(fixture);
crate::access::access_suite!(fixture);
crate::maintenance::maintenance_suite!(fixture);
crate::history::history_suite!(fixture);
crate::outbox::outbox_suite!(outbox_fixture);

#[tokio::test]
async fn opening_creates_the_file_and_its_parent_directories() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a/b/proxyhealth.db");
    let store = SqliteStore::open(&path).await.expect("open");
    assert!(path.exists());
    assert_eq!(store.path(), path);
    store.ping().await.expect("ping");
}

#[tokio::test]
async fn proxies_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("proxyhealth.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let created = store
        .create_proxy(NewProxy {
            name: "eu".into(),
            ..Default::default()
        })
        .await
        .expect("create");
    assert!(
        store
            .set_admin_token_hash_if_absent(vec![1, 2, 3])
            .await
            .expect("set")
    );
    store.close().await;
    drop(store);
    let reopened = SqliteStore::open(&path).await.expect("reopen");
    assert_eq!(
        reopened.list_proxies().await.expect("list"),
        vec![created.proxy.clone()]
    );
    assert_eq!(
        reopened
            .verify_proxy_token(&created.token)
            .await
            .expect("token"),
        created.proxy
    );
    assert_eq!(
        reopened.admin_token_hash().await.expect("read"),
        Some(vec![1, 2, 3])
    );
    let next = reopened
        .create_proxy(NewProxy {
            name: "us".into(),
            ..Default::default()
        })
        .await
        .expect("create after reopen");
    assert_eq!(next.proxy.region_id, 2);
}

#[tokio::test]
async fn a_path_that_cannot_be_created_is_unavailable_naming_the_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write file");
    let path = file.join("proxyhealth.db");
    let err = SqliteStore::open(&path)
        .await
        .expect_err("parent is a file");
    assert!(err.is_unavailable(), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_unavailable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("garbage.db");
    std::fs::write(&path, vec![b'x'; 8192]).expect("write garbage");
    let err = SqliteStore::open(&path).await.expect_err("not a database");
    assert!(err.is_unavailable(), "{err}");
    assert!(err.to_string().contains("garbage.db"), "{err}");
}

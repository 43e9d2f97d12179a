//! The engine over real stores: two engines sharing one PostgreSQL database, and
//! a PostgreSQL outage in the middle of a run.

use crate::helpers::FakeProxy;
use proxyhealth_core::Status;
use proxyhealth_engine::Engine;
use proxyhealth_store::{NewProxy, OpenOptions, ProxyStore, Registration, open_store};
use proxyhealth_testkit::{OwnPostgres, TestDatabase};
use std::sync::Arc;
use std::time::Duration;

fn engine_over(store: Arc<dyn ProxyStore>) -> Engine {
    Engine::builder()
        .store(store)
        .timeout(Duration::from_secs(2))
        .build()
        .expect("engine")
}

async fn registered(store: &Arc<dyn ProxyStore>, name: &str, url: &str) -> uuid::Uuid {
    let created = store
        .create_proxy(NewProxy {
            name: name.to_owned(),
            display_name: name.to_owned(),
            icon: String::new(),
        })
        .await
        .expect("create");
    store
        .register_proxy(
            created.proxy.id,
            Registration {
                url: url.to_owned(),
                derp_enabled: true,
                ..Registration::default()
            },
        )
        .await
        .expect("register");
    created.proxy.id
}

#[tokio::test]
async fn two_engines_on_one_postgres_database_see_proxies_created_through_either() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let url = db.url.clone();
    let proxy = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let store_a = open_store(&url, OpenOptions::default())
        .await
        .expect("replica a");
    let store_b = open_store(&url, OpenOptions::default())
        .await
        .expect("replica b");
    let (engine_a, engine_b) = (engine_over(store_a.clone()), engine_over(store_b.clone()));

    let first = registered(&store_a, "through-a", &proxy.url).await;
    let second = registered(&store_b, "through-b", &proxy.url).await;
    for engine in [&engine_a, &engine_b] {
        let snapshot = engine.force_update().await.expect("sweep");
        for id in [first, second] {
            assert_eq!(
                snapshot.get(&id).expect("seen by both replicas").status,
                Status::Ok
            );
        }
    }
    db.drop_db().await;
}

#[tokio::test]
async fn a_postgres_outage_keeps_the_snapshot_and_the_next_sweep_recovers() {
    let Some(pg) = OwnPostgres::start() else {
        return;
    };
    let proxy = FakeProxy::fixed(200, Some("application/json"), r#"{"errors":[]}"#).await;
    let store = open_store(&pg.url, OpenOptions::default())
        .await
        .expect("open");
    let id = registered(&store, "survivor", &proxy.url).await;
    let engine = engine_over(store.clone());
    let before = engine.force_update().await.expect("first sweep");

    pg.stop();
    let err = engine
        .force_update()
        .await
        .expect_err("the database is down");
    assert!(
        err.to_string().starts_with("get workspace proxies: "),
        "{err}"
    );
    assert!(
        Arc::ptr_eq(&before, &engine.snapshot_arc()),
        "the snapshot is kept"
    );
    assert_eq!(engine.status_of(&id).expect("kept").status, Status::Ok);
    assert!(engine.sweep_state().last_error.is_some());

    pg.start_again();
    let snapshot = proxyhealth_testkit::eventually(
        Duration::from_secs(5),
        "a sweep succeeds once the database is back, without a restart",
        async || engine.force_update().await,
    )
    .await;
    assert_eq!(snapshot.get(&id).expect("still there").status, Status::Ok);
    assert_eq!(engine.sweep_state().last_error, None);
}

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

/// A database whose per-vantage history was kept by an agents' vantage's id
/// keeps it by the vantage's name after the upgrade, and deleting the vantage
/// still deletes it.
#[tokio::test]
async fn an_agents_vantage_s_history_is_kept_by_its_name_through_the_upgrade() {
    use proxyhealth_core::{Rollup, Status, VantageName};
    use proxyhealth_store::VantageError;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
    use time::OffsetDateTime;
    use uuid::Uuid;

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("proxyhealth.db");
    // every migration before the one keying the history by name
    let before = dir.path().join("migrations-before");
    std::fs::create_dir(&before).expect("a directory");
    let all = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .expect("the migrations");
    for file in all {
        let file = file.expect("a file");
        if file.file_name().to_string_lossy().as_ref() < "20261228000000" {
            std::fs::copy(file.path(), before.join(file.file_name())).expect("copied");
        }
    }
    let pool = SqlitePool::connect_with(
        SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true),
    )
    .await
    .expect("open");
    sqlx::migrate::Migrator::new(before)
        .await
        .expect("the earlier migrations")
        .run(&pool)
        .await
        .expect("migrated to the version before");
    let vantage = Uuid::new_v4().hyphenated().to_string();
    let proxy = Uuid::new_v4();
    let now = OffsetDateTime::now_utc();
    let nanos = i64::try_from(now.unix_timestamp_nanos()).expect("a time in range");
    let hour = now.unix_timestamp() - now.unix_timestamp().rem_euclid(3600);
    let mut rollup = Rollup::default();
    rollup.add(Status::Ok, Some(std::time::Duration::from_millis(20)));
    for statement in [
        "INSERT INTO proxyhealth_vantages \
         (id, name, name_key, token_hashed_secret, created_at, token_minted_at) \
         VALUES (?1, 'AP-South', 'ap-south', x'00', 0, 0)",
        "INSERT INTO proxyhealth_vantage_transitions \
         (vantage_id, proxy_id, at, from_status, to_status, report) \
         VALUES (?1, ?2, ?3, NULL, 'ok', '{\"errors\":[],\"warnings\":[]}')",
        "INSERT INTO proxyhealth_vantage_rollups (vantage_id, proxy_id, hour, checks, ok, \
         unhealthy, unreachable, latency_max_us, sketch) VALUES (?1, ?2, ?4, 1, 1, 0, 0, 20000, ?5)",
    ] {
        sqlx::query(statement)
            .bind(&vantage)
            .bind(proxy.hyphenated().to_string())
            .bind(nanos)
            .bind(hour)
            .bind(rollup.sketch.encode())
            .execute(&pool)
            .await
            .expect("a row of the earlier schema");
    }
    pool.close().await;

    let store = SqliteStore::open(&path).await.expect("upgraded");
    let vantages = store.vantages().expect("vantages");
    let ap = VantageName::new("ap-south").expect("a name");
    let since = now - time::Duration::hours(2);
    let seen = vantages
        .history(&ap, proxy, since)
        .await
        .expect("its history");
    assert_eq!(seen.transitions.len(), 1, "{seen:?}");
    assert_eq!(seen.transitions[0].to, Status::Ok);
    assert_eq!(seen.buckets.len(), 1, "{seen:?}");
    assert_eq!(seen.buckets[0].rollup.checks, 1);
    vantages.delete("ap-south").await.expect("delete");
    let err = vantages
        .history(&ap, proxy, since)
        .await
        .expect_err("gone with its vantage");
    assert!(matches!(err, VantageError::NotFound(_)), "{err:?}");
}

/// Agents' results as one batch of them reaches the store: `steady`'s
/// reading unchanged (`ok` again) with its check, `falling`'s reading a
/// change to `unreachable` with its check and transition.
fn agents_batch(
    vantage: &proxyhealth_core::VantageName,
    steady: uuid::Uuid,
    falling: uuid::Uuid,
    at: time::OffsetDateTime,
) -> proxyhealth_store::VantageIntake {
    use proxyhealth_core::{
        CheckRecord, HealthReport, Status, VantageHistory, VantageReading, VantageTransition,
    };
    let reading = |status: Status| VantageReading {
        vantage: vantage.clone(),
        status,
        last_result: status,
        streak: 1,
        latency_ms: Some(20),
        checked_at: at,
        report: HealthReport::default(),
        stale: false,
    };
    let check = |proxy_id, result| CheckRecord {
        proxy_id,
        at,
        result,
        latency: Some(std::time::Duration::from_millis(20)),
    };
    proxyhealth_store::VantageIntake {
        vantage: vantage.clone(),
        readings: vec![
            (steady, reading(Status::Ok)),
            (falling, reading(Status::Unreachable)),
        ],
        history: VantageHistory {
            checks: vec![
                check(steady, Status::Ok),
                check(falling, Status::Unreachable),
            ],
            transitions: vec![VantageTransition {
                proxy_id: falling,
                vantage: vantage.clone(),
                at,
                from: Some(Status::Ok),
                to: Status::Unreachable,
                report: HealthReport::default(),
            }],
        },
    }
}

#[tokio::test]
async fn agents_results_held_in_memory_read_as_kept_and_a_change_is_on_disk_at_once() {
    use proxyhealth_core::VantageName;
    use proxyhealth_store::Flush;

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("proxyhealth.db");
    let service = SqliteStore::open(&path).await.expect("open");
    let mut ids = Vec::new();
    for name in ["steady", "falling"] {
        let created = service
            .create_proxy(NewProxy {
                name: name.into(),
                ..Default::default()
            })
            .await
            .expect("create");
        ids.push(created.proxy.id);
    }
    let (steady, falling) = (ids[0], ids[1]);
    let vantages = service.vantages().expect("vantages");
    vantages.create("eu-west").await.expect("create a vantage");
    let eu = VantageName::new("eu-west").expect("a name");
    let now = time::OffsetDateTime::now_utc();
    let gone = vantages
        .keep_intakes(&[agents_batch(&eu, steady, falling, now)])
        .await
        .expect("kept");
    assert!(gone.is_empty(), "{gone:?}");
    let since = now - time::Duration::hours(1);

    // the service reads what it holds as kept
    assert_eq!(vantages.readings().await.expect("readings").len(), 2);
    let steady_hours = vantages.history(&eu, steady, since).await.expect("history");
    assert_eq!(
        steady_hours
            .buckets
            .iter()
            .map(|b| b.rollup.checks)
            .sum::<u64>(),
        1
    );

    // on disk (what a crash would leave): the change and its reading only
    let disk = SqliteStore::open(&path).await.expect("a second handle");
    let on_disk = disk.vantages().expect("vantages");
    let kept = on_disk.readings().await.expect("readings");
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].0, falling);
    let falling_seen = on_disk.history(&eu, falling, since).await.expect("history");
    assert_eq!(falling_seen.transitions.len(), 1, "{falling_seen:?}");

    // a flush writes the rest, and the hour counts each check once
    vantages.flush(Flush::Everything).await.expect("flushed");
    assert_eq!(on_disk.readings().await.expect("readings").len(), 2);
    for store in [&vantages, &on_disk] {
        let hours = store.history(&eu, steady, since).await.expect("history");
        assert_eq!(
            hours.buckets.iter().map(|b| b.rollup.checks).sum::<u64>(),
            1
        );
    }

    // a later batch adds to the written hour, not over it
    let later = now + time::Duration::seconds(10);
    vantages
        .keep_intakes(&[agents_batch(&eu, steady, falling, later)])
        .await
        .expect("kept");
    vantages.flush(Flush::Everything).await.expect("flushed");
    let hours = on_disk.history(&eu, steady, since).await.expect("history");
    assert_eq!(
        hours.buckets.iter().map(|b| b.rollup.checks).sum::<u64>(),
        2
    );
    disk.close().await;
    service.close().await;
}

#[tokio::test]
async fn a_deleted_vantage_s_held_results_are_never_written() {
    use proxyhealth_core::VantageName;
    use proxyhealth_store::Flush;

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("proxyhealth.db");
    let service = SqliteStore::open(&path).await.expect("open");
    let steady = service
        .create_proxy(NewProxy {
            name: "steady".into(),
            ..Default::default()
        })
        .await
        .expect("create")
        .proxy
        .id;
    let vantages = service.vantages().expect("vantages");
    vantages.create("eu-west").await.expect("create a vantage");
    let eu = VantageName::new("eu-west").expect("a name");
    let now = time::OffsetDateTime::now_utc();
    let mut batch = agents_batch(&eu, steady, steady, now);
    batch.history.transitions.clear();
    batch.readings.truncate(1);
    vantages.keep_intakes(&[batch]).await.expect("kept");
    vantages.delete("eu-west").await.expect("deleted");
    vantages.create("eu-west").await.expect("made again");
    vantages.flush(Flush::Everything).await.expect("flushed");
    assert!(vantages.readings().await.expect("readings").is_empty());
    let since = now - time::Duration::hours(1);
    let hours = vantages.history(&eu, steady, since).await.expect("history");
    assert!(hours.buckets.is_empty(), "{hours:?}");
    service.close().await;
}

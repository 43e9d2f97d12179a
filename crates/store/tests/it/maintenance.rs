//! The maintenance windows, written once and run against every backend:
//! `maintenance_suite!` turns every case into one `#[tokio::test]` for a
//! backend's fixture factory.

use std::sync::Arc;

use proxyhealth_core::maintenance::{MaintenanceScope, NewMaintenance};
use proxyhealth_store::{MaintenanceError, MaintenanceStore, ProxyStore};
use time::macros::datetime;
use uuid::Uuid;

/// Generates one test per maintenance case, each on a fresh store from `$factory`.
macro_rules! maintenance_suite {
    ($factory:ident) => {
        $crate::maintenance::maintenance_suite!(@cases $factory;
            a_created_window_reads_back_exactly,
            a_bad_window_is_refused_naming_the_field_and_nothing_is_kept,
            ending_an_active_window_early_makes_its_end_now,
            ending_a_future_window_cancels_it,
            an_unknown_or_finished_window_cannot_be_ended
        );
    };
    (@cases $factory:ident; $($case:ident),* $(,)?) => {
        mod maintenance_cases {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(fixture) = super::$factory().await else { return };
                    $crate::maintenance::$case(fixture.store.clone()).await;
                    fixture.finish().await;
                }
            )*
        }
    };
}
pub(crate) use maintenance_suite;

fn windows(store: &Arc<dyn ProxyStore>) -> Arc<dyn MaintenanceStore> {
    store
        .maintenance()
        .expect("a store of our own keeps maintenance windows")
}

fn new(scope: MaintenanceScope, weekly: bool) -> NewMaintenance {
    NewMaintenance {
        scope,
        starts_at: datetime!(2026-12-01 02:00 UTC),
        ends_at: datetime!(2026-12-01 04:00 UTC),
        weekly,
        reason: " kernel upgrade ".into(),
    }
}

pub(crate) async fn a_created_window_reads_back_exactly(store: Arc<dyn ProxyStore>) {
    let windows = windows(&store);
    let proxy = Uuid::new_v4();
    let one = windows
        .create(
            &new(MaintenanceScope::Proxy(proxy), true),
            datetime!(2026-11-30 00:00 UTC),
        )
        .await
        .expect("create");
    assert_eq!(one.reason, "kernel upgrade", "trimmed");
    assert_eq!(one.scope, MaintenanceScope::Proxy(proxy));
    assert!(one.weekly);
    assert_eq!(one.created_at, datetime!(2026-11-30 00:00 UTC));
    let mut later = new(MaintenanceScope::All, false);
    later.starts_at = datetime!(2026-12-02 02:00 UTC);
    later.ends_at = datetime!(2026-12-02 03:00 UTC);
    let all = windows
        .create(&later, datetime!(2026-11-30 00:00 UTC))
        .await
        .expect("create");
    assert_eq!(all.scope, MaintenanceScope::All);
    let listed = windows.list().await.expect("list");
    assert_eq!(listed, vec![one, all], "by start, exactly as created");
}

pub(crate) async fn a_bad_window_is_refused_naming_the_field_and_nothing_is_kept(
    store: Arc<dyn ProxyStore>,
) {
    let windows = windows(&store);
    let mut bad = new(MaintenanceScope::All, false);
    bad.ends_at = bad.starts_at;
    let err = windows
        .create(&bad, datetime!(2026-11-30 00:00 UTC))
        .await
        .expect_err("end before start");
    assert!(
        matches!(err, MaintenanceError::Invalid(ref f) if f.field == "end"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "end: must be after start");
    let mut bad = new(MaintenanceScope::All, false);
    bad.reason = String::new();
    let err = windows
        .create(&bad, datetime!(2026-11-30 00:00 UTC))
        .await
        .expect_err("no reason");
    assert_eq!(err.to_string(), "reason: is required");
    assert!(windows.list().await.expect("list").is_empty());
}

pub(crate) async fn ending_an_active_window_early_makes_its_end_now(store: Arc<dyn ProxyStore>) {
    let windows = windows(&store);
    let created = windows
        .create(
            &new(MaintenanceScope::All, false),
            datetime!(2026-11-30 00:00 UTC),
        )
        .await
        .expect("create");
    let now = datetime!(2026-12-01 03:00 UTC);
    let ended = windows.end(created.id, now).await.expect("end");
    assert_eq!(ended.ended_at, Some(now));
    assert_eq!(windows.list().await.expect("list"), vec![ended.clone()]);
    assert_eq!(ended.occurrence_at(datetime!(2026-12-01 03:00 UTC)), None);
    assert!(
        ended
            .occurrence_at(datetime!(2026-12-01 02:59 UTC))
            .is_some()
    );
}

pub(crate) async fn ending_a_future_window_cancels_it(store: Arc<dyn ProxyStore>) {
    let windows = windows(&store);
    let created = windows
        .create(
            &new(MaintenanceScope::All, true),
            datetime!(2026-11-30 00:00 UTC),
        )
        .await
        .expect("create");
    let ended = windows
        .end(created.id, datetime!(2026-11-30 12:00 UTC))
        .await
        .expect("end");
    assert_eq!(ended.occurrence_at(datetime!(2026-12-01 03:00 UTC)), None);
    assert_eq!(ended.occurrence_at(datetime!(2026-12-08 03:00 UTC)), None);
    assert!(ended.is_over(datetime!(2026-11-30 12:00 UTC)));
}

pub(crate) async fn an_unknown_or_finished_window_cannot_be_ended(store: Arc<dyn ProxyStore>) {
    let windows = windows(&store);
    let unknown = Uuid::new_v4();
    let err = windows
        .end(unknown, datetime!(2026-12-01 03:00 UTC))
        .await
        .expect_err("unknown");
    assert!(
        matches!(err, MaintenanceError::NotFound(id) if id == unknown),
        "{err:?}"
    );
    let created = windows
        .create(
            &new(MaintenanceScope::All, false),
            datetime!(2026-11-30 00:00 UTC),
        )
        .await
        .expect("create");
    let err = windows
        .end(created.id, datetime!(2026-12-01 05:00 UTC))
        .await
        .expect_err("over");
    assert!(matches!(err, MaintenanceError::AlreadyOver(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("the maintenance window {} is already over", created.id)
    );
}

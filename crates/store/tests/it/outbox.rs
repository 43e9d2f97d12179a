//! The notification outbox, written once and run against every
//! backend: `outbox_suite!` turns every case into one `#[tokio::test]` for a
//! backend's fixture factory. Rows are written through the history's
//! recording (the journal's transaction), as the engine and replicas do.

use std::sync::Arc;
use std::time::Duration;

use proxyhealth_core::{
    HealthReport, HistoryBatch, PartialChange, Status, Transition, VantageName,
};
use proxyhealth_store::{AttemptFailure, DeliveryState, Outbox, OutboxPolicy, ProxyStore};
use time::OffsetDateTime;
use uuid::Uuid;

/// Generates one test per outbox case, each on a fresh store from
/// `$factory`, opened with the outbox policy the case is listed with (the
/// policy is part of opening a store, as in service).
///
/// `outbox_suite!(factory)` runs on the wall clock (a database's rules read
/// its own clock); `outbox_suite!(factory; (start_paused = true))` runs on
/// tokio's paused clock, for a store whose rules read it (the memory store's
/// `StoreClock`): the cases' waits for a backoff then cost no time.
macro_rules! outbox_suite {
    ($factory:ident) => {
        $crate::outbox::outbox_suite!($factory; ());
    };
    ($factory:ident; $attr:tt) => {
        $crate::outbox::outbox_suite!(@cases $factory; $attr;
            a_transition_writes_one_row_per_target_in_its_transaction => (&["ops", "chat"], 0),
            a_first_ok_status_is_not_notified => (&["ops"], 0),
            no_target_writes_no_row => (&[], 0),
            a_claimed_row_is_leased_to_its_owner_only => (&["ops"], 0),
            concurrent_claims_never_share_a_row => (&["ops"], 0),
            rows_of_one_proxy_are_claimed_in_order => (&["ops"], 0),
            a_failed_attempt_is_retried_until_the_bound_then_failed => (&["ops"], 0),
            a_flap_inside_the_damping_time_is_not_notified => (&["ops"], 60),
            finished_rows_are_pruned_and_pending_ones_kept => (&["ops"], 0),
            a_partial_outage_is_kept_once_grows_its_vantages_and_is_notified_at_start_and_end => (&["ops"], 0),
            a_partial_outage_without_notify_writes_no_row => (&["ops"], 0)
        );
    };
    (@cases $factory:ident; $attr:tt; $($case:ident => ($targets:expr, $damping_s:expr)),* $(,)?) => {
        mod outbox_cases {
            $(
                #[tokio::test $attr]
                async fn $case() {
                    let policy = $crate::outbox::policy($targets, $damping_s);
                    let Some(fixture) = super::$factory(policy).await else { return };
                    $crate::outbox::$case(fixture.store.clone()).await;
                    fixture.finish().await;
                }
            )*
        }
    };
}
pub(crate) use outbox_suite;

const LEASE: Duration = Duration::from_secs(30);

/// The policy of a case: its targets and damping in seconds.
pub(crate) fn policy(targets: &[&str], damping_s: u64) -> OutboxPolicy {
    OutboxPolicy {
        targets: targets.iter().map(|t| (*t).to_owned()).collect(),
        damping: Duration::from_secs(damping_s),
    }
}

/// The store's outbox, checked to be written by the policy the case is
/// listed with.
fn outbox_of(store: &Arc<dyn ProxyStore>, targets: &[&str], damping: Duration) -> Arc<dyn Outbox> {
    let outbox = store.outbox().expect("a writable store has an outbox");
    assert_eq!(
        outbox.policy(),
        OutboxPolicy {
            targets: targets.iter().map(|t| (*t).to_owned()).collect(),
            damping,
        },
        "the store was opened with the case's policy"
    );
    outbox
}

fn transition(proxy_id: Uuid, from: Option<Status>, to: Status) -> Transition {
    Transition {
        proxy_id,
        proxy_name: "eu-west".into(),
        proxy_url: "http://127.0.0.1:9".into(),
        at: OffsetDateTime::now_utc(),
        from,
        to,
        report: if to == Status::Ok {
            HealthReport::default()
        } else {
            HealthReport::error("connection refused")
        },
        replica: None,
        previous_lasted: None,
    }
}

async fn record(store: &Arc<dyn ProxyStore>, transitions: Vec<Transition>) {
    store
        .history()
        .expect("history")
        .record_batch(HistoryBatch {
            checks: Vec::new(),
            transitions,
        })
        .await
        .expect("recorded");
}

/// Records a proxy's first status `ok`, then a change to `to` (notified).
async fn went(store: &Arc<dyn ProxyStore>, proxy_id: Uuid, to: Status) {
    record(store, vec![transition(proxy_id, None, Status::Ok)]).await;
    record(store, vec![transition(proxy_id, Some(Status::Ok), to)]).await;
}

fn failure(retry_in: Duration, retry_for: Duration) -> AttemptFailure {
    AttemptFailure {
        error: "HTTP 503 Service Unavailable".into(),
        status: Some(503),
        retry_in,
        retry_for,
    }
}

pub(crate) async fn a_transition_writes_one_row_per_target_in_its_transaction(
    store: Arc<dyn ProxyStore>,
) {
    let outbox = outbox_of(&store, &["ops", "chat"], Duration::ZERO);
    let id = Uuid::new_v4();
    went(&store, id, Status::Unreachable).await;
    let rows = outbox.recent(10).await.expect("recent");
    assert_eq!(rows.len(), 2, "{rows:?}");
    let mut targets: Vec<&str> = rows.iter().map(|n| n.target.as_str()).collect();
    targets.sort_unstable();
    assert_eq!(targets, ["chat", "ops"]);
    for row in &rows {
        assert_eq!(row.state, DeliveryState::Pending);
        assert_eq!(row.attempts, 0);
        assert_eq!(row.transition.proxy_id, id);
        assert_eq!(row.transition.from, Some(Status::Ok));
        assert_eq!(row.transition.to, Status::Unreachable);
        assert_eq!(row.transition.proxy_name, "eu-west");
        assert_eq!(row.transition.report.errors, ["connection refused"]);
        assert!(row.transition.previous_lasted.is_some(), "{row:?}");
    }
}

pub(crate) async fn a_first_ok_status_is_not_notified(store: Arc<dyn ProxyStore>) {
    let outbox = outbox_of(&store, &["ops"], Duration::ZERO);
    record(&store, vec![transition(Uuid::new_v4(), None, Status::Ok)]).await;
    record(
        &store,
        vec![transition(Uuid::new_v4(), None, Status::Unregistered)],
    )
    .await;
    assert!(outbox.recent(10).await.expect("recent").is_empty());
    // a proxy failing from its first check is news
    record(
        &store,
        vec![transition(Uuid::new_v4(), None, Status::Unhealthy)],
    )
    .await;
    assert_eq!(outbox.recent(10).await.expect("recent").len(), 1);
}

pub(crate) async fn no_target_writes_no_row(store: Arc<dyn ProxyStore>) {
    let outbox = outbox_of(&store, &[], Duration::ZERO);
    went(&store, Uuid::new_v4(), Status::Unreachable).await;
    assert!(outbox.recent(10).await.expect("recent").is_empty());
}

pub(crate) async fn a_claimed_row_is_leased_to_its_owner_only(store: Arc<dyn ProxyStore>) {
    let outbox = outbox_of(&store, &["ops"], Duration::ZERO);
    went(&store, Uuid::new_v4(), Status::Unreachable).await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let claimed = outbox.claim(a, LEASE, 10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    assert!(outbox.claim(b, LEASE, 10).await.expect("claim").is_empty());
    let id = claimed[0].id;
    assert!(!outbox.delivered(id, b, Some(200)).await.expect("not b's"));
    assert!(outbox.delivered(id, a, Some(200)).await.expect("a's"));
    let rows = outbox.recent(10).await.expect("recent");
    assert_eq!(rows[0].state, DeliveryState::Delivered);
    assert_eq!(rows[0].attempts, 1);
    assert_eq!(rows[0].last_status, Some(200));
    assert!(rows[0].finished_at.is_some());
    assert!(outbox.claim(b, LEASE, 10).await.expect("claim").is_empty());
}

pub(crate) async fn concurrent_claims_never_share_a_row(store: Arc<dyn ProxyStore>) {
    let outbox = outbox_of(&store, &["ops"], Duration::ZERO);
    for _ in 0..20 {
        went(&store, Uuid::new_v4(), Status::Unreachable).await;
    }
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let (first, second) = tokio::join!(outbox.claim(a, LEASE, 15), outbox.claim(b, LEASE, 15));
    let (first, second) = (first.expect("a"), second.expect("b"));
    assert_eq!(first.len() + second.len(), 20);
    for row in &first {
        assert!(
            second.iter().all(|other| other.id != row.id),
            "{} twice",
            row.id
        );
    }
}

pub(crate) async fn rows_of_one_proxy_are_claimed_in_order(store: Arc<dyn ProxyStore>) {
    let outbox = outbox_of(&store, &["ops"], Duration::ZERO);
    let id = Uuid::new_v4();
    went(&store, id, Status::Unreachable).await;
    record(
        &store,
        vec![transition(id, Some(Status::Unreachable), Status::Ok)],
    )
    .await;
    let owner = Uuid::new_v4();
    let first = outbox.claim(owner, LEASE, 10).await.expect("claim");
    assert_eq!(first.len(), 1, "only the oldest row of the proxy");
    assert_eq!(first[0].transition.to, Status::Unreachable);
    assert!(
        outbox
            .delivered(first[0].id, owner, Some(204))
            .await
            .expect("done")
    );
    let second = outbox.claim(owner, LEASE, 10).await.expect("claim");
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].transition.to, Status::Ok);
    assert_eq!(second[0].transition.from, Some(Status::Unreachable));
}

pub(crate) async fn a_failed_attempt_is_retried_until_the_bound_then_failed(
    store: Arc<dyn ProxyStore>,
) {
    let outbox = outbox_of(&store, &["ops"], Duration::ZERO);
    went(&store, Uuid::new_v4(), Status::Unreachable).await;
    let owner = Uuid::new_v4();
    let bound = Duration::from_millis(600);
    let claimed = outbox.claim(owner, LEASE, 10).await.expect("claim");
    let id = claimed[0].id;
    let state = outbox
        .attempt_failed(id, owner, &failure(Duration::from_millis(100), bound))
        .await
        .expect("failed attempt");
    assert_eq!(state, Some(DeliveryState::Pending));
    assert!(
        outbox
            .claim(owner, LEASE, 10)
            .await
            .expect("claim")
            .is_empty(),
        "not due before its backoff"
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    let again = outbox.claim(owner, LEASE, 10).await.expect("claim");
    assert_eq!(again.len(), 1, "due after its backoff");
    // a long backoff is capped at the bound: one last attempt there
    let state = outbox
        .attempt_failed(id, owner, &failure(Duration::from_secs(3600), bound))
        .await
        .expect("failed attempt");
    assert_eq!(state, Some(DeliveryState::Pending));
    tokio::time::sleep(Duration::from_millis(650)).await;
    let last = outbox.claim(owner, LEASE, 10).await.expect("claim");
    assert_eq!(last.len(), 1, "one last attempt at the bound");
    let state = outbox
        .attempt_failed(id, owner, &failure(Duration::from_secs(1), bound))
        .await
        .expect("failed attempt");
    assert_eq!(state, Some(DeliveryState::Failed));
    let rows = outbox.recent(10).await.expect("recent");
    assert_eq!(rows[0].state, DeliveryState::Failed);
    assert_eq!(rows[0].attempts, 3);
    assert_eq!(rows[0].last_status, Some(503));
    assert_eq!(
        rows[0].last_error.as_deref(),
        Some("HTTP 503 Service Unavailable")
    );
    assert!(
        outbox
            .claim(owner, LEASE, 10)
            .await
            .expect("claim")
            .is_empty()
    );
}

pub(crate) async fn a_flap_inside_the_damping_time_is_not_notified(store: Arc<dyn ProxyStore>) {
    let outbox = outbox_of(&store, &["ops"], Duration::from_secs(60));
    let id = Uuid::new_v4();
    went(&store, id, Status::Unreachable).await;
    record(
        &store,
        vec![transition(id, Some(Status::Unreachable), Status::Ok)],
    )
    .await;
    let rows = outbox.recent(10).await.expect("recent");
    assert_eq!(rows.len(), 1, "the recovery writes no row: {rows:?}");
    assert_eq!(rows[0].state, DeliveryState::Cancelled);
    assert!(
        outbox
            .claim(Uuid::new_v4(), LEASE, 10)
            .await
            .expect("claim")
            .is_empty()
    );
    // a change to a third status inside the damping time keeps the first `from`
    let other = Uuid::new_v4();
    went(&store, other, Status::Unhealthy).await;
    record(
        &store,
        vec![transition(
            other,
            Some(Status::Unhealthy),
            Status::Unreachable,
        )],
    )
    .await;
    let rows = outbox.recent(10).await.expect("recent");
    let pending: Vec<_> = rows
        .iter()
        .filter(|n| n.transition.proxy_id == other && n.state == DeliveryState::Pending)
        .collect();
    assert_eq!(pending.len(), 1, "{rows:?}");
    assert_eq!(pending[0].transition.from, Some(Status::Ok));
    assert_eq!(pending[0].transition.to, Status::Unreachable);
    assert!(pending[0].not_before > OffsetDateTime::now_utc() + Duration::from_secs(50));
}

pub(crate) async fn finished_rows_are_pruned_and_pending_ones_kept(store: Arc<dyn ProxyStore>) {
    let outbox = outbox_of(&store, &["ops"], Duration::ZERO);
    went(&store, Uuid::new_v4(), Status::Unreachable).await;
    went(&store, Uuid::new_v4(), Status::Unhealthy).await;
    let owner = Uuid::new_v4();
    let claimed = outbox.claim(owner, LEASE, 1).await.expect("claim");
    assert!(
        outbox
            .delivered(claimed[0].id, owner, Some(200))
            .await
            .expect("done")
    );
    let future = OffsetDateTime::now_utc() + Duration::from_secs(60);
    assert_eq!(outbox.prune(future).await.expect("prune"), 1);
    let rows = outbox.recent(10).await.expect("recent");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, DeliveryState::Pending);
}

/// A partial outage's change for `proxy`: failing from `vantages` (none: over).
fn partial(proxy: Uuid, at: OffsetDateTime, vantages: &[&str]) -> PartialChange {
    PartialChange {
        proxy_id: proxy,
        proxy_name: "eu-west".into(),
        proxy_url: "http://127.0.0.1:9".into(),
        at,
        vantages: vantages
            .iter()
            .map(|v| VantageName::new(v).expect("a valid name"))
            .collect(),
        warning: if vantages.is_empty() {
            String::new()
        } else {
            format!(
                "partial outage: failing from {} of 3 vantages: {}",
                vantages.len(),
                vantages.join("; ")
            )
        },
    }
}

/// A whole-microsecond time (every backend keeps it exactly).
fn micros_ago(seconds: i64) -> OffsetDateTime {
    let now = OffsetDateTime::now_utc() - time::Duration::seconds(seconds);
    now.replace_nanosecond(now.microsecond() * 1000)
        .expect("a time")
}

pub(crate) async fn a_partial_outage_is_kept_once_grows_its_vantages_and_is_notified_at_start_and_end(
    store: Arc<dyn ProxyStore>,
) {
    let outbox = outbox_of(&store, &["ops"], Duration::ZERO);
    let history = store.history().expect("history");
    let (sydney, quiet) = (Uuid::new_v4(), Uuid::new_v4());
    let since = micros_ago(60);
    // a restarted engine's first look at a proxy in no outage ends nothing
    history
        .record_partial(vec![partial(quiet, micros_ago(50), &[])], true)
        .await
        .expect("nothing to end");
    history
        .record_partial(vec![partial(sydney, micros_ago(40), &["ap-south"])], true)
        .await
        .expect("start");
    // seen again (a restart), then from one more vantage: the same outage
    history
        .record_partial(
            vec![
                partial(sydney, micros_ago(30), &["ap-south"]),
                partial(sydney, micros_ago(25), &["us-east"]),
            ],
            true,
        )
        .await
        .expect("grow");
    let open = history.partial_outages(since).await.expect("read");
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].proxy_id, sydney);
    assert!(open[0].started_at < micros_ago(39) && open[0].started_at > micros_ago(41));
    assert_eq!(open[0].ended_at, None);
    let names: Vec<&str> = open[0].vantages.iter().map(VantageName::as_str).collect();
    assert_eq!(names, ["ap-south", "us-east"]);
    assert_eq!(
        open[0].first_warning,
        "partial outage: failing from 1 of 3 vantages: ap-south"
    );
    let ended_at = micros_ago(10);
    history
        .record_partial(vec![partial(sydney, ended_at, &[])], true)
        .await
        .expect("end");
    let over = history.partial_outages(since).await.expect("read");
    assert_eq!(over.len(), 1);
    assert_eq!(over[0].ended_at, Some(ended_at));
    assert!(
        history
            .partial_outages(OffsetDateTime::now_utc())
            .await
            .expect("read")
            .is_empty(),
        "ended before a later window"
    );

    let mut rows = outbox.recent(10).await.expect("recent");
    rows.reverse();
    assert_eq!(rows.len(), 2, "a start and an end: {rows:?}");
    for row in &rows {
        assert_eq!(row.transition.proxy_id, sydney);
        assert_eq!(
            (row.transition.from, row.transition.to),
            (Some(Status::Ok), Status::Ok)
        );
    }
    assert_eq!(
        rows[0].transition.report.warnings,
        ["partial outage: failing from 1 of 3 vantages: ap-south"]
    );
    assert_eq!(
        rows[1].transition.report.warnings,
        ["partial outage over: was failing from ap-south, us-east"]
    );
    assert!(rows[1].transition.previous_lasted.is_some());
}

pub(crate) async fn a_partial_outage_without_notify_writes_no_row(store: Arc<dyn ProxyStore>) {
    let outbox = outbox_of(&store, &["ops"], Duration::ZERO);
    let history = store.history().expect("history");
    let sydney = Uuid::new_v4();
    history
        .record_partial(vec![partial(sydney, micros_ago(20), &["ap-south"])], false)
        .await
        .expect("start");
    history
        .record_partial(vec![partial(sydney, micros_ago(10), &[])], false)
        .await
        .expect("end");
    assert_eq!(
        history
            .partial_outages(micros_ago(60))
            .await
            .expect("read")
            .len(),
        1,
        "kept as an incident all the same"
    );
    assert!(outbox.recent(10).await.expect("recent").is_empty());
}

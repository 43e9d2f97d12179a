//! The coordination contract, written once and run on every backend
//! (`MemoryCoordination` with paused time, `PgCoordination` on a real
//! PostgreSQL): membership, leased claims and take-overs, fenced writes,
//! generations, re-check requests, notices, the second opinion, the
//! consistency report, and the history a write records.
//!
//! Each case is an async fn taking a [`Factory`] of fresh setups;
//! `coordination_suite!` turns every case into one `#[tokio::test]` per backend.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use proxyhealth_core::{HealthReport, Proxy, ProxyStatus, Status, Transition};
use proxyhealth_store::{
    Claim, Coordination, NewProxy, Notice, ProxyStore, ReplicaInfo, ResultWrite, StoreError,
    WriteOutcome,
};
use time::OffsetDateTime;
use uuid::Uuid;

/// Generates one test per case, each on fresh setups from `$setup` (an async
/// fn taking a proxy count and returning `Option<Setup>`; `None` means
/// "skipped"), with `$attr` as the arguments of `#[tokio::test]` in
/// parentheses (`()` for none).
macro_rules! coordination_suite {
    ($setup:path; $attr:tt) => {
        coordination_suite!(@cases $setup; $attr;
            two_owners_claim_disjoint_sets,
            an_expired_lease_is_taken_over_and_the_take_over_reported,
            the_stale_owners_write_is_rejected_and_changes_nothing_while_the_new_owners_is_accepted,
            generations_increase_and_results_since_returns_exactly_the_newer_ones,
            a_requested_check_is_claimed_exactly_once_by_two_competing_claimers,
            heartbeats_keep_a_replica_live_and_a_stop_ends_it_and_frees_its_leases,
            a_listener_hears_each_batch_once_with_its_newest_result_and_due_requests,
            disagreements_list_proxies_seen_differently_by_live_replicas,
            a_deferred_failure_is_confirmed_by_another_replica,
            stale_lists_proxies_whose_newest_result_is_old,
            a_deleted_proxy_is_neither_claimed_nor_shown,
            an_accepted_write_records_its_check_and_the_transition_it_was_told,
            an_observation_of_an_unknown_proxy_is_not_found
        );
    };
    (@cases $setup:path; $attr:tt; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test $attr]
            async fn $case() {
                $crate::coordination::conformance::$case(|n| Box::pin($setup(n))).await;
            }
        )*
    };
}
pub(crate) use coordination_suite;

/// Makes a fresh setup with this many proxies, or `None` when the backend's
/// tests are skipped.
pub type Factory = fn(usize) -> Pin<Box<dyn Future<Output = Option<Setup>> + Send>>;

/// A store with proxies, and two replicas' handles on its coordination.
pub struct Setup {
    /// The proxies' store.
    pub store: Arc<dyn ProxyStore>,
    /// One replica's coordination.
    pub coord: Arc<dyn Coordination>,
    /// Another replica's handle on the same coordination (on PostgreSQL its
    /// own ensure and prune timers).
    pub other: Arc<dyn Coordination>,
    /// The proxies, in creation order.
    pub proxies: Vec<Proxy>,
    /// The test database to drop at the end, if any.
    pub db: Option<proxyhealth_testkit::TestDatabase>,
}

impl Setup {
    /// The proxies' ids, in creation order.
    pub fn ids(&self) -> Vec<Uuid> {
        self.proxies.iter().map(|p| p.id).collect()
    }

    /// The write of a result with `status` under `claim`, its transition
    /// decided as a replica decides it.
    pub fn write(&self, claim: &Claim, status: Status, next: Duration) -> ResultWrite {
        let proxy = self
            .proxies
            .iter()
            .find(|p| p.id == claim.proxy_id)
            .expect("a proxy of the setup");
        let result = result_of(proxy, status, claim.owner);
        ResultWrite {
            claim: claim.clone(),
            transition: Transition::between(claim.previous_status, &result, Some(claim.owner)),
            message: format!("{status} by {}", claim.owner),
            result,
            next_due_in: next,
        }
    }

    /// Drops the handles, then the test database if there is one.
    pub async fn finish(self) {
        drop(self.coord);
        drop(self.other);
        drop(self.store);
        if let Some(db) = self.db {
            db.drop_db().await;
        }
    }
}

/// `n` proxies created in `store`, `p0`, `p1`, ….
pub async fn create_proxies(store: &dyn ProxyStore, n: usize) -> Vec<Proxy> {
    let mut proxies = Vec::with_capacity(n);
    for i in 0..n {
        let created = store
            .create_proxy(NewProxy {
                name: format!("p{i}"),
                ..Default::default()
            })
            .await
            .expect("create proxy");
        proxies.push(created.proxy);
    }
    proxies
}

/// A status of `proxy` as a replica would write it: checked now, with an
/// error naming the writer unless `ok`.
pub fn result_of(proxy: &Proxy, status: Status, by: Uuid) -> ProxyStatus {
    let now = OffsetDateTime::now_utc();
    let errors = if status == Status::Ok {
        Vec::new()
    } else {
        vec![format!("{status} by {by}")]
    };
    ProxyStatus {
        proxy: proxy.clone(),
        host: None,
        status,
        last_result: status,
        streak: 1,
        report: HealthReport {
            errors,
            warnings: Vec::new(),
        },
        checked_at: now,
        latency: Some(Duration::from_millis(12)),
        status_changed_at: now,
        history: Vec::new(),
        check_seq: 0,
        tls_not_after: None,
        tls_days_left: None,
        vantages: Vec::new(),
    }
}

fn info(name: &str) -> ReplicaInfo {
    ReplicaInfo {
        hostname: name.into(),
        version: "test".into(),
        listen_addr: "127.0.0.1:1".into(),
        pid: 7,
        vantage: "local".to_owned(),
    }
}

const HOUR: Duration = Duration::from_secs(3600);
const LEASE: Duration = Duration::from_secs(30);

pub async fn two_owners_claim_disjoint_sets(setup: Factory) {
    let Some(s) = setup(10).await else {
        return;
    };
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let (ca, cb) = tokio::join!(
        s.coord.claim_due(a, 6, LEASE),
        s.other.claim_due(b, 6, LEASE)
    );
    let (ca, cb) = (ca.expect("claim a"), cb.expect("claim b"));
    let ids_a: HashSet<Uuid> = ca.iter().map(|c| c.proxy_id).collect();
    let ids_b: HashSet<Uuid> = cb.iter().map(|c| c.proxy_id).collect();
    assert!(ids_a.is_disjoint(&ids_b), "{ids_a:?} / {ids_b:?}");
    assert_eq!(ids_a.len() + ids_b.len(), 10);
    assert!(
        ca.iter()
            .chain(&cb)
            .all(|c| c.attempt == 1 && c.taken_over_from.is_none() && c.previous_status.is_none())
    );
    // everything is leased now: nothing more to claim
    assert!(
        s.coord
            .claim_due(a, 100, LEASE)
            .await
            .expect("again")
            .is_empty()
    );
    s.finish().await;
}

pub async fn an_expired_lease_is_taken_over_and_the_take_over_reported(setup: Factory) {
    let Some(s) = setup(1).await else {
        return;
    };
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    // short, but long enough that b's first try surely falls inside it
    let lease = Duration::from_millis(500);
    let first = s.coord.claim_due(a, 10, lease).await.expect("claim a");
    assert_eq!(first.len(), 1);
    assert!(s.coord.claim_due(b, 10, lease).await.expect("b").is_empty());
    tokio::time::sleep(Duration::from_millis(800)).await;
    let second = s.coord.claim_due(b, 10, LEASE).await.expect("claim b");
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].taken_over_from, Some(a));
    assert_eq!(second[0].attempt, 2);
    s.finish().await;
}

pub async fn the_stale_owners_write_is_rejected_and_changes_nothing_while_the_new_owners_is_accepted(
    setup: Factory,
) {
    let Some(s) = setup(1).await else {
        return;
    };
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let stale = s
        .coord
        .claim_due(a, 1, Duration::from_millis(200))
        .await
        .expect("claim a")
        .remove(0);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let fresh = s
        .coord
        .claim_due(b, 1, LEASE)
        .await
        .expect("claim b")
        .remove(0);
    let before = s.coord.newest_generation().await.expect("generation");

    // a wakes up late: rejected, nothing changes
    let late = s
        .coord
        .write_result(s.write(&stale, Status::Unhealthy, HOUR))
        .await
        .expect("late write");
    assert_eq!(late, WriteOutcome::Rejected);
    assert!(s.coord.all_results().await.expect("view").rows.is_empty());
    assert!(
        s.coord
            .observations(stale.proxy_id)
            .await
            .expect("obs")
            .is_empty()
    );

    let written = s.write(&fresh, Status::Ok, HOUR);
    let on_time = s
        .coord
        .write_result(written.clone())
        .await
        .expect("write b");
    let WriteOutcome::Accepted { generation } = on_time else {
        panic!("b's write rejected");
    };
    assert!(generation > before);
    // the same claim cannot write twice, and a's stays rejected
    assert_eq!(
        s.coord
            .write_result(s.write(&fresh, Status::Ok, HOUR))
            .await
            .expect("twice"),
        WriteOutcome::Rejected
    );
    assert_eq!(
        s.coord
            .write_result(s.write(&stale, Status::Unhealthy, HOUR))
            .await
            .expect("again"),
        WriteOutcome::Rejected
    );
    let view = s.coord.all_results().await.expect("view");
    assert_eq!(view.rows.len(), 1);
    assert_eq!(view.rows[0].result.status, Status::Ok);
    assert_eq!(view.rows[0].checked_by, b);
    assert_eq!(view.rows[0].generation, generation);
    // the stored result reads back as b wrote it, but for the proxy's token
    // hash, which a stored result never holds
    let mut expected = written.result.clone();
    expected.proxy.token_hashed_secret.clear();
    assert_eq!(view.rows[0].result, expected);
    // generations increase but are not dense: a rejected write used one up
    assert!(view.generation >= generation);
    assert_eq!(
        view.generation,
        s.coord.newest_generation().await.expect("newest")
    );
    // the written result set the next due time: nothing is due
    assert!(
        s.coord
            .claim_due(a, 10, LEASE)
            .await
            .expect("none")
            .is_empty()
    );
    s.finish().await;
}

pub async fn generations_increase_and_results_since_returns_exactly_the_newer_ones(setup: Factory) {
    let Some(s) = setup(5).await else {
        return;
    };
    let owner = Uuid::new_v4();
    let claims = s.coord.claim_due(owner, 10, LEASE).await.expect("claim");
    assert_eq!(claims.len(), 5);
    let mut generations = Vec::new();
    for claim in &claims[..2] {
        match s
            .coord
            .write_result(s.write(claim, Status::Ok, HOUR))
            .await
            .expect("write")
        {
            WriteOutcome::Accepted { generation } => generations.push(generation),
            WriteOutcome::Rejected => panic!("rejected"),
        }
    }
    let seen = s.coord.newest_generation().await.expect("newest");
    // the other three in one batch
    let outcomes = s
        .coord
        .write_results(
            claims[2..]
                .iter()
                .map(|c| s.write(c, Status::Unhealthy, HOUR))
                .collect(),
        )
        .await
        .expect("batch");
    for outcome in outcomes {
        match outcome {
            WriteOutcome::Accepted { generation } => generations.push(generation),
            WriteOutcome::Rejected => panic!("rejected"),
        }
    }
    assert!(
        generations.windows(2).all(|w| w[0] < w[1]),
        "{generations:?}"
    );
    assert_eq!(seen, generations[1]);
    let newest = s.coord.newest_generation().await.expect("newest");
    assert_eq!(newest, generations[4]);

    let since = s.coord.results_since(seen).await.expect("since");
    assert_eq!(since.generation, newest);
    let got: Vec<i64> = since.rows.iter().map(|r| r.generation).collect();
    assert_eq!(got, generations[2..].to_vec());
    assert!(
        since
            .rows
            .iter()
            .all(|r| r.result.status == Status::Unhealthy)
    );
    let nothing = s.coord.results_since(newest).await.expect("nothing new");
    assert!(nothing.rows.is_empty());
    assert_eq!(nothing.generation, newest);
    assert_eq!(s.coord.all_results().await.expect("all").rows.len(), 5);
    s.finish().await;
}

pub async fn a_requested_check_is_claimed_exactly_once_by_two_competing_claimers(setup: Factory) {
    let Some(s) = setup(3).await else {
        return;
    };
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let claims = s.coord.claim_due(a, 10, LEASE).await.expect("claim");
    s.coord
        .write_results(
            claims
                .iter()
                .map(|c| s.write(c, Status::Ok, HOUR))
                .collect(),
        )
        .await
        .expect("write");
    assert!(
        s.coord
            .claim_due(a, 10, LEASE)
            .await
            .expect("none due")
            .is_empty()
    );

    let target = s.proxies[1].id;
    s.coord.request_check(target).await.expect("request");
    for _ in 0..3 {
        let (ca, cb) = tokio::join!(
            s.coord.claim_due(a, 10, LEASE),
            s.other.claim_due(b, 10, LEASE)
        );
        let all: Vec<Claim> = ca.expect("a").into_iter().chain(cb.expect("b")).collect();
        if all.is_empty() {
            continue;
        }
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0].proxy_id, target);
        assert_eq!(all[0].previous_status, Some(Status::Ok));
        // a request while the check is in flight: due again right after its write
        s.coord
            .request_check(target)
            .await
            .expect("request in flight");
        assert!(
            s.coord
                .claim_due(a, 10, LEASE)
                .await
                .expect("leased")
                .is_empty()
        );
        s.coord
            .write_result(s.write(&all[0], Status::Ok, HOUR))
            .await
            .expect("write");
        let again = s.other.claim_due(b, 10, LEASE).await.expect("again");
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].proxy_id, target);
        s.coord
            .write_result(s.write(&again[0], Status::Ok, HOUR))
            .await
            .expect("write");
        assert!(
            s.coord
                .claim_due(a, 10, LEASE)
                .await
                .expect("done")
                .is_empty()
        );
        assert!(matches!(
            s.coord.request_check(Uuid::new_v4()).await,
            Err(StoreError::NotFound)
        ));
        s.finish().await;
        return;
    }
    panic!("the requested proxy was never claimed");
}

pub async fn heartbeats_keep_a_replica_live_and_a_stop_ends_it_and_frees_its_leases(
    setup: Factory,
) {
    let Some(s) = setup(2).await else {
        return;
    };
    let a = s.coord.register(info("host-a")).await.expect("register a");
    let b = s.coord.register(info("host-b")).await.expect("register b");
    let window = Duration::from_millis(300);
    assert!(s.coord.heartbeat(a, 5).await.expect("beat a").is_some());
    s.coord.heartbeat(b, 0).await.expect("beat b");
    let rows = s.coord.replicas(window).await.expect("replicas");
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.live), "{rows:?}");
    let ra = rows.iter().find(|r| r.id == a).expect("a listed");
    assert_eq!(
        (ra.hostname.as_str(), ra.pid, ra.view_generation),
        ("host-a", 7, 5)
    );

    let claims = s.coord.claim_due(a, 10, LEASE).await.expect("claim");
    assert_eq!(claims.len(), 2);
    s.coord.stop(a).await.expect("stop a");
    assert_eq!(s.coord.heartbeat(a, 6).await.expect("stopped beat"), None);
    // its leases are free at once, and taking them is no take-over
    let taken = s.coord.claim_due(b, 10, LEASE).await.expect("claim b");
    assert_eq!(taken.len(), 2);
    assert!(taken.iter().all(|c| c.taken_over_from.is_none()));
    assert_eq!(
        s.coord
            .write_result(s.write(&claims[0], Status::Ok, HOUR))
            .await
            .expect("late"),
        WriteOutcome::Rejected
    );

    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows = s.coord.replicas(window).await.expect("replicas");
    let ra = rows.iter().find(|r| r.id == a).expect("a listed");
    let rb = rows.iter().find(|r| r.id == b).expect("b listed");
    assert!(!ra.live && ra.stopped_at.is_some());
    assert!(!rb.live, "no heartbeat for 500 ms in a 300 ms window");
    assert!(rb.heartbeat_age >= Duration::from_millis(400), "{rb:?}");
    s.coord.heartbeat(b, 0).await.expect("beat b");
    let rows = s.coord.replicas(window).await.expect("replicas");
    assert!(rows.iter().find(|r| r.id == b).is_some_and(|r| r.live));
    s.finish().await;
}

pub async fn a_listener_hears_each_batch_once_with_its_newest_result_and_due_requests(
    setup: Factory,
) {
    let Some(s) = setup(3).await else {
        return;
    };
    let mut listener = s.coord.listen().await.expect("listen");
    assert!(listener.stats().connected());
    let owner = Uuid::new_v4();
    let claims = s.coord.claim_due(owner, 10, LEASE).await.expect("claim");
    let WriteOutcome::Accepted { generation } = s
        .coord
        .write_result(s.write(&claims[0], Status::Ok, HOUR))
        .await
        .expect("write")
    else {
        panic!("rejected");
    };
    let notice = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("a notice");
    assert_eq!(
        notice,
        Notice::Result {
            generation,
            proxy_id: claims[0].proxy_id
        }
    );

    s.other
        .request_check(claims[1].proxy_id)
        .await
        .expect("request");
    let notice = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("a due notice");
    assert_eq!(
        notice,
        Notice::Due {
            proxy_id: Some(claims[1].proxy_id)
        }
    );

    // a batch notifies once, with its newest result
    let both = vec![
        s.write(&claims[1], Status::Ok, HOUR),
        s.write(&claims[2], Status::Ok, HOUR),
    ];
    let outcomes = s.coord.write_results(both).await.expect("batch");
    let newest = s.coord.newest_generation().await.expect("newest");
    assert!(
        matches!(
            outcomes[..],
            [WriteOutcome::Accepted { .. }, WriteOutcome::Accepted { generation }]
                if generation == newest
        ),
        "{outcomes:?}"
    );
    let notice = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("a result notice");
    assert!(
        matches!(notice, Notice::Result { generation, .. } if generation == newest),
        "{notice:?}"
    );
    let quiet = tokio::time::timeout(Duration::from_millis(300), listener.recv()).await;
    assert!(quiet.is_err(), "one notice per statement: {quiet:?}");
    drop(listener);
    s.finish().await;
}

pub async fn disagreements_list_proxies_seen_differently_by_live_replicas(setup: Factory) {
    let Some(s) = setup(2).await else {
        return;
    };
    let a = s.coord.register(info("a")).await.expect("a");
    let b = s.coord.register(info("b")).await.expect("b");
    let (p, q) = (s.proxies[0].id, s.proxies[1].id);
    for (proxy, replica, status) in [
        (p, a, Status::Ok),
        (p, b, Status::Unhealthy),
        (q, a, Status::Ok),
        (q, b, Status::Ok),
    ] {
        s.coord
            .record_observation(proxy, replica, status, "seen")
            .await
            .expect("observe");
    }
    let window = Duration::from_secs(30);
    let found = s.coord.disagreements(window, HOUR).await.expect("report");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].proxy_id, p);
    let mut statuses: Vec<(Uuid, &str)> = found[0]
        .observations
        .iter()
        .map(|o| (o.replica_id, o.status.as_str()))
        .collect();
    statuses.sort();
    let mut expected = vec![(a, "ok"), (b, "unhealthy")];
    expected.sort();
    assert_eq!(statuses, expected);
    // a stopped replica's observation no longer counts
    s.coord.stop(b).await.expect("stop b");
    assert!(
        s.coord
            .disagreements(window, HOUR)
            .await
            .expect("report")
            .is_empty()
    );
    s.finish().await;
}

pub async fn a_deferred_failure_is_confirmed_by_another_replica(setup: Factory) {
    let Some(s) = setup(1).await else {
        return;
    };
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let first = s
        .coord
        .claim_due(a, 1, LEASE)
        .await
        .expect("claim")
        .remove(0);
    s.coord
        .write_result(s.write(&first, Status::Ok, HOUR))
        .await
        .expect("ok");
    s.coord
        .request_check(first.proxy_id)
        .await
        .expect("request");
    let check = s
        .coord
        .claim_due(a, 1, LEASE)
        .await
        .expect("claim")
        .remove(0);
    assert!(
        s.coord
            .defer_for_confirmation(
                &check,
                Status::Unhealthy,
                "timeout",
                Duration::from_secs(60)
            )
            .await
            .expect("defer")
    );
    // the result did not change; a may not confirm itself; b may
    let view = s.coord.all_results().await.expect("view");
    assert_eq!(view.rows[0].result.status, Status::Ok);
    assert!(s.coord.claim_due(a, 1, LEASE).await.expect("a").is_empty());
    let confirm = s.coord.claim_due(b, 1, LEASE).await.expect("b").remove(0);
    assert_eq!(confirm.confirming, Some(a));
    assert_eq!(confirm.previous_status, Some(Status::Ok));
    assert_eq!(
        s.coord
            .write_result(s.write(&confirm, Status::Unhealthy, HOUR))
            .await
            .expect("confirm"),
        WriteOutcome::Accepted {
            generation: s.coord.newest_generation().await.expect("newest")
        }
    );
    let seen = s
        .coord
        .observations(first.proxy_id)
        .await
        .expect("observations");
    let mut got: Vec<(Uuid, &str)> = seen
        .iter()
        .map(|o| (o.replica_id, o.status.as_str()))
        .collect();
    got.sort();
    let mut expected = vec![(a, "unhealthy"), (b, "unhealthy")];
    expected.sort();
    assert_eq!(got, expected);
    // a deferral with a stale claim changes nothing
    assert!(
        !s.coord
            .defer_for_confirmation(&check, Status::Unhealthy, "late", Duration::from_secs(60))
            .await
            .expect("stale defer")
    );
    s.finish().await;
}

pub async fn stale_lists_proxies_whose_newest_result_is_old(setup: Factory) {
    let Some(s) = setup(2).await else {
        return;
    };
    let owner = Uuid::new_v4();
    let claims = s.coord.claim_due(owner, 10, LEASE).await.expect("claim");
    s.coord
        .write_result(s.write(&claims[0], Status::Ok, HOUR))
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut stale = s
        .coord
        .stale(Duration::from_millis(200))
        .await
        .expect("stale");
    stale.sort();
    let mut all = s.ids();
    all.sort();
    assert_eq!(stale, all, "both: one checked 300 ms ago, one never");
    s.coord
        .write_result(s.write(&claims[1], Status::Ok, HOUR))
        .await
        .expect("write");
    assert_eq!(
        s.coord
            .stale(Duration::from_millis(200))
            .await
            .expect("stale"),
        vec![claims[0].proxy_id]
    );
    assert!(s.coord.stale(HOUR).await.expect("none").is_empty());
    s.finish().await;
}

pub async fn a_deleted_proxy_is_neither_claimed_nor_shown(setup: Factory) {
    let Some(s) = setup(2).await else {
        return;
    };
    let owner = Uuid::new_v4();
    let claims = s.coord.claim_due(owner, 10, LEASE).await.expect("claim");
    s.coord
        .write_results(
            claims
                .iter()
                .map(|c| s.write(c, Status::Ok, Duration::ZERO))
                .collect(),
        )
        .await
        .expect("write");
    s.store.delete_proxy(s.proxies[0].id).await.expect("delete");
    let again = s.coord.claim_due(owner, 10, LEASE).await.expect("claim");
    assert_eq!(
        again.iter().map(|c| c.proxy_id).collect::<Vec<_>>(),
        vec![s.proxies[1].id]
    );
    let view = s.coord.all_results().await.expect("view");
    assert_eq!(
        view.rows.iter().map(|r| r.proxy_id).collect::<Vec<_>>(),
        vec![s.proxies[1].id]
    );
    assert!(matches!(
        s.coord.request_check(s.proxies[0].id).await,
        Err(StoreError::NotFound)
    ));
    s.finish().await;
}

pub async fn an_accepted_write_records_its_check_and_the_transition_it_was_told(setup: Factory) {
    let Some(s) = setup(1).await else {
        return;
    };
    let history = s.store.history().expect("the store keeps history");
    let id = s.proxies[0].id;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let first = s
        .coord
        .claim_due(a, 1, LEASE)
        .await
        .expect("claim")
        .remove(0);
    let write = s.write(&first, Status::Ok, Duration::ZERO);
    assert!(write.transition.is_some(), "a first status is a transition");
    s.coord.write_result(write).await.expect("write");
    // the second write is told of no transition: ok again
    let second = s
        .coord
        .claim_due(b, 1, LEASE)
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(second.previous_status, Some(Status::Ok));
    let write = s.write(&second, Status::Ok, Duration::ZERO);
    assert_eq!(write.transition, None);
    s.coord.write_result(write).await.expect("write");
    // the third is a failure, written by b
    let third = s
        .coord
        .claim_due(b, 1, LEASE)
        .await
        .expect("claim")
        .remove(0);
    s.coord
        .write_result(s.write(&third, Status::Unhealthy, HOUR))
        .await
        .expect("write");
    // a rejected write records nothing
    assert_eq!(
        s.coord
            .write_result(s.write(&third, Status::Unreachable, HOUR))
            .await
            .expect("rejected"),
        WriteOutcome::Rejected
    );
    let transitions = history
        .transitions(Some(id), OffsetDateTime::UNIX_EPOCH)
        .await
        .expect("transitions");
    let moves: Vec<(Option<Status>, Status, Option<Uuid>)> = transitions
        .iter()
        .map(|t| (t.from, t.to, t.replica))
        .collect();
    assert_eq!(
        moves,
        [
            (None, Status::Ok, Some(a)),
            (Some(Status::Ok), Status::Unhealthy, Some(b))
        ]
    );
    let buckets = history
        .buckets(id, OffsetDateTime::now_utc() - Duration::from_secs(7200))
        .await
        .expect("rollups");
    let checks: u64 = buckets.iter().map(|bucket| bucket.rollup.checks).sum();
    assert_eq!(checks, 3, "one check per accepted write");
    s.finish().await;
}

pub async fn an_observation_of_an_unknown_proxy_is_not_found(setup: Factory) {
    let Some(s) = setup(0).await else {
        return;
    };
    let replica = s.coord.register(info("a")).await.expect("register");
    assert_eq!(
        s.coord
            .record_observation(Uuid::new_v4(), replica, Status::Ok, "seen")
            .await,
        Err(StoreError::NotFound)
    );
    s.finish().await;
}

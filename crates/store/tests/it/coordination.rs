//! `PgCoordination` on a real PostgreSQL: membership, leased claims and
//! take-overs, fenced writes, generations, re-check requests, the listener, the
//! second opinion; and the SQLite instance lock.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use proxyhealth_store::{
    Claim, Coordination, CoordinationSettings, InstanceInfo, InstanceLockError, NewProxy, Notice,
    NoticeSource, OpenOptions, PgCoordination, PgStore, ProxyStore, ReplicaInfo, ResultWrite,
    SqliteStore, WriteOutcome,
};
use uuid::Uuid;

use proxyhealth_testkit::TestDatabase as TestDb;

/// A migrated store, its coordination, and `n` proxies.
struct Setup {
    db: TestDb,
    store: PgStore,
    coord: PgCoordination,
    proxies: Vec<Uuid>,
}

impl Setup {
    async fn new(n: usize) -> Option<Setup> {
        let db = TestDb::create().await?;
        let store = PgStore::open(&db.url, &OpenOptions::default())
            .await
            .expect("open pg store");
        let coord = store
            .coordination_with(CoordinationSettings::default())
            .expect("coordination");
        let mut proxies = Vec::new();
        for i in 0..n {
            let created = store
                .create_proxy(NewProxy {
                    name: format!("p{i}"),
                    ..Default::default()
                })
                .await
                .expect("create proxy");
            proxies.push(created.proxy.id);
        }
        // what the service's create does (request_check), for all at once
        coord.ensure_checks().await.expect("check rows");
        Some(Setup {
            db,
            store,
            coord,
            proxies,
        })
    }

    /// A second coordination on the same pool: another replica's view of the
    /// database (its own ensure/prune timers).
    fn other(&self) -> PgCoordination {
        self.store
            .coordination_with(CoordinationSettings::default())
            .expect("coordination")
    }

    async fn finish(self) {
        self.store.close().await;
        self.db.drop_db().await;
    }
}

fn info(name: &str) -> ReplicaInfo {
    ReplicaInfo {
        hostname: name.into(),
        version: "test".into(),
        listen_addr: "127.0.0.1:1".into(),
        pid: 7,
    }
}

fn write(claim: &Claim, status: &str, next: Duration) -> ResultWrite {
    ResultWrite {
        claim: claim.clone(),
        status: status.into(),
        message: format!("{status} by {}", claim.owner),
        result: serde_json::json!({ "status": status, "by": claim.owner.to_string() }),
        next_due_in: next,
    }
}

const HOUR: Duration = Duration::from_secs(3600);
const LEASE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn two_owners_claim_disjoint_sets() {
    let Some(s) = Setup::new(10).await else {
        return;
    };
    let other = s.other();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let (ca, cb) = tokio::join!(s.coord.claim_due(a, 6, LEASE), other.claim_due(b, 6, LEASE));
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

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_the_take_over_reported() {
    let Some(s) = Setup::new(1).await else {
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

#[tokio::test]
async fn the_stale_owners_write_is_rejected_and_changes_nothing_while_the_new_owners_is_accepted() {
    let Some(s) = Setup::new(1).await else {
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
        .write_result(write(&stale, "unhealthy", HOUR))
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

    let on_time = s
        .coord
        .write_result(write(&fresh, "ok", HOUR))
        .await
        .expect("write b");
    let WriteOutcome::Accepted { generation } = on_time else {
        panic!("b's write rejected");
    };
    assert!(generation > before);
    // the same claim cannot write twice, and a's stays rejected
    assert_eq!(
        s.coord
            .write_result(write(&fresh, "ok", HOUR))
            .await
            .expect("twice"),
        WriteOutcome::Rejected
    );
    assert_eq!(
        s.coord
            .write_result(write(&stale, "unhealthy", HOUR))
            .await
            .expect("again"),
        WriteOutcome::Rejected
    );
    let view = s.coord.all_results().await.expect("view");
    assert_eq!(view.rows.len(), 1);
    assert_eq!(view.rows[0].status, "ok");
    assert_eq!(view.rows[0].checked_by, b);
    assert_eq!(view.rows[0].generation, generation);
    assert_eq!(view.rows[0].result["by"], b.to_string());
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

#[tokio::test]
async fn generations_increase_and_results_since_returns_exactly_the_newer_ones() {
    let Some(s) = Setup::new(5).await else {
        return;
    };
    let owner = Uuid::new_v4();
    let claims = s.coord.claim_due(owner, 10, LEASE).await.expect("claim");
    assert_eq!(claims.len(), 5);
    let mut generations = Vec::new();
    for claim in &claims[..2] {
        match s
            .coord
            .write_result(write(claim, "ok", HOUR))
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
                .map(|c| write(c, "unhealthy", HOUR))
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
    assert!(since.rows.iter().all(|r| r.status == "unhealthy"));
    let nothing = s.coord.results_since(newest).await.expect("nothing new");
    assert!(nothing.rows.is_empty());
    assert_eq!(nothing.generation, newest);
    assert_eq!(s.coord.all_results().await.expect("all").rows.len(), 5);
    s.finish().await;
}

#[tokio::test]
async fn a_requested_check_is_claimed_exactly_once_by_two_competing_claimers() {
    let Some(s) = Setup::new(3).await else {
        return;
    };
    let other = s.other();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let claims = s.coord.claim_due(a, 10, LEASE).await.expect("claim");
    s.coord
        .write_results(claims.iter().map(|c| write(c, "ok", HOUR)).collect())
        .await
        .expect("write");
    assert!(
        s.coord
            .claim_due(a, 10, LEASE)
            .await
            .expect("none due")
            .is_empty()
    );

    let target = s.proxies[1];
    s.coord.request_check(target).await.expect("request");
    for _ in 0..3 {
        let (ca, cb) = tokio::join!(
            s.coord.claim_due(a, 10, LEASE),
            other.claim_due(b, 10, LEASE)
        );
        let all: Vec<Claim> = ca.expect("a").into_iter().chain(cb.expect("b")).collect();
        if all.is_empty() {
            continue;
        }
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0].proxy_id, target);
        assert_eq!(all[0].previous_status.as_deref(), Some("ok"));
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
            .write_result(write(&all[0], "ok", HOUR))
            .await
            .expect("write");
        let again = other.claim_due(b, 10, LEASE).await.expect("again");
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].proxy_id, target);
        s.coord
            .write_result(write(&again[0], "ok", HOUR))
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
            Err(proxyhealth_store::StoreError::NotFound)
        ));
        s.finish().await;
        return;
    }
    panic!("the requested proxy was never claimed");
}

#[tokio::test]
async fn heartbeats_keep_a_replica_live_and_a_stop_ends_it_and_frees_its_leases() {
    let Some(s) = Setup::new(2).await else {
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
            .write_result(write(&claims[0], "ok", HOUR))
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

#[tokio::test]
async fn the_listener_hears_results_and_after_its_session_is_killed_says_reconnected() {
    let Some(s) = Setup::new(3).await else {
        return;
    };
    let mut listener = s.coord.listener().await.expect("listen");
    let stats = listener.stats();
    assert!(stats.connected());
    let owner = Uuid::new_v4();
    let claims = s.coord.claim_due(owner, 10, LEASE).await.expect("claim");
    let WriteOutcome::Accepted { generation } = s
        .coord
        .write_result(write(&claims[0], "ok", HOUR))
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

    let pid = listener.backend_pid().await.expect("listener pid");
    let mut conn = s.db.connect().await;
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&mut conn)
        .await
        .expect("terminate");
    assert!(killed);
    let notice = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("reconnected in time");
    assert_eq!(notice, Notice::Reconnected);
    assert_eq!(stats.reconnects(), 1);
    assert!(stats.connected());

    // and it hears again
    s.coord
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
    let both = vec![write(&claims[1], "ok", HOUR), write(&claims[2], "ok", HOUR)];
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

#[tokio::test]
async fn the_listener_pings_itself_when_idle_and_stays_connected() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = PgStore::open(&db.url, &OpenOptions::default())
        .await
        .expect("open");
    let mut settings = CoordinationSettings::default();
    settings.listener.ping_period = Duration::from_millis(100);
    settings.listener.ping_timeout = Duration::from_secs(2);
    let coord = store.coordination_with(settings).expect("coordination");
    let mut listener = coord.listener().await.expect("listen");
    let stats = listener.stats();
    // a second of silence: several pings go and come back, nothing is yielded
    let idle = tokio::time::timeout(Duration::from_secs(1), listener.recv()).await;
    assert!(idle.is_err(), "{idle:?}");
    assert!(stats.connected());
    assert_eq!((stats.reconnects(), stats.pings_lost()), (0, 0));
    drop(listener);
    store.close().await;
    db.drop_db().await;
}

/// A loopback TCP forwarder whose existing connections can be frozen: they
/// stay open but nothing passes any more (a half-open connection, as after a
/// lost network), while connections made afterwards work.
async fn freezable_forwarder(target: String) -> (u16, tokio::sync::broadcast::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind forwarder");
    let port = listener.local_addr().expect("addr").port();
    let (freeze, _) = tokio::sync::broadcast::channel(4);
    let subscribe = freeze.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let mut frozen = subscribe.subscribe();
            let target = target.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                let freeze_now = tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => false,
                    _ = frozen.recv() => true,
                };
                if freeze_now {
                    // hold both sockets open, silently
                    std::future::pending::<()>().await;
                }
            });
        }
    });
    (port, freeze)
}

#[tokio::test]
async fn a_half_open_listener_connection_is_found_by_its_ping_and_replaced() {
    let Some(s) = Setup::new(1).await else {
        return;
    };
    let server = url::Url::parse(&s.db.url).expect("db url");
    let target = format!(
        "{}:{}",
        server.host_str().expect("host"),
        server.port().expect("port")
    );
    let (port, freeze) = freezable_forwarder(target).await;
    let mut via = server.clone();
    via.set_port(Some(port)).expect("port");
    let forwarded = PgStore::open(via.as_str(), &OpenOptions::default())
        .await
        .expect("open via forwarder");
    let mut settings = CoordinationSettings::default();
    settings.listener.ping_period = Duration::from_millis(200);
    settings.listener.ping_timeout = Duration::from_millis(500);
    let coord = forwarded.coordination_with(settings).expect("coordination");
    let mut listener = coord.listener().await.expect("listen");
    let stats = listener.stats();

    freeze.send(()).expect("freeze");
    let started = Instant::now();
    let notice = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("noticed in time");
    assert_eq!(notice, Notice::Reconnected);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!((stats.pings_lost(), stats.reconnects()), (1, 1));
    assert!(stats.connected());

    // the new connection hears what is sent through the direct store
    s.coord.request_check(s.proxies[0]).await.expect("request");
    let notice = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("a notice after the reconnect");
    assert_eq!(
        notice,
        Notice::Due {
            proxy_id: Some(s.proxies[0])
        }
    );
    // the forwarded pool holds frozen connections: drop it without waiting
    drop(listener);
    drop(coord);
    drop(forwarded);
    s.finish().await;
}

#[tokio::test]
async fn disagreements_list_proxies_seen_differently_by_live_replicas() {
    let Some(s) = Setup::new(2).await else {
        return;
    };
    let a = s.coord.register(info("a")).await.expect("a");
    let b = s.coord.register(info("b")).await.expect("b");
    let (p, q) = (s.proxies[0], s.proxies[1]);
    for (proxy, replica, status) in [
        (p, a, "ok"),
        (p, b, "unhealthy"),
        (q, a, "ok"),
        (q, b, "ok"),
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

#[tokio::test]
async fn a_deferred_failure_is_confirmed_by_another_replica() {
    let Some(s) = Setup::new(1).await else {
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
        .write_result(write(&first, "ok", HOUR))
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
            .defer_for_confirmation(&check, "unhealthy", "timeout", Duration::from_secs(60))
            .await
            .expect("defer")
    );
    // the result did not change; a may not confirm itself; b may
    let view = s.coord.all_results().await.expect("view");
    assert_eq!(view.rows[0].status, "ok");
    assert!(s.coord.claim_due(a, 1, LEASE).await.expect("a").is_empty());
    let confirm = s.coord.claim_due(b, 1, LEASE).await.expect("b").remove(0);
    assert_eq!(confirm.confirming, Some(a));
    assert_eq!(confirm.previous_status.as_deref(), Some("ok"));
    assert_eq!(
        s.coord
            .write_result(write(&confirm, "unhealthy", HOUR))
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
            .defer_for_confirmation(&check, "unhealthy", "late", Duration::from_secs(60))
            .await
            .expect("stale defer")
    );
    s.finish().await;
}

#[tokio::test]
async fn stale_lists_proxies_whose_newest_result_is_old() {
    let Some(s) = Setup::new(2).await else {
        return;
    };
    let owner = Uuid::new_v4();
    let claims = s.coord.claim_due(owner, 10, LEASE).await.expect("claim");
    s.coord
        .write_result(write(&claims[0], "ok", HOUR))
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut stale = s
        .coord
        .stale(Duration::from_millis(200))
        .await
        .expect("stale");
    stale.sort();
    let mut all = s.proxies.clone();
    all.sort();
    assert_eq!(stale, all, "both: one checked 300 ms ago, one never");
    s.coord
        .write_result(write(&claims[1], "ok", HOUR))
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

#[tokio::test]
async fn a_deleted_proxy_is_neither_claimed_nor_shown() {
    let Some(s) = Setup::new(2).await else {
        return;
    };
    let owner = Uuid::new_v4();
    let claims = s.coord.claim_due(owner, 10, LEASE).await.expect("claim");
    s.coord
        .write_results(
            claims
                .iter()
                .map(|c| write(c, "ok", Duration::ZERO))
                .collect(),
        )
        .await
        .expect("write");
    s.store.delete_proxy(s.proxies[0]).await.expect("delete");
    let again = s.coord.claim_due(owner, 10, LEASE).await.expect("claim");
    assert_eq!(
        again.iter().map(|c| c.proxy_id).collect::<Vec<_>>(),
        vec![s.proxies[1]]
    );
    let view = s.coord.all_results().await.expect("view");
    assert_eq!(
        view.rows.iter().map(|r| r.proxy_id).collect::<Vec<_>>(),
        vec![s.proxies[1]]
    );
    s.finish().await;
}

#[tokio::test]
async fn the_store_offers_coordination_only_where_replicas_can_share_it() {
    let Some(s) = Setup::new(0).await else {
        return;
    };
    let store: &dyn ProxyStore = &s.store;
    assert!(store.coordination().is_some());
    let info = InstanceInfo {
        hostname: "h".into(),
        pid: 1,
        listen_addr: "127.0.0.1:1".into(),
        started_at: time::OffsetDateTime::now_utc(),
    };
    assert!(store.instance_lock(&info).expect("no lock on pg").is_none());
    s.finish().await;
}

#[tokio::test]
async fn a_second_serve_on_a_sqlite_file_is_refused_naming_the_first_until_it_lets_go() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("proxyhealth.db");
    let first = SqliteStore::open(&path).await.expect("open first");
    let second = SqliteStore::open(&path).await.expect("open second");
    let since = time::OffsetDateTime::from_unix_timestamp(1_780_000_000).expect("time");
    let running = InstanceInfo {
        hostname: "box-one".into(),
        pid: 4242,
        listen_addr: "127.0.0.1:8080".into(),
        started_at: since,
    };
    let guard = first
        .instance_lock(&running)
        .expect("first takes the lock")
        .expect("sqlite needs a lock");
    let err = second
        .acquire_instance_lock(&InstanceInfo {
            hostname: "box-two".into(),
            pid: 99,
            listen_addr: "127.0.0.1:9090".into(),
            started_at: time::OffsetDateTime::now_utc(),
        })
        .expect_err("second refused");
    assert!(matches!(err, InstanceLockError::Held { .. }));
    assert_eq!(
        err.to_string(),
        "another proxyhealth is already serving this database: host box-one, pid 4242, \
         listening on 127.0.0.1:8080 (since 2026-05-28T20:26:40Z)"
    );
    drop(guard);
    let again = second
        .acquire_instance_lock(&running)
        .expect("free once the first guard is dropped");
    assert_eq!(again.path(), dir.path().join("proxyhealth.db.lock"));
    drop(again);
    first.close().await;
    second.close().await;
}

/// Server-side statistics of the statements starting with `prefix` since the
/// last reset: (calls, mean execution ms, rows per call), from
/// pg_stat_statements (when the server preloads it).
async fn server_stats(conn: &mut sqlx::PgConnection, prefix: &str) -> Option<(i64, f64, f64)> {
    sqlx::query_as(
        "SELECT sum(calls)::bigint, sum(total_exec_time) / sum(calls), \
           sum(rows)::float8 / sum(calls) \
         FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND ltrim(query) LIKE $1 || '%' HAVING sum(calls) > 0",
    )
    .bind(prefix)
    .fetch_optional(conn)
    .await
    .ok()
    .flatten()
}

async fn reset_stats(conn: &mut sqlx::PgConnection) {
    let _ = sqlx::query("SELECT pg_stat_statements_reset()")
        .execute(conn)
        .await;
}

/// One line of the cost table: client mean, and server mean when known.
async fn report(
    conn: &mut sqlx::PgConnection,
    what: &str,
    prefix: &str,
    client: Duration,
    calls: u32,
) {
    let client = client / calls.max(1);
    match server_stats(conn, prefix).await {
        Some((n, mean, rows)) => {
            println!("| {what} | {client:.2?} | {mean:.3} ms | {n} | {rows:.0} |")
        }
        None => println!("| {what} | {client:.2?} | n/a | {calls} | |"),
    }
}

/// Every coordination statement at fleet scale (10,000 proxies by default,
/// about 5 s): it checks their answers (every missing check row inserted,
/// 100 rows per claim and per read) and prints the cost table of
/// docs/replicas.md. For the table's figures run
/// `COST_PROXIES=100000 cargo test -p proxyhealth-store --test it
/// statement_costs -- --nocapture` against a server that preloads
/// pg_stat_statements for the server-side times (the client times are a
/// debug build's).
#[tokio::test]
async fn statement_costs() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let proxies: i64 = std::env::var("COST_PROXIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let store = PgStore::open(&db.url, &OpenOptions::default())
        .await
        .expect("open");
    let coord = store
        .coordination_with(CoordinationSettings::default())
        .expect("coordination");
    let mut conn = db.connect().await;
    let _ = sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(&mut conn)
        .await;
    sqlx::query(
        "INSERT INTO workspace_proxies (id, name, display_name, icon, url, wildcard_hostname, \
           created_at, updated_at, deleted, token_hashed_secret) \
         SELECT gen_random_uuid(), 'p' || i, '', '', 'http://127.0.0.1:1', '', now(), now(), \
           false, '\\x00' FROM generate_series(1, $1) AS i",
    )
    .bind(proxies)
    .execute(&mut conn)
    .await
    .expect("seed proxies");
    sqlx::query("ANALYZE")
        .execute(&mut conn)
        .await
        .expect("analyze");
    println!("{proxies} proxies");
    println!("| statement | client mean | server mean | calls | rows per call |");
    println!("|---|---|---|---|---|");

    reset_stats(&mut conn).await;
    let t = Instant::now();
    let inserted = coord.ensure_checks().await.expect("ensure");
    report(
        &mut conn,
        "ensure_checks, all missing",
        "INSERT INTO proxyhealth_checks",
        t.elapsed(),
        1,
    )
    .await;
    assert_eq!(inserted, u64::try_from(proxies).expect("count"));
    sqlx::query("ANALYZE")
        .execute(&mut conn)
        .await
        .expect("analyze");
    reset_stats(&mut conn).await;
    let t = Instant::now();
    coord.ensure_checks().await.expect("ensure again");
    report(
        &mut conn,
        "ensure_checks, none missing",
        "INSERT INTO proxyhealth_checks",
        t.elapsed(),
        1,
    )
    .await;

    let replica = coord.register(info("bench")).await.expect("register");
    // the first claim of this coordination takes the ensure turn: do it now
    coord.claim_due(replica, 1, LEASE).await.expect("warm");
    let rounds: u32 = 30;

    reset_stats(&mut conn).await;
    let mut claims = Vec::new();
    let t = Instant::now();
    for _ in 0..rounds {
        claims.push(coord.claim_due(replica, 100, LEASE).await.expect("claim"));
    }
    report(
        &mut conn,
        "claim_due, 100 rows",
        "WITH due AS",
        t.elapsed(),
        rounds,
    )
    .await;

    reset_stats(&mut conn).await;
    let batches = rounds / 2;
    let (mut write_t, mut since_t) = (Duration::ZERO, Duration::ZERO);
    let mut seen = coord.newest_generation().await.expect("newest");
    for batch in claims.drain(..batches as usize) {
        let t = Instant::now();
        coord
            .write_results(batch.iter().map(|c| write(c, "ok", HOUR)).collect())
            .await
            .expect("write batch");
        write_t += t.elapsed();
        let t = Instant::now();
        let got = coord.results_since(seen).await.expect("since");
        since_t += t.elapsed();
        assert_eq!(got.rows.len(), 100);
        seen = got.generation;
    }
    report(
        &mut conn,
        "write_results, 100 rows",
        "WITH g AS",
        write_t,
        batches,
    )
    .await;
    report(
        &mut conn,
        "results_since, 100 new rows",
        "SELECT v.generation",
        since_t,
        batches,
    )
    .await;

    reset_stats(&mut conn).await;
    let mut singles = 0;
    let t = Instant::now();
    for batch in claims.drain(..) {
        for c in batch {
            coord
                .write_result(write(&c, "ok", HOUR))
                .await
                .expect("write");
            singles += 1;
        }
    }
    report(
        &mut conn,
        "write_result, 1 row",
        "WITH g AS",
        t.elapsed(),
        singles,
    )
    .await;

    // concurrent writers: results serialize on the view row, so this is the
    // cluster's ceiling of write statements per second on this server
    let writers = 8;
    let mut sets = Vec::new();
    for _ in 0..writers {
        sets.push(coord.claim_due(replica, 100, LEASE).await.expect("claim"));
    }
    let coord = std::sync::Arc::new(coord);
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for set in sets {
        let coord = coord.clone();
        tasks.spawn(async move {
            for c in set {
                coord
                    .write_result(write(&c, "ok", HOUR))
                    .await
                    .expect("write");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = t.elapsed();
    println!(
        "| {writers} concurrent single-row writers | {:.0} writes/s | | {} | 1 |",
        f64::from(writers * 100) / elapsed.as_secs_f64(),
        writers * 100
    );

    reset_stats(&mut conn).await;
    let t = Instant::now();
    let all = coord.all_results().await.expect("all");
    report(
        &mut conn,
        &format!("all_results, {} rows", all.rows.len()),
        "SELECT v.generation",
        t.elapsed(),
        1,
    )
    .await;

    reset_stats(&mut conn).await;
    let t = Instant::now();
    for _ in 0..100 {
        coord.heartbeat(replica, seen).await.expect("beat");
    }
    report(
        &mut conn,
        "heartbeat",
        "UPDATE proxyhealth_replicas",
        t.elapsed(),
        100,
    )
    .await;

    reset_stats(&mut conn).await;
    let t = Instant::now();
    for row in all.rows.iter().take(100) {
        coord.request_check(row.proxy_id).await.expect("request");
    }
    report(&mut conn, "request_check", "WITH up AS", t.elapsed(), 100).await;

    reset_stats(&mut conn).await;
    let t = Instant::now();
    for _ in 0..20 {
        coord
            .replicas(Duration::from_secs(15))
            .await
            .expect("replicas");
    }
    report(&mut conn, "replicas, 1 row", "SELECT r.id", t.elapsed(), 20).await;

    reset_stats(&mut conn).await;
    let t = Instant::now();
    coord.stale(Duration::from_secs(120)).await.expect("stale");
    report(&mut conn, "stale", "SELECT p.id", t.elapsed(), 1).await;

    reset_stats(&mut conn).await;
    let t = Instant::now();
    coord
        .disagreements(Duration::from_secs(15), Duration::from_secs(120))
        .await
        .expect("disagreements");
    let observed: i64 = sqlx::query_scalar("SELECT count(*) FROM proxyhealth_observations")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    report(
        &mut conn,
        &format!("disagreements, {observed} observations"),
        "WITH recent AS",
        t.elapsed(),
        1,
    )
    .await;
    store.close().await;
    if std::env::var_os("COST_KEEP_DB").is_some() {
        println!("kept: {}", db.url);
    } else {
        db.drop_db().await;
    }
}

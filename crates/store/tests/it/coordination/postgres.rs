//! `PgCoordination` on a real PostgreSQL: the coordination conformance suite,
//! and what only PostgreSQL shows (the listener's session killed, its
//! self-ping on an idle or a half-open connection, the store offering
//! coordination, the statements' cost at fleet scale); and the SQLite
//! instance lock, the one-writer alternative to coordination.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proxyhealth_core::{Proxy, Status, Transition};
use proxyhealth_store::{
    Claim, Claims, Coordination, CoordinationSettings, InstanceInfo, InstanceLockError, Membership,
    Notice, NoticeSource, Observations, OpenOptions, PgCoordination, PgStore, ProxyStore,
    ReplicaInfo, ResultWrite, SharedView, SqliteStore, WriteOutcome,
};
use uuid::Uuid;

use proxyhealth_testkit::TestDatabase as TestDb;

use super::conformance::{self, coordination_suite, create_proxies, result_of};

/// A fresh database with `n` proxies and two replicas' coordinations on it.
async fn suite_setup(n: usize) -> Option<conformance::Setup> {
    let s = Setup::new(n).await?;
    // another replica's view of the database (its own ensure/prune timers)
    let other = s.other();
    Some(conformance::Setup {
        coord: Arc::new(s.coord) as Arc<dyn Coordination>,
        other: Arc::new(other) as Arc<dyn Coordination>,
        store: Arc::new(s.store) as Arc<dyn ProxyStore>,
        proxies: s.proxies,
        db: Some(s.db),
    })
}

coordination_suite!(suite_setup; ());

/// A migrated store, its coordination, and `n` proxies.
struct Setup {
    db: TestDb,
    store: PgStore,
    coord: PgCoordination,
    proxies: Vec<Proxy>,
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
        let proxies = create_proxies(&store, n).await;
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

    /// The write of a result with `status` under `claim`.
    fn write(&self, claim: &Claim, status: Status, next: Duration) -> ResultWrite {
        let proxy = self
            .proxies
            .iter()
            .find(|p| p.id == claim.proxy_id)
            .expect("a proxy of the setup");
        write_for(proxy, claim, status, next)
    }

    async fn finish(self) {
        self.store.close().await;
        self.db.drop_db().await;
    }
}

/// The write of a result of `proxy` with `status` under `claim`, its
/// transition decided as a replica decides it.
fn write_for(proxy: &Proxy, claim: &Claim, status: Status, next: Duration) -> ResultWrite {
    let result = result_of(proxy, status, claim.owner);
    ResultWrite {
        claim: claim.clone(),
        transition: Transition::between(claim.previous_status, &result, Some(claim.owner)),
        message: format!("{status} by {}", claim.owner),
        result,
        next_due_in: next,
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

#[tokio::test]
async fn a_stored_result_of_another_version_is_skipped_and_its_status_read_as_none() {
    let Some(s) = Setup::new(2).await else {
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
    // what a replica of another version might have written
    let (odd, fine) = (s.proxies[0].id, s.proxies[1].id);
    let mut conn = s.db.connect().await;
    sqlx::query(
        "UPDATE proxyhealth_checks SET status = 'sideways', result = '{\"shape\": 2}' \
         WHERE proxy_id = $1",
    )
    .bind(odd)
    .execute(&mut conn)
    .await
    .expect("overwrite one result");
    let view = s.coord.all_results().await.expect("the view reads");
    assert_eq!(
        view.rows.iter().map(|r| r.proxy_id).collect::<Vec<_>>(),
        [fine],
        "the unreadable result is skipped, the other read"
    );
    let mut again = s.coord.claim_due(owner, 10, LEASE).await.expect("claim");
    again.sort_by_key(|c| c.proxy_id != odd);
    assert_eq!(again.len(), 2, "probing goes on: {again:?}");
    assert_eq!((again[0].proxy_id, again[0].previous_status), (odd, None));
    assert_eq!(again[1].previous_status, Some(Status::Ok));
    drop(conn);
    s.finish().await;
}

#[tokio::test]
async fn one_connection_writes_a_batch_of_megabytes_then_the_next_batch() {
    // one connection, so the second batch goes where the first one went,
    // after that connection gave back the room the first one took
    let Some(db) = TestDb::create().await else {
        return;
    };
    let options = OpenOptions {
        max_connections: 1,
        ..OpenOptions::default()
    };
    let store = PgStore::open(&db.url, &options).await.expect("open");
    let coord = store
        .coordination_with(CoordinationSettings::default())
        .expect("coordination");
    let proxies = create_proxies(&store, 300).await;
    coord.ensure_checks().await.expect("check rows");
    let by_id: HashMap<Uuid, &Proxy> = proxies.iter().map(|p| (p.id, p)).collect();
    let owner = Uuid::new_v4();
    let write = |claim: &Claim, message: String| {
        let mut write = write_for(by_id[&claim.proxy_id], claim, Status::Ok, Duration::ZERO);
        write.message = message;
        write
    };

    let claims = coord.claim_due(owner, 300, LEASE).await.expect("claim");
    let large: Vec<ResultWrite> = claims.iter().map(|c| write(c, "x".repeat(8_000))).collect();
    let outcomes = coord.write_results(large).await.expect("a 2.4 MB batch");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, WriteOutcome::Accepted { .. }))
    );

    let claims = coord
        .claim_due(owner, 300, LEASE)
        .await
        .expect("claim again");
    assert_eq!(claims.len(), 300);
    let small: Vec<ResultWrite> = claims.iter().map(|c| write(c, "ok".into())).collect();
    let outcomes = coord.write_results(small).await.expect("the next batch");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, WriteOutcome::Accepted { .. }))
    );
    let observed = coord
        .observations(proxies[0].id)
        .await
        .expect("observations");
    assert_eq!(observed.len(), 1);
    assert_eq!(observed[0].message, "ok");
    store.close().await;
    db.drop_db().await;
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
    s.coord
        .request_check(s.proxies[0].id)
        .await
        .expect("request");
    let notice = tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("a notice after the reconnect");
    assert_eq!(
        notice,
        Notice::Due {
            proxy_id: Some(s.proxies[0].id)
        }
    );
    // the forwarded pool holds frozen connections: drop it without waiting
    drop(listener);
    drop(coord);
    drop(forwarded);
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
    // the rows the results are written of, read once
    let by_id: Arc<HashMap<Uuid, Proxy>> = Arc::new(
        store
            .all_proxies()
            .await
            .expect("the seeded proxies")
            .into_iter()
            .map(|proxy| (proxy.id, proxy))
            .collect(),
    );
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
            .write_results(
                batch
                    .iter()
                    .map(|c| write_for(&by_id[&c.proxy_id], c, Status::Ok, HOUR))
                    .collect(),
            )
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
                .write_result(write_for(&by_id[&c.proxy_id], &c, Status::Ok, HOUR))
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
        let by_id = Arc::clone(&by_id);
        tasks.spawn(async move {
            for c in set {
                coord
                    .write_result(write_for(&by_id[&c.proxy_id], &c, Status::Ok, HOUR))
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

//! The conformance suite on `PgStore`, plus migrations, schema and reconnection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proxyhealth_store::{NewProxy, OpenOptions, OutboxPolicy, PgStore, ProxyStore, open_store};
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinSet;

use crate::conformance::conformance_suite;
use crate::support::Fixture;
use proxyhealth_testkit::{SHARED_POSTGRES_ENV, TestDatabase as TestDb, shared_postgres_url};

async fn fixture() -> Option<Fixture> {
    outbox_fixture(OutboxPolicy::default()).await
}

/// A fresh store writing notification rows by `policy`.
async fn outbox_fixture(policy: OutboxPolicy) -> Option<Fixture> {
    let db = TestDb::create().await?;
    let options = OpenOptions {
        outbox_policy: policy,
        ..OpenOptions::default()
    };
    let store = PgStore::open(&db.url, &options)
        .await
        .expect("open pg store");
    let mut fixture = Fixture::new(Arc::new(store));
    fixture.pg = Some(db);
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
async fn two_replicas_migrating_at_once_both_succeed() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let options = OpenOptions::default();
    let (a, b) = tokio::join!(
        PgStore::open(&db.url, &options),
        PgStore::open(&db.url, &options)
    );
    let (a, b) = (a.expect("replica a"), b.expect("replica b"));
    let created = a
        .create_proxy(NewProxy {
            name: "eu".into(),
            ..Default::default()
        })
        .await
        .expect("create through a");
    assert_eq!(
        b.proxy_by_name("eu").await.expect("read through b"),
        Some(created.proxy)
    );
    let mut conn = db.connect().await;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut conn)
        .await
        .expect("migrations");
    // each migration applied once
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .expect("migrations dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    assert_eq!(applied, i64::try_from(files).expect("count"));
    a.close().await;
    b.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn the_schema_has_coders_columns_and_index() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = PgStore::open(&db.url, &OpenOptions::default())
        .await
        .expect("open");
    let mut conn = db.connect().await;
    let columns: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text, is_nullable::text, column_default::text \
         FROM information_schema.columns WHERE table_name = 'workspace_proxies' \
         ORDER BY ordinal_position",
    )
    .fetch_all(&mut conn)
    .await
    .expect("columns");
    let expected: Vec<(&str, &str, Option<&str>)> = vec![
        ("id", "uuid", None),
        ("name", "text", None),
        ("display_name", "text", None),
        ("icon", "text", None),
        ("url", "text", None),
        ("wildcard_hostname", "text", None),
        ("created_at", "timestamp with time zone", None),
        ("updated_at", "timestamp with time zone", None),
        ("deleted", "boolean", None),
        ("token_hashed_secret", "bytea", None),
        (
            "region_id",
            "integer",
            Some("nextval('workspace_proxies_region_id_seq'::regclass)"),
        ),
        ("derp_enabled", "boolean", Some("true")),
        ("derp_only", "boolean", Some("false")),
        ("version", "text", Some("''::text")),
    ];
    let got: Vec<(&str, &str, Option<&str>)> = columns
        .iter()
        .map(|(n, t, _, d)| (n.as_str(), t.as_str(), d.as_deref()))
        .collect();
    assert_eq!(got, expected);
    assert!(
        columns.iter().all(|(_, _, nullable, _)| nullable == "NO"),
        "all NOT NULL"
    );
    let index: String = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'workspace_proxies_lower_name_idx'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("name index");
    assert!(
        index.contains("UNIQUE")
            && index.contains("lower(name)")
            && index.contains("deleted = false"),
        "{index}"
    );
    let unique: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_constraint WHERE conname = 'workspace_proxies_region_id_unique'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("region unique");
    assert_eq!(unique, 1);
    store.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn open_store_picks_postgres_for_postgres_urls() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    for url in [
        db.url.clone(),
        db.url.replacen("postgres://", "postgresql://", 1),
    ] {
        let store = open_store(&url, OpenOptions::default())
            .await
            .expect("open_store");
        assert!(!store.is_read_only());
        store.ping().await.expect("ping");
    }
    db.drop_db().await;
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_at_open_and_quickly() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let url = format!("postgres://postgres:secret@127.0.0.1:{port}/postgres");
    let started = Instant::now();
    let err = open_store(&url, OpenOptions::default())
        .await
        .err()
        .expect("nothing listens");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_unavailable(), "{err}");
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("secret"), "the password is hidden: {text}");
}

/// A TCP forwarder on a fixed loopback port that can be cut and restored, to
/// play a database server going away and coming back.
struct Forwarder {
    port: u16,
    target: String,
    tasks: JoinSet<()>,
}

impl Forwarder {
    async fn start(target: String) -> Forwarder {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind forwarder");
        let port = listener.local_addr().expect("addr").port();
        let mut fwd = Forwarder {
            port,
            target,
            tasks: JoinSet::new(),
        };
        fwd.serve(listener);
        fwd
    }

    fn serve(&mut self, listener: TcpListener) {
        let target = self.target.clone();
        self.tasks.spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                conns.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
    }

    /// Closes the listener and every forwarded connection.
    async fn cut(&mut self) {
        self.tasks.shutdown().await;
    }

    /// Listens again on the same port.
    fn restore(&mut self) {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("reuseaddr");
        socket
            .bind(([127, 0, 0, 1], self.port).into())
            .expect("rebind forwarder port");
        let listener = socket.listen(64).expect("listen");
        self.serve(listener);
    }
}

#[tokio::test]
async fn a_dead_server_fails_calls_quickly_and_the_pool_reconnects_when_it_returns() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let server = url::Url::parse(&db.url).expect("db url");
    let target = format!(
        "{}:{}",
        server.host_str().expect("host"),
        server.port().expect("port")
    );
    let mut fwd = Forwarder::start(target).await;
    let mut via = server.clone();
    via.set_port(Some(fwd.port)).expect("port");
    let store = PgStore::open(via.as_str(), &OpenOptions::default())
        .await
        .expect("open via forwarder");
    store
        .create_proxy(NewProxy {
            name: "eu".into(),
            ..Default::default()
        })
        .await
        .expect("create");

    fwd.cut().await;
    let started = Instant::now();
    let err = store.all_proxies().await.expect_err("server gone");
    assert!(err.is_unavailable(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    assert!(store.ping().await.expect_err("still gone").is_unavailable());

    fwd.restore();
    let listed = store.all_proxies().await.expect("reconnected by itself");
    assert_eq!(listed.len(), 1);
    store.close().await;
    fwd.cut().await;
    db.drop_db().await;
}

#[test]
fn without_a_url_pg_tests_skip_locally() {
    if std::env::var_os(SHARED_POSTGRES_ENV).is_none()
        && std::env::var("CI").as_deref() != Ok("true")
    {
        assert_eq!(shared_postgres_url(), None);
    }
}

/// A database whose per-vantage history was kept by an agents' vantage's id
/// keeps it by the vantage's name after the upgrade, and deleting the vantage
/// still deletes it.
#[tokio::test]
async fn an_agents_vantage_s_history_is_kept_by_its_name_through_the_upgrade() {
    use proxyhealth_core::{Rollup, Status, VantageName};
    use proxyhealth_store::VantageError;
    use time::OffsetDateTime;
    use uuid::Uuid;

    let Some(db) = TestDb::create().await else {
        return;
    };
    // every migration before the one keying the history by name
    let dir = tempfile::tempdir().expect("temp dir");
    let all = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .expect("the migrations");
    for file in all {
        let file = file.expect("a file");
        if file.file_name().to_string_lossy().as_ref() < "20261228000000" {
            std::fs::copy(file.path(), dir.path().join(file.file_name())).expect("copied");
        }
    }
    let mut conn = db.connect().await;
    sqlx::migrate::Migrator::new(dir.path().to_path_buf())
        .await
        .expect("the earlier migrations")
        .run(&mut conn)
        .await
        .expect("migrated to the version before");
    let vantage = Uuid::new_v4();
    let proxy = Uuid::new_v4();
    let now = OffsetDateTime::now_utc();
    let hour = now.unix_timestamp() - now.unix_timestamp().rem_euclid(3600);
    let mut rollup = Rollup::default();
    rollup.add(Status::Ok, Some(Duration::from_millis(20)));
    for statement in [
        "INSERT INTO proxyhealth_vantages (id, name, token_hashed_secret) \
         VALUES ($1, 'AP-South', '\\x00')",
        "INSERT INTO proxyhealth_vantage_transitions \
         (vantage_id, proxy_id, at, from_status, to_status, report) \
         VALUES ($1, $2, $3, NULL, 'ok', '{\"errors\":[],\"warnings\":[]}')",
        "INSERT INTO proxyhealth_vantage_rollups (vantage_id, proxy_id, hour, checks, ok, \
         unhealthy, unreachable, latency_max_us, sketch) \
         VALUES ($1, $2, $4, 1, 1, 0, 0, 20000, $5)",
    ] {
        sqlx::query(statement)
            .bind(vantage)
            .bind(proxy)
            .bind(now)
            .bind(hour)
            .bind(rollup.sketch.encode())
            .execute(&mut conn)
            .await
            .expect("a row of the earlier schema");
    }
    drop(conn);

    let store = PgStore::open(&db.url, &OpenOptions::default())
        .await
        .expect("upgraded");
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
    store.close().await;
    db.drop_db().await;
}

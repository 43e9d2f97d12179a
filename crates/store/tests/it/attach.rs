//! Attach mode: reading an existing Coder database without ever writing to it.

use proxyhealth_core::{HealthReport, Status, Transition, VantageName, VantageReading};
use proxyhealth_store::{
    CoordinationSettings, NewProxy, OpenOptions, PgStore, ProxyStore, ProxyUpdate, Registration,
    ReplicaInfo, ResultWrite, StoreError, WriteOutcome, open_store, token,
};
use sqlx::{PgConnection, Row};
use std::time::Duration;
use uuid::Uuid;

use proxyhealth_testkit::TestDatabase as TestDb;
use proxyhealth_testkit::coder_db::{
    CoderProxyRow, ReaderRole, create_coder_table, insert_coder_proxy,
};

/// The secret of the `coder-eu` row's token.
fn eu_secret() -> String {
    "ab".repeat(32)
}

async fn insert(
    conn: &mut PgConnection,
    id: Uuid,
    name: &str,
    url: &str,
    minutes_ago: i32,
    deleted: bool,
) {
    let row = CoderProxyRow {
        id,
        name,
        url,
        minutes_ago,
        deleted,
        token_hash: token::hash_secret(&eu_secret()),
    };
    insert_coder_proxy(conn, &row).await;
}

/// Everything a write could change: every row with its physical location and
/// transaction id, the sequence, and the list of relations in the database.
async fn fingerprint(conn: &mut PgConnection) -> (String, String, String) {
    let rows: String = sqlx::query_scalar(
        "SELECT coalesce(md5(string_agg(t.ctid::text || t.xmin::text || t::text, '|' ORDER BY t.id)), '') \
         FROM workspace_proxies t",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("row checksum");
    let seq = sqlx::query("SELECT last_value, is_called FROM workspace_proxies_region_id_seq")
        .fetch_one(&mut *conn)
        .await
        .expect("sequence");
    let seq = format!("{}/{}", seq.get::<i64, _>(0), seq.get::<bool, _>(1));
    let relations: String = sqlx::query_scalar(
        "SELECT coalesce(string_agg(c.relname::text, ',' ORDER BY c.relname), '') \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("relations");
    (rows, seq, relations)
}

#[tokio::test]
async fn attaching_to_a_coder_database_lists_its_proxies_and_never_writes() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let mut conn = db.connect().await;
    create_coder_table(&mut conn).await;
    let (eu, us, gone) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    insert(
        &mut conn,
        us,
        "coder-us",
        "https://us.example.com",
        5,
        false,
    )
    .await;
    insert(&mut conn, eu, "coder-eu", "", 10, false).await;
    insert(
        &mut conn,
        gone,
        "coder-gone",
        "https://gone.example.com",
        7,
        true,
    )
    .await;
    let before = fingerprint(&mut conn).await;
    assert!(!before.2.contains("_sqlx_migrations") && !before.2.contains("proxyhealth"));

    let options = OpenOptions {
        coder_attach: true,
        ..OpenOptions::default()
    };
    let store = open_store(&db.url, options).await.expect("attach");
    assert!(store.is_read_only());
    // Coder's database is not ours to coordinate in: each replica probes alone
    assert!(store.coordination().is_none());
    store.ping().await.expect("ping");

    let listed = store.all_proxies().await.expect("list");
    let names: Vec<&str> = listed.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["coder-eu", "coder-us"],
        "oldest first, deleted skipped"
    );
    assert_eq!(listed[0].display_name, "coder-eu display");
    assert_eq!(listed[1].region_id, 1, "coder-us was inserted first");
    assert_eq!(listed[1].url, "https://us.example.com");
    assert!(listed[0].derp_enabled && !listed[0].derp_only);
    assert_eq!(listed[0].version, "v2.15.0");
    assert!(
        store
            .get_proxy(gone)
            .await
            .expect("by id")
            .expect("deleted row")
            .deleted
    );
    assert_eq!(
        store
            .proxy_by_name("coder-us")
            .await
            .expect("by name")
            .map(|p| p.id),
        Some(us)
    );
    let verified = store
        .verify_proxy_token(&format!("{eu}:{}", eu_secret()))
        .await
        .expect("a Coder proxy token verifies");
    assert_eq!(verified.id, eu);

    let new = NewProxy {
        name: "mine".into(),
        ..Default::default()
    };
    assert_eq!(
        store.create_proxy(new).await.map(|c| c.token),
        Err(StoreError::ReadOnly)
    );
    let rename = ProxyUpdate {
        name: Some("x".into()),
        ..Default::default()
    };
    assert_eq!(
        store.update_proxy(eu, rename).await,
        Err(StoreError::ReadOnly)
    );
    assert_eq!(
        store.regenerate_token(eu).await.map(|c| c.token),
        Err(StoreError::ReadOnly)
    );
    assert_eq!(store.delete_proxy(eu).await, Err(StoreError::ReadOnly));
    let reg = Registration {
        url: "https://eu.example.com".into(),
        derp_enabled: true,
        ..Default::default()
    };
    assert_eq!(
        store.register_proxy(eu, reg).await,
        Err(StoreError::ReadOnly)
    );
    assert_eq!(
        store.set_admin_token_hash_if_absent(vec![1; 32]).await,
        Err(StoreError::ReadOnly)
    );
    assert_eq!(store.admin_token_hash().await, Ok(None));
    let text = StoreError::ReadOnly.to_string();
    assert!(
        text.contains("read-only") && text.contains("Coder database"),
        "{text}"
    );

    drop(store);
    let after = fingerprint(&mut conn).await;
    assert_eq!(after, before, "no row, sequence or table changed");
    drop(conn);
    db.drop_db().await;
}

#[tokio::test]
async fn attaching_to_a_database_without_coders_table_is_a_config_error() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let options = OpenOptions {
        coder_attach: true,
        ..OpenOptions::default()
    };
    let err = open_store(&db.url, options).await.err().expect("no table");
    assert!(matches!(err, StoreError::Config(_)), "{err}");
    assert!(
        err.to_string().contains("no workspace_proxies table"),
        "{err}"
    );
    let mut conn = db.connect().await;
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            .fetch_one(&mut conn)
            .await
            .expect("tables");
    assert_eq!(tables, 0, "attach created nothing");
    drop(conn);
    db.drop_db().await;
}

#[tokio::test]
async fn attach_needs_a_postgres_url() {
    let options = OpenOptions {
        coder_attach: true,
        ..OpenOptions::default()
    };
    let err = open_store("memory:", options)
        .await
        .err()
        .expect("not postgres");
    assert_eq!(
        err.to_string(),
        "store configuration: attaching to a Coder database needs a postgres:// URL, got memory:"
    );
}

#[tokio::test]
async fn attached_replicas_coordinate_in_a_schema_of_their_own_and_only_read_coders_table() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let mut conn = db.connect().await;
    create_coder_table(&mut conn).await;
    let (live, gone) = (Uuid::new_v4(), Uuid::new_v4());
    insert(&mut conn, live, "coder-eu", "http://127.0.0.1:9", 5, false).await;
    insert(&mut conn, gone, "coder-gone", "http://127.0.0.1:9", 7, true).await;
    let role = ReaderRole::create(&mut conn, &db).await;
    let url = role.url.clone();
    let before = fingerprint(&mut conn).await;

    let options = OpenOptions {
        coder_attach: true,
        coordination_schema: Some("proxyhealth".to_owned()),
        ..OpenOptions::default()
    };
    let first = open_store(&url, options.clone()).await.expect("attach");
    // a second replica finds the schema made and migrated
    let second = open_store(&url, options).await.expect("attach again");
    assert!(first.is_read_only() && second.is_read_only());
    assert_eq!(
        first
            .create_proxy(NewProxy::default())
            .await
            .map(|c| c.token),
        Err(StoreError::ReadOnly),
        "Coder's table is still only read"
    );
    let (a, b) = (
        first.coordination().expect("coordinates in its schema"),
        second.coordination().expect("coordinates in its schema"),
    );
    let info = |host: &str| ReplicaInfo {
        hostname: host.to_owned(),
        version: "test".to_owned(),
        listen_addr: "127.0.0.1:1".to_owned(),
        pid: 1,
        vantage: "local".to_owned(),
    };
    let a_id = a.register(info("a")).await.expect("register a");
    let b_id = b.register(info("b")).await.expect("register b");
    let lease = Duration::from_secs(30);
    let claims = a.claim_due(a_id, 10, lease).await.expect("claim");
    assert_eq!(
        claims.iter().map(|c| c.proxy_id).collect::<Vec<_>>(),
        [live],
        "the live Coder proxy is due once, the deleted one never"
    );
    assert!(
        b.claim_due(b_id, 10, lease)
            .await
            .expect("claim")
            .is_empty(),
        "one claim in the cluster"
    );
    let proxy = first
        .get_proxy(live)
        .await
        .expect("read")
        .expect("the live proxy");
    let result = crate::coordination::conformance::result_of(&proxy, Status::Ok, a_id);
    let write = ResultWrite {
        claim: claims[0].clone(),
        transition: Transition::between(None, &result, Some(a_id)),
        message: "ok".to_owned(),
        result,
        next_due_in: Duration::from_secs(60),
    };
    assert!(matches!(
        a.write_result(write).await.expect("write"),
        WriteOutcome::Accepted { .. }
    ));
    let seen = b.all_results().await.expect("results");
    assert_eq!(seen.rows.len(), 1, "the other replica reads the result");
    assert_eq!(seen.rows[0].proxy_id, live);
    assert_eq!(
        b.replicas(Duration::from_secs(10))
            .await
            .expect("rows")
            .len(),
        2
    );

    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'proxyhealth' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .expect("our tables");
    assert!(
        tables.contains(&"proxyhealth_checks".to_owned())
            && tables.contains(&"_sqlx_migrations".to_owned()),
        "{tables:?}"
    );
    assert!(
        !tables.contains(&"workspace_proxies".to_owned()),
        "{tables:?}"
    );
    drop((a, b, first, second));
    let after = fingerprint(&mut conn).await;
    assert_eq!(
        (&after.0, &after.1),
        (&before.0, &before.1),
        "no row of Coder's table and not its sequence changed"
    );
    let public_before: Vec<&str> = before.2.split(',').collect();
    let ours: Vec<&str> = after
        .2
        .split(',')
        .filter(|name| !public_before.contains(name))
        .collect();
    assert!(
        ours.iter()
            .all(|name| name.starts_with("proxyhealth_") || name.starts_with("_sqlx_migrations")),
        "only our own relations were added: {ours:?}"
    );
    drop(conn);
    role.drop_with(db).await;
}

#[tokio::test]
async fn readings_of_a_proxy_coder_deleted_are_pruned_beside_its_database() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let mut conn = db.connect().await;
    create_coder_table(&mut conn).await;
    let (live, doomed) = (Uuid::new_v4(), Uuid::new_v4());
    insert(&mut conn, live, "coder-eu", "http://127.0.0.1:9", 5, false).await;
    insert(
        &mut conn,
        doomed,
        "coder-us",
        "http://127.0.0.1:9",
        6,
        false,
    )
    .await;
    let role = ReaderRole::create(&mut conn, &db).await;
    let options = OpenOptions {
        coder_attach: true,
        coordination_schema: Some("proxyhealth".to_owned()),
        ..OpenOptions::default()
    };
    let store = PgStore::attach_coder(&role.url, &options)
        .await
        .expect("attach");
    let vantages = store.vantages().expect("vantages in our own schema");
    vantages.create("eu-west").await.expect("create");
    let eu = VantageName::new("eu-west").expect("a valid name");
    let reading = |proxy: Uuid| {
        (
            proxy,
            VantageReading {
                vantage: eu.clone(),
                status: Status::Ok,
                last_result: Status::Ok,
                streak: 1,
                latency_ms: Some(12),
                checked_at: time::OffsetDateTime::now_utc(),
                report: HealthReport::default(),
                stale: false,
            },
        )
    };
    let written = vantages
        .keep_readings(&eu, &[reading(live), reading(doomed)])
        .await
        .expect("keep readings of Coder's proxies");
    assert_eq!(written, 2);

    // Coder deletes its proxy itself: no call of ours sees it
    sqlx::query("UPDATE workspace_proxies SET deleted = true WHERE id = $1")
        .bind(doomed)
        .execute(&mut conn)
        .await
        .expect("Coder deletes a proxy");
    store
        .coordination_with(CoordinationSettings::default())
        .expect("coordinates in its schema")
        .prune()
        .await
        .expect("prune");
    let left: Vec<Uuid> = vantages
        .readings()
        .await
        .expect("readings")
        .into_iter()
        .map(|(proxy, _)| proxy)
        .collect();
    assert_eq!(left, [live], "the deleted proxy's reading is pruned");
    drop((vantages, store));
    drop(conn);
    role.drop_with(db).await;
}

#[tokio::test]
async fn a_coordination_schema_is_refused_without_a_coder_attach_or_with_a_bad_name() {
    let options = OpenOptions {
        coordination_schema: Some("proxyhealth".to_owned()),
        ..OpenOptions::default()
    };
    let text = open_store("memory:", options)
        .await
        .err()
        .expect("not attached")
        .to_string();
    assert!(
        text.contains("coordination schema \"proxyhealth\" is for a Coder attach (--coder)"),
        "{text}"
    );
    let Some(db) = TestDb::create().await else {
        return;
    };
    let mut conn = db.connect().await;
    create_coder_table(&mut conn).await;
    let options = OpenOptions {
        coder_attach: true,
        coordination_schema: Some("public".to_owned()),
        ..OpenOptions::default()
    };
    let err = open_store(&db.url, options).await.err().expect("bad name");
    assert!(matches!(err, StoreError::Config(_)), "{err}");
    assert!(
        err.to_string()
            .contains("bad coordination schema \"public\": it is Coder's or PostgreSQL's own"),
        "{err}"
    );
    drop(conn);
    db.drop_db().await;
}

//! Attach mode: reading an existing Coder database without ever writing to it.

use proxyhealth_store::{
    NewProxy, OpenOptions, ProxyUpdate, Registration, StoreError, open_store, token,
};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use proxyhealth_testkit::TestDatabase as TestDb;

/// Coder's `workspace_proxies` table, written from its column definitions
/// (Coder's dump.sql as described in the spec, §1.1), without our migrations.
const CODER_DDL: &[&str] = &[
    "CREATE SEQUENCE workspace_proxies_region_id_seq AS integer START WITH 1 \
     INCREMENT BY 1 NO MINVALUE NO MAXVALUE CACHE 1",
    "CREATE TABLE workspace_proxies (
        id uuid NOT NULL,
        name text NOT NULL,
        display_name text NOT NULL,
        icon text NOT NULL,
        url text NOT NULL,
        wildcard_hostname text NOT NULL,
        created_at timestamp with time zone NOT NULL,
        updated_at timestamp with time zone NOT NULL,
        deleted boolean NOT NULL,
        token_hashed_secret bytea NOT NULL,
        region_id integer NOT NULL,
        derp_enabled boolean DEFAULT true NOT NULL,
        derp_only boolean DEFAULT false NOT NULL,
        version text DEFAULT ''::text NOT NULL
    )",
    "ALTER SEQUENCE workspace_proxies_region_id_seq OWNED BY workspace_proxies.region_id",
    "ALTER TABLE ONLY workspace_proxies ALTER COLUMN region_id \
     SET DEFAULT nextval('workspace_proxies_region_id_seq'::regclass)",
    "ALTER TABLE ONLY workspace_proxies ADD CONSTRAINT workspace_proxies_pkey PRIMARY KEY (id)",
    "ALTER TABLE ONLY workspace_proxies \
     ADD CONSTRAINT workspace_proxies_region_id_unique UNIQUE (region_id)",
    "CREATE UNIQUE INDEX workspace_proxies_lower_name_idx \
     ON workspace_proxies USING btree (lower(name)) WHERE (deleted = false)",
];

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
    sqlx::query(
        "INSERT INTO workspace_proxies (id, name, display_name, icon, url, wildcard_hostname, \
         created_at, updated_at, deleted, token_hashed_secret, version) \
         VALUES ($1, $2, $2 || ' display', '/emojis/1f1ea-1f1fa.png', $3, '', \
         now() - make_interval(mins => $4), now() - make_interval(mins => $4), $5, $6, 'v2.15.0')",
    )
    .bind(id)
    .bind(name)
    .bind(url)
    .bind(minutes_ago)
    .bind(deleted)
    .bind(token::hash_secret(&eu_secret()))
    .execute(conn)
    .await
    .expect("insert a Coder row");
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
    for ddl in CODER_DDL {
        sqlx::query(*ddl)
            .execute(&mut conn)
            .await
            .expect("Coder DDL");
    }
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

//! A Coder-shaped database: Coder's `workspace_proxies` table, made from its
//! column definitions without proxyhealth's migrations, for the tests of the
//! read-only attach (store and end-to-end).

use sqlx::{AssertSqlSafe, Connection, PgConnection};
use uuid::Uuid;

use crate::TestDatabase;

/// Coder's `workspace_proxies` table, written from its column definitions
/// (Coder's dump.sql as described in the spec, §1.1), without our migrations.
pub const CODER_DDL: &[&str] = &[
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

/// Makes Coder's table in the database of `conn`.
pub async fn create_coder_table(conn: &mut PgConnection) {
    for ddl in CODER_DDL {
        sqlx::query(*ddl)
            .execute(&mut *conn)
            .await
            .expect("Coder DDL");
    }
}

/// One row of Coder's table, as Coder would have written it.
#[derive(Debug, Clone)]
pub struct CoderProxyRow<'a> {
    /// The proxy's id.
    pub id: Uuid,
    /// Its name (the display name is derived from it).
    pub name: &'a str,
    /// Its registered URL (empty: never registered).
    pub url: &'a str,
    /// How long ago it was created and last updated.
    pub minutes_ago: i32,
    /// Whether it is soft-deleted.
    pub deleted: bool,
    /// The hash of its token's secret.
    pub token_hash: Vec<u8>,
}

/// Inserts `row` into Coder's table.
pub async fn insert_coder_proxy(conn: &mut PgConnection, row: &CoderProxyRow<'_>) {
    sqlx::query(
        "INSERT INTO workspace_proxies (id, name, display_name, icon, url, wildcard_hostname, \
         created_at, updated_at, deleted, token_hashed_secret, version) \
         VALUES ($1, $2, $2 || ' display', '/emojis/1f1ea-1f1fa.png', $3, '', \
         now() - make_interval(mins => $4), now() - make_interval(mins => $4), $5, $6, 'v2.15.0')",
    )
    .bind(row.id)
    .bind(row.name)
    .bind(row.url)
    .bind(row.minutes_ago)
    .bind(row.deleted)
    .bind(&row.token_hash)
    .execute(conn)
    .await
    .expect("insert a Coder row");
}

/// A login role that may only read Coder's table and make a schema in the
/// database: what an operator grants proxyhealth on a Coder database.
#[derive(Debug, Clone)]
pub struct ReaderRole {
    /// The role's name (unique per test).
    pub name: String,
    /// A URL to the test database as this role.
    pub url: String,
}

impl ReaderRole {
    /// Makes the role on the server of `db` (through `conn`, an owner's
    /// connection to `db`); [`ReaderRole::drop_with`] removes it.
    pub async fn create(conn: &mut PgConnection, db: &TestDatabase) -> ReaderRole {
        let name = format!("ph_reader_{}", Uuid::new_v4().simple());
        for statement in [
            format!("CREATE ROLE {name} LOGIN PASSWORD 'reader-secret'"),
            format!("GRANT CONNECT, CREATE ON DATABASE {} TO {name}", db.name),
            // PostgreSQL before 15 lets everyone create in public: not this role
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC".to_owned(),
            format!("GRANT USAGE ON SCHEMA public TO {name}"),
            format!("GRANT SELECT ON workspace_proxies TO {name}"),
        ] {
            sqlx::query(AssertSqlSafe(statement))
                .execute(&mut *conn)
                .await
                .expect("grant");
        }
        let mut url = url::Url::parse(&db.url).expect("test URL");
        url.set_username(&name).expect("user");
        url.set_password(Some("reader-secret")).expect("password");
        ReaderRole {
            name,
            url: url.to_string(),
        }
    }

    /// Drops `db`, then this role.
    pub async fn drop_with(self, db: TestDatabase) {
        let server = db.server_url.clone();
        db.drop_db().await;
        let mut admin = PgConnection::connect(&server).await.expect("server");
        sqlx::query(AssertSqlSafe(format!("DROP ROLE IF EXISTS {}", self.name)))
            .execute(&mut admin)
            .await
            .expect("drop role");
    }
}

//! PostgreSQL test databases on the server named by `PROXYHEALTH_TEST_PG_URL`.
//!
//! Without the variable the PostgreSQL tests print a loud skip notice and pass,
//! except under `CI=true`, where they fail: CI must run them.

use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// The env var naming the test server, e.g. `postgres://postgres@127.0.0.1:PORT/postgres`.
pub const PG_URL_ENV: &str = "PROXYHEALTH_TEST_PG_URL";

/// The server URL, or `None` (after a notice) when PostgreSQL tests are skipped.
pub fn server_url() -> Option<String> {
    match std::env::var(PG_URL_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "{PG_URL_ENV} is not set and CI=true: the PostgreSQL tests must run in CI \
             (start a server with scripts/lib/postgres.sh: pg_start)"
        ),
        _ => {
            // written to the real stderr, past the test harness's capture, so
            // a skip is seen even when the test passes
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "!!! skipped: {PG_URL_ENV} not set (PostgreSQL tests did not run) !!!"
            );
            None
        }
    }
}

/// A fresh database `t_<random>` on the test server.
pub struct TestDb {
    /// The server URL (database `postgres`), used to drop the test database.
    pub server_url: String,
    /// The database's name.
    pub name: String,
    /// A URL to the test database.
    pub url: String,
}

impl TestDb {
    /// Creates a fresh database, or `None` when PostgreSQL tests are skipped.
    pub async fn create() -> Option<TestDb> {
        let server_url = server_url()?;
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&server_url)
            .await
            .expect("connect to the test server");
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.expect("close admin connection");
        let mut url = url::Url::parse(&server_url).expect("test server URL");
        url.set_path(&format!("/{name}"));
        Some(TestDb {
            server_url,
            name,
            url: url.to_string(),
        })
    }

    /// A single connection to the test database, for setup and checks.
    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url)
            .await
            .expect("connect to the test database")
    }

    /// Drops the database, disconnecting whoever still uses it.
    pub async fn drop_db(self) {
        let Ok(mut admin) = PgConnection::connect(&self.server_url).await else {
            return;
        };
        let _ = sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut admin)
        .await;
        let _ = admin.close().await;
    }
}

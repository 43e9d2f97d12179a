//! A database of a test's own on a PostgreSQL server, so tests that share the
//! server `scripts/test` starts never see each other's rows.

use crate::shared_postgres_url;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// A fresh, empty database `t_<random>` on a PostgreSQL server; the stores
/// that open it run their own migrations.
pub struct TestDatabase {
    /// The server's URL (its `postgres` database), used to drop this one.
    pub server_url: String,
    /// The database's name.
    pub name: String,
    /// A URL to the database.
    pub url: String,
}

impl TestDatabase {
    /// A fresh database on the shared server; `None` (after a loud notice)
    /// when there is none, a failed test under `CI=true` (see
    /// [`shared_postgres_url`]).
    pub async fn create() -> Option<TestDatabase> {
        let server_url = shared_postgres_url()?;
        Some(TestDatabase::create_on(&server_url).await)
    }

    /// A fresh database on the server at `server_url` (a test's own server,
    /// say).
    pub async fn create_on(server_url: &str) -> TestDatabase {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(server_url)
            .await
            .expect("connect to the test server");
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        let mut url = url::Url::parse(server_url).expect("test server URL");
        url.set_path(&format!("/{name}"));
        TestDatabase {
            server_url: server_url.to_owned(),
            name,
            url: url.to_string(),
        }
    }

    /// A single connection to the database, for setup and checks.
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

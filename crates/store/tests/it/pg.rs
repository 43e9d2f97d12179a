//! PostgreSQL test databases (filled in with the PostgreSQL store).

/// A test database on the server named by `PROXYHEALTH_TEST_PG_URL`.
pub struct TestDb;

impl TestDb {
    /// Drops the database.
    pub async fn drop_db(self) {}
}

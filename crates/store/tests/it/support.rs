//! Fixtures: a fresh store per test, and whatever must outlive it.

use std::sync::Arc;

use proxyhealth_store::ProxyStore;

/// A fresh store plus what keeps it alive (a temp dir, a test database).
pub struct Fixture {
    /// The store under test.
    pub store: Arc<dyn ProxyStore>,
    /// The temp dir holding a SQLite file, removed on drop.
    pub dir: Option<tempfile::TempDir>,
    /// A PostgreSQL test database to drop when the test is done.
    pub pg: Option<proxyhealth_testkit::TestDatabase>,
}

impl Fixture {
    /// A fixture with just a store.
    pub fn new(store: Arc<dyn ProxyStore>) -> Self {
        Fixture {
            store,
            dir: None,
            pg: None,
        }
    }

    /// Releases the store, then drops the test database if there is one.
    pub async fn finish(self) {
        drop(self.store);
        if let Some(db) = self.pg {
            db.drop_db().await;
        }
        drop(self.dir);
    }
}

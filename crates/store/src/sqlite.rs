//! `SqliteStore`: the embedded default, one database file.
//!
//! # Storage
//! - ids are hyphenated uuid `TEXT`; timestamps are `INTEGER` unix nanoseconds
//!   (UTC, microsecond precision like PostgreSQL), so they sort correctly;
//!   booleans are 0/1; the token hash is a `BLOB`.
//! - WAL journal, `synchronous=FULL` (an acknowledged write survives a crash or a
//!   power cut), foreign keys on, a busy timeout; the writer's page cache is
//!   32 MiB, the readers' SQLite's default.
//!
//! # Concurrency
//! Writes go through a pool of exactly one connection, so API requests queue
//! in-process instead of racing for SQLite's write lock; reads use a separate
//! pool of read-only connections, which WAL lets run beside the writer. Every
//! write is a single statement, so there is no read-then-write window.
//!
//! # Acknowledged means stored
//! Writes with `RETURNING` are read with `fetch_all`, never `fetch_one` or
//! `fetch_optional`: SQLite commits an autocommit statement only when it is
//! stepped to its end, and a statement reset after its first row reports a
//! failed commit (disk full, I/O error) nowhere, so the caller would be told a
//! write succeeded that was rolled back. Found by the service's failing-disk tests.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use proxyhealth_core::Proxy;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::sqlite_err as db_err;
use crate::error::{Backend, map_db_error};
use crate::rules::{self, check_new, check_registration, check_update};
use crate::store::impl_proxy_source;
use crate::{
    CreatedProxy, InstanceGuard, InstanceInfo, InstanceLockError, NewProxy, ProxyStore,
    ProxyUpdate, Registration, StoreError, token,
};

/// How long a statement waits for a lock held by another process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call waits for a pooled connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Read-only connections beside the single writer.
const READERS: u32 = 4;
/// The writer's page cache, in KiB (SQLite's default is 2 MiB): the pages
/// a sweep's writes touch (agents' readings, the hour's rollups, a few per
/// proxy, in the order of the proxies' random ids) are more than that at
/// 10,000 proxies, and each page missed is read from the file again at
/// every write. Filled only as pages are used; the readers keep the default.
const WRITER_CACHE_KIB: u32 = 32 * 1024;
/// The settings key of the admin token hash.
const ADMIN_TOKEN_KEY: &str = "admin_token_hash";
/// The settings key [`ProxyStore::probe_write`] overwrites.
const WRITE_PROBE_KEY: &str = "write_probe";

/// The columns of a proxy row, in the order [`proxy_from_row`] reads them.
macro_rules! columns {
    () => {
        "id, name, display_name, icon, url, wildcard_hostname, created_at, updated_at, \
         deleted, token_hashed_secret, region_id, derp_enabled, derp_only, version"
    };
}

/// Whether files can be made in `dir`: SQLite makes its write-ahead log and
/// shared-memory files beside the database, so a directory it cannot write
/// (a read-only volume, one owned by another user) fails every write even when
/// the database file itself opens. Tried with a file of our own, removed at
/// once, so the answer is the kernel's and not a guess from permission bits.
fn check_writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".proxyhealth-write-test-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

/// A store in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    path: PathBuf,
    /// Persisted history, over the same pools.
    history: std::sync::Arc<crate::history_db::SqliteHistory>,
    /// The notification outbox, written by the history's journal.
    outbox: std::sync::Arc<crate::outbox::sqlite::SqliteOutbox>,
    /// The vantages, over the same pools.
    vantages: std::sync::Arc<crate::vantages::sqlite::SqliteVantages>,
    /// The maintenance windows, over the same pools.
    maintenance: std::sync::Arc<crate::maintenance::sqlite::SqliteMaintenance>,
    /// The dashboard's logins and sessions, over the same pools.
    sessions: std::sync::Arc<crate::sessions::sqlite::SqliteSessions>,
    /// The personal tokens, over the same pools.
    personal_tokens: std::sync::Arc<crate::personal_tokens::sqlite::SqlitePersonalTokens>,
    /// The audit log, over the same pools.
    audit: std::sync::Arc<crate::audit::sqlite::SqliteAudit>,
}

impl SqliteStore {
    /// Opens (creating it and its parent directories if needed) the database
    /// file at `path` and applies the embedded migrations; it writes no
    /// notification rows.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, &crate::OpenOptions::default()).await
    }

    /// [`SqliteStore::open`], with the notification rows written by
    /// `options.outbox_policy` (the other options are PostgreSQL's).
    pub async fn open_with(path: &Path, open: &crate::OpenOptions) -> Result<Self, StoreError> {
        let unavailable = |what: &str, err: &dyn std::fmt::Display| {
            StoreError::Unavailable(format!(
                "cannot {what} SQLite database {}: {err}",
                path.display()
            ))
        };
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)
            .map_err(|err| unavailable("create the directory of", &err))?;
        check_writable(parent).map_err(|err| {
            StoreError::Unavailable(format!(
                "cannot use SQLite database {}: its directory {} is not writable ({err}); \
                 it must be writable by the user proxyhealth runs as",
                path.display(),
                parent.display()
            ))
        })?;
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|err| StoreError::Internal(err.to_string()))?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", format!("-{WRITER_CACHE_KIB}")),
            )
            .await
            .map_err(|err| unavailable("open", &err))?;
        crate::migrations::SQLITE_MIGRATOR
            .run(&writer)
            .await
            .map_err(|err| unavailable("migrate", &err))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.read_only(true))
            .await
            .map_err(|err| unavailable("open", &err))?;
        let outbox = std::sync::Arc::new(crate::outbox::sqlite::SqliteOutbox {
            writer: writer.clone(),
            reader: reader.clone(),
            policy: crate::outbox::PolicyHandle::new(open.outbox_policy.clone()),
        });
        let history = std::sync::Arc::new(crate::history_db::SqliteHistory {
            reads: crate::history::sqlite::SqliteReads {
                writer: writer.clone(),
                reader: reader.clone(),
            },
            journal: crate::journal::Journal::with_outbox(outbox.policy.clone()),
        });
        let vantages = std::sync::Arc::new(crate::vantages::sqlite::SqliteVantages {
            writer: writer.clone(),
            reader: reader.clone(),
            unwritten: Default::default(),
        });
        let sessions = std::sync::Arc::new(crate::sessions::sqlite::SqliteSessions {
            writer: writer.clone(),
            reader: reader.clone(),
        });
        let personal_tokens =
            std::sync::Arc::new(crate::personal_tokens::sqlite::SqlitePersonalTokens {
                writer: writer.clone(),
                reader: reader.clone(),
            });
        let audit = std::sync::Arc::new(crate::audit::sqlite::SqliteAudit {
            writer: writer.clone(),
            reader: reader.clone(),
        });
        let maintenance = std::sync::Arc::new(crate::maintenance::sqlite::SqliteMaintenance {
            writer: writer.clone(),
            reader: reader.clone(),
        });
        Ok(SqliteStore {
            maintenance,
            sessions,
            audit,
            personal_tokens,
            writer,
            reader,
            path: path.to_owned(),
            history,
            outbox,
            vantages,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes both pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Takes the instance lock of this database (`<db>.lock`), so a second
    /// `serve` on the same file refuses to start; see [`crate::instance`].
    pub fn acquire_instance_lock(
        &self,
        info: &InstanceInfo,
    ) -> Result<InstanceGuard, InstanceLockError> {
        crate::instance::acquire(&self.path, info)
    }
}

fn nanos(at: OffsetDateTime) -> Result<i64, StoreError> {
    i64::try_from(at.unix_timestamp_nanos())
        .map_err(|_| StoreError::Internal(format!("timestamp {at} out of range")))
}

fn from_nanos(value: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(value))
        .map_err(|err| StoreError::Internal(format!("bad stored timestamp {value}: {err}")))
}

fn proxy_from_row(row: &SqliteRow) -> Result<Proxy, StoreError> {
    let id: String = row.try_get("id").map_err(db_err)?;
    Ok(Proxy {
        id: Uuid::parse_str(&id)
            .map_err(|err| StoreError::Internal(format!("bad stored id {id:?}: {err}")))?,
        name: row.try_get("name").map_err(db_err)?,
        display_name: row.try_get("display_name").map_err(db_err)?,
        icon: row.try_get("icon").map_err(db_err)?,
        url: row.try_get("url").map_err(db_err)?,
        wildcard_hostname: row.try_get("wildcard_hostname").map_err(db_err)?,
        created_at: from_nanos(row.try_get("created_at").map_err(db_err)?)?,
        updated_at: from_nanos(row.try_get("updated_at").map_err(db_err)?)?,
        deleted: row.try_get("deleted").map_err(db_err)?,
        token_hashed_secret: row.try_get("token_hashed_secret").map_err(db_err)?,
        region_id: row.try_get("region_id").map_err(db_err)?,
        derp_enabled: row.try_get("derp_enabled").map_err(db_err)?,
        derp_only: row.try_get("derp_only").map_err(db_err)?,
        version: row.try_get("version").map_err(db_err)?,
    })
}

impl_proxy_source!(SqliteStore);

#[async_trait::async_trait]
impl ProxyStore for SqliteStore {
    async fn create_proxy(&self, new: NewProxy) -> Result<CreatedProxy, StoreError> {
        check_new(&new)?;
        let id = Uuid::new_v4();
        let minted = token::mint(id).map_err(rules::rng_error)?;
        let now = nanos(rules::now())?;
        // MAX(region_id) + 1 is safe: writes are serialized and rows are never
        // removed (soft delete), so a region id is never handed out twice.
        let row = sqlx::query(concat!(
            "INSERT INTO workspace_proxies (id, name, display_name, icon, url, \
             wildcard_hostname, created_at, updated_at, deleted, token_hashed_secret, \
             region_id, derp_enabled, derp_only, version) \
             SELECT ?1, ?2, ?3, ?4, '', '', ?5, ?5, 0, ?6, \
             COALESCE(MAX(region_id), 0) + 1, 1, 0, '' FROM workspace_proxies \
             RETURNING ",
            columns!()
        ))
        .bind(id.hyphenated())
        .bind(&new.name)
        .bind(&new.display_name)
        .bind(&new.icon)
        .bind(now)
        .bind(&minted.hashed_secret)
        .fetch_all(&self.writer)
        .await
        .map_err(|err| map_db_error(Backend::Sqlite, err, Some(&new.name)))?
        .pop()
        .ok_or_else(|| StoreError::Internal("INSERT … RETURNING gave no row".to_owned()))?;
        Ok(CreatedProxy {
            proxy: proxy_from_row(&row)?,
            token: minted.token,
        })
    }

    async fn get_proxy(&self, id: Uuid) -> Result<Option<Proxy>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM workspace_proxies WHERE id = ?1"
        ))
        .bind(id.hyphenated())
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?;
        row.as_ref().map(proxy_from_row).transpose()
    }

    async fn get_proxies(&self, ids: &[Uuid]) -> Result<Vec<Proxy>, StoreError> {
        // One statement for the lot (a page of the list is up to 1,000), the
        // ids passed as one JSON array rather than a parameter each.
        let ids: Vec<String> = ids.iter().map(|id| id.hyphenated().to_string()).collect();
        let ids = serde_json::to_string(&ids)
            .map_err(|err| StoreError::Internal(format!("encode the ids: {err}")))?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM workspace_proxies WHERE id IN (SELECT value FROM json_each(?1))"
        ))
        .bind(ids)
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.iter().map(proxy_from_row).collect()
    }

    async fn proxy_by_name(&self, name: &str) -> Result<Option<Proxy>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM workspace_proxies WHERE lower(name) = lower(?1) AND deleted = 0"
        ))
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?;
        row.as_ref().map(proxy_from_row).transpose()
    }

    async fn all_proxies(&self) -> Result<Vec<Proxy>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM workspace_proxies WHERE deleted = 0 ORDER BY created_at, id"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.iter().map(proxy_from_row).collect()
    }

    async fn update_proxy(&self, id: Uuid, update: ProxyUpdate) -> Result<Proxy, StoreError> {
        check_update(&update)?;
        let row = sqlx::query(concat!(
            "UPDATE workspace_proxies SET name = COALESCE(?1, name), \
             display_name = COALESCE(?2, display_name), icon = COALESCE(?3, icon), \
             updated_at = ?4 WHERE id = ?5 AND deleted = 0 RETURNING ",
            columns!()
        ))
        .bind(&update.name)
        .bind(&update.display_name)
        .bind(&update.icon)
        .bind(nanos(rules::now())?)
        .bind(id.hyphenated())
        .fetch_all(&self.writer)
        .await
        .map_err(|err| map_db_error(Backend::Sqlite, err, update.name.as_deref()))?
        .pop();
        proxy_from_row(&row.ok_or(StoreError::NotFound)?)
    }

    async fn regenerate_token(&self, id: Uuid) -> Result<CreatedProxy, StoreError> {
        let minted = token::mint(id).map_err(rules::rng_error)?;
        let row = sqlx::query(concat!(
            "UPDATE workspace_proxies SET token_hashed_secret = ?1, updated_at = ?2 \
             WHERE id = ?3 AND deleted = 0 RETURNING ",
            columns!()
        ))
        .bind(&minted.hashed_secret)
        .bind(nanos(rules::now())?)
        .bind(id.hyphenated())
        .fetch_all(&self.writer)
        .await
        .map_err(db_err)?
        .pop();
        Ok(CreatedProxy {
            proxy: proxy_from_row(&row.ok_or(StoreError::NotFound)?)?,
            token: minted.token,
        })
    }

    async fn delete_proxy(&self, id: Uuid) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let done = sqlx::query(
            "UPDATE workspace_proxies SET deleted = 1, updated_at = ?1 \
             WHERE id = ?2 AND deleted = 0",
        )
        .bind(nanos(rules::now())?)
        .bind(id.hyphenated())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        // its vantages' readings go with it (a soft delete cascades nothing)
        sqlx::query("DELETE FROM proxyhealth_vantage_readings WHERE proxy_id = ?")
            .bind(id.hyphenated())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn register_proxy(
        &self,
        id: Uuid,
        registration: Registration,
    ) -> Result<Proxy, StoreError> {
        check_registration(&registration)?;
        let row = sqlx::query(concat!(
            "UPDATE workspace_proxies SET url = ?1, wildcard_hostname = ?2, \
             derp_enabled = ?3, derp_only = ?4, version = ?5, updated_at = ?6 \
             WHERE id = ?7 AND deleted = 0 RETURNING ",
            columns!()
        ))
        .bind(&registration.url)
        .bind(&registration.wildcard_hostname)
        .bind(registration.derp_enabled)
        .bind(registration.derp_only)
        .bind(&registration.version)
        .bind(nanos(rules::now())?)
        .bind(id.hyphenated())
        .fetch_all(&self.writer)
        .await
        .map_err(db_err)?
        .pop();
        proxy_from_row(&row.ok_or(StoreError::NotFound)?)
    }

    async fn admin_token_hash(&self) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT value FROM proxyhealth_settings WHERE key = ?1")
            .bind(ADMIN_TOKEN_KEY)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)
    }

    async fn set_admin_token_hash_if_absent(&self, hash: Vec<u8>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO proxyhealth_settings (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(ADMIN_TOKEN_KEY)
        .bind(hash)
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn probe_write(&self) -> Result<(), StoreError> {
        // A page of random bytes, so the probe needs a new WAL frame (and space
        // on the disk) like a real write; the settings row is never read.
        sqlx::query(
            "INSERT INTO proxyhealth_settings (key, value) VALUES (?1, randomblob(4096)) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(WRITE_PROBE_KEY)
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    fn is_read_only(&self) -> bool {
        false
    }

    fn history(&self) -> Option<std::sync::Arc<dyn crate::HistoryStore>> {
        Some(self.history.clone())
    }

    fn outbox(&self) -> Option<std::sync::Arc<dyn crate::Outbox>> {
        Some(self.outbox.clone())
    }

    fn vantages(&self) -> Option<std::sync::Arc<dyn crate::VantageStore>> {
        Some(self.vantages.clone())
    }

    fn maintenance(&self) -> Option<std::sync::Arc<dyn crate::MaintenanceStore>> {
        Some(self.maintenance.clone())
    }

    fn sessions(&self) -> Option<std::sync::Arc<dyn crate::SessionStore>> {
        Some(self.sessions.clone())
    }

    fn personal_tokens(&self) -> Option<std::sync::Arc<dyn crate::PersonalTokenStore>> {
        Some(self.personal_tokens.clone())
    }

    fn audit(&self) -> Option<std::sync::Arc<dyn crate::AuditLog>> {
        Some(self.audit.clone())
    }

    fn instance_lock(
        &self,
        info: &InstanceInfo,
    ) -> Result<Option<InstanceGuard>, InstanceLockError> {
        self.acquire_instance_lock(info).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_use_wal_full_sync_foreign_keys_a_busy_timeout_and_a_larger_writer_cache() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("p.db"))
            .await
            .expect("open");
        for pool in [&store.writer, &store.reader] {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(pool)
                .await
                .expect("journal_mode");
            assert_eq!(mode, "wal");
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(pool)
                .await
                .expect("synchronous");
            assert_eq!(sync, 2, "FULL");
            let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(pool)
                .await
                .expect("foreign_keys");
            assert_eq!(fk, 1);
            let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
                .fetch_one(pool)
                .await
                .expect("busy_timeout");
            assert_eq!(busy, 5000);
        }
        let cache = |pool| async move {
            let kib: i64 = sqlx::query_scalar("PRAGMA cache_size")
                .fetch_one(pool)
                .await
                .expect("cache_size");
            kib
        };
        assert_eq!(cache(&store.writer).await, -32768, "the writer's 32 MiB");
        assert_eq!(cache(&store.reader).await, -2000, "SQLite's default");
    }

    #[tokio::test]
    async fn reader_connections_cannot_write() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("p.db"))
            .await
            .expect("open");
        let err = sqlx::query("DELETE FROM proxyhealth_settings")
            .execute(&store.reader)
            .await
            .expect_err("read-only");
        assert!(err.to_string().contains("readonly"), "{err}");
    }
}

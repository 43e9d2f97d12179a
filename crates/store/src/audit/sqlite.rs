//! [`super::AuditLog`] on SQLite (the `audit` migration), over the store's
//! writer and reader pools.

use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use time::OffsetDateTime;

use super::{AuditFilter, AuditLog, AuditRecord, NewAuditEntry, stored_role, stored_status};
use crate::StoreError;
use crate::columns::sqlite::{from_nanos, nanos};
use crate::error::sqlite_err as db_err;

/// The SQLite store's audit log.
#[derive(Debug)]
pub(crate) struct SqliteAudit {
    /// The store's one writer connection.
    pub writer: SqlitePool,
    /// Its readers.
    pub reader: SqlitePool,
}

fn record_of(row: &SqliteRow) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        id: row.try_get("id").map_err(db_err)?,
        entry: NewAuditEntry {
            at: from_nanos(row.try_get("at").map_err(db_err)?)?,
            actor: row.try_get("actor").map_err(db_err)?,
            credential: row.try_get("credential").map_err(db_err)?,
            subject: row.try_get("subject").map_err(db_err)?,
            email: row.try_get("email").map_err(db_err)?,
            role: stored_role(row.try_get::<&str, _>("role").map_err(db_err)?)?,
            action: row.try_get("action").map_err(db_err)?,
            method: row.try_get("method").map_err(db_err)?,
            route: row.try_get("route").map_err(db_err)?,
            object: row.try_get("object").map_err(db_err)?,
            client: row.try_get("client").map_err(db_err)?,
            status: stored_status(row.try_get("status").map_err(db_err)?)?,
        },
    })
}

#[async_trait::async_trait]
impl AuditLog for SqliteAudit {
    async fn record(&self, entry: NewAuditEntry) -> Result<i64, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO proxyhealth_audit \
             (at, actor, credential, subject, email, role, action, method, route, object, \
              client, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(nanos(entry.at))
        .bind(&entry.actor)
        .bind(&entry.credential)
        .bind(&entry.subject)
        .bind(&entry.email)
        .bind(entry.role.as_str())
        .bind(&entry.action)
        .bind(&entry.method)
        .bind(&entry.route)
        .bind(&entry.object)
        .bind(&entry.client)
        .bind(i64::from(entry.status))
        .fetch_one(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(id)
    }

    async fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, credential, subject, email, role, action, method, route, \
             object, client, status FROM proxyhealth_audit \
             WHERE (?1 IS NULL OR actor = ?1) AND (?2 IS NULL OR action = ?2) \
             AND (?3 IS NULL OR at >= ?3) AND (?4 IS NULL OR id < ?4) \
             ORDER BY id DESC LIMIT ?5",
        )
        .bind(&filter.actor)
        .bind(&filter.action)
        .bind(filter.since.map(nanos))
        .bind(filter.before)
        .bind(i64::from(filter.limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.iter().map(record_of).collect()
    }

    async fn prune(&self, before: OffsetDateTime, chunk: u32) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM proxyhealth_audit WHERE id IN \
             (SELECT id FROM proxyhealth_audit WHERE at < ? ORDER BY id LIMIT ?)",
        )
        .bind(nanos(before))
        .bind(i64::from(chunk))
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }
}

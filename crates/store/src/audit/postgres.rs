//! [`super::AuditLog`] on PostgreSQL (the `audit` migration), shared by
//! every replica.

use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};
use time::OffsetDateTime;

use super::{AuditFilter, AuditLog, AuditRecord, NewAuditEntry, stored_role, stored_status};
use crate::StoreError;
use crate::error::pg_err as db_err;

/// The PostgreSQL store's audit log.
#[derive(Debug)]
pub(crate) struct PgAudit {
    /// The store's pool (of our own schema when attached).
    pub pool: PgPool,
}

fn record_of(row: &PgRow) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        id: row.try_get("id").map_err(db_err)?,
        entry: NewAuditEntry {
            at: row.try_get("at").map_err(db_err)?,
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
            status: stored_status(i64::from(row.try_get::<i32, _>("status").map_err(db_err)?))?,
        },
    })
}

#[async_trait::async_trait]
impl AuditLog for PgAudit {
    async fn record(&self, entry: NewAuditEntry) -> Result<i64, StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO proxyhealth_audit \
             (at, actor, credential, subject, email, role, action, method, route, object, \
              client, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             RETURNING id",
        )
        .bind(entry.at)
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
        .bind(i32::from(entry.status))
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(id)
    }

    async fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, credential, subject, email, role, action, method, route, \
             object, client, status FROM proxyhealth_audit \
             WHERE ($1::text IS NULL OR actor = $1) AND ($2::text IS NULL OR action = $2) \
             AND ($3::timestamptz IS NULL OR at >= $3) AND ($4::bigint IS NULL OR id < $4) \
             ORDER BY id DESC LIMIT $5",
        )
        .bind(&filter.actor)
        .bind(&filter.action)
        .bind(filter.since)
        .bind(filter.before)
        .bind(i64::from(filter.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(record_of).collect()
    }

    async fn prune(&self, before: OffsetDateTime, chunk: u32) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM proxyhealth_audit WHERE id IN \
             (SELECT id FROM proxyhealth_audit WHERE at < $1 ORDER BY id LIMIT $2)",
        )
        .bind(before)
        .bind(i64::from(chunk))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }
}

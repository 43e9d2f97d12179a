//! [`Membership`] on PostgreSQL: one row per replica in
//! `proxyhealth_replicas`, heartbeats and liveness on the database clock.

use std::time::Duration;

use sqlx::Row;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{PgCoordination, from_millis, millis};
use crate::StoreError;
use crate::coordination::{Membership, ReplicaId, ReplicaInfo, ReplicaRow};
use crate::error::pg_err as db_err;

#[async_trait::async_trait]
impl Membership for PgCoordination {
    async fn register(&self, info: ReplicaInfo) -> Result<ReplicaId, StoreError> {
        self.prune_now_and_then().await?;
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO proxyhealth_replicas (id, hostname, version, listen_addr, pid, vantage) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(&info.hostname)
        .bind(&info.version)
        .bind(&info.listen_addr)
        .bind(i64::from(info.pid))
        .bind(&info.vantage)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        // a vantage's first replica makes its rows at once, not at the next
        // cluster-wide chore
        self.ensure_checks_of(&info.vantage).await?;
        Ok(id)
    }

    async fn heartbeat(
        &self,
        id: ReplicaId,
        view_generation: i64,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        self.prune_now_and_then().await?;
        sqlx::query_scalar(
            "UPDATE proxyhealth_replicas SET heartbeat_at = now(), view_generation = $2 \
             WHERE id = $1 AND stopped_at IS NULL RETURNING heartbeat_at",
        )
        .bind(id)
        .bind(view_generation)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn stop(&self, id: ReplicaId) -> Result<(), StoreError> {
        sqlx::query(
            "WITH stopped AS ( \
               UPDATE proxyhealth_replicas SET stopped_at = now() \
               WHERE id = $1 AND stopped_at IS NULL RETURNING id), \
             released AS ( \
               UPDATE proxyhealth_checks \
               SET lease_owner = NULL, lease_until = NULL, due_at = LEAST(due_at, now()) \
               WHERE lease_owner = $1 RETURNING proxy_id) \
             SELECT (SELECT count(*) FROM stopped) AS stopped, pg_notify('proxyhealth_due', '') \
             FROM (SELECT 1 FROM released LIMIT 1) AS any_released",
        )
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn replicas(&self, live_window: Duration) -> Result<Vec<ReplicaRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.id, r.hostname, r.version, r.listen_addr, r.pid, r.vantage, r.started_at, \
               r.heartbeat_at, r.stopped_at, r.view_generation, \
               (r.heartbeat_at > now() - $1 * interval '1 millisecond' \
                 AND r.stopped_at IS NULL) AS live, \
               GREATEST(0, (extract(epoch FROM now() - r.heartbeat_at) * 1000)::bigint) AS age_ms, \
               GREATEST(0, (SELECT generation FROM proxyhealth_view WHERE id = 1) \
                 - r.view_generation) AS generation_lag, \
               COALESCE(GREATEST(0, (extract(epoch FROM now() - ( \
                 SELECT c.checked_at FROM proxyhealth_checks c \
                 WHERE c.generation > r.view_generation \
                 ORDER BY c.generation LIMIT 1)) * 1000)::bigint), 0) AS lag_ms \
             FROM proxyhealth_replicas r \
             ORDER BY r.started_at, r.id",
        )
        .bind(millis(live_window))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(replica_from_row).collect()
    }
}

fn replica_from_row(row: &PgRow) -> Result<ReplicaRow, StoreError> {
    let pid: i64 = row.try_get("pid").map_err(db_err)?;
    Ok(ReplicaRow {
        id: row.try_get("id").map_err(db_err)?,
        hostname: row.try_get("hostname").map_err(db_err)?,
        version: row.try_get("version").map_err(db_err)?,
        listen_addr: row.try_get("listen_addr").map_err(db_err)?,
        pid: u32::try_from(pid).unwrap_or(0),
        vantage: row.try_get("vantage").map_err(db_err)?,
        started_at: row.try_get("started_at").map_err(db_err)?,
        heartbeat_at: row.try_get("heartbeat_at").map_err(db_err)?,
        stopped_at: row.try_get("stopped_at").map_err(db_err)?,
        live: row.try_get("live").map_err(db_err)?,
        heartbeat_age: from_millis(row.try_get("age_ms").map_err(db_err)?),
        view_generation: row.try_get("view_generation").map_err(db_err)?,
        generation_lag: row.try_get("generation_lag").map_err(db_err)?,
        lag: from_millis(row.try_get("lag_ms").map_err(db_err)?),
    })
}

//! [`Observations`] on PostgreSQL: one row per proxy and replica in
//! `proxyhealth_observations`, the disagreement report and the stale proxies.

use std::time::Duration;

use proxyhealth_core::Status;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{PgCoordination, millis, status_of};
use crate::StoreError;
use crate::coordination::{Disagreement, Observation, Observations, ReplicaId, disagreements_of};
use crate::error::pg_err as db_err;
use crate::error::{Backend, map_db_error};

#[async_trait::async_trait]
impl Observations for PgCoordination {
    async fn record_observation(
        &self,
        proxy_id: Uuid,
        replica: ReplicaId,
        status: Status,
        message: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO proxyhealth_observations \
               (proxy_id, replica_id, status, message, observed_at) \
             VALUES ($1, $2, $3, $4, now()) \
             ON CONFLICT (proxy_id, replica_id) DO UPDATE SET status = excluded.status, \
               message = excluded.message, observed_at = excluded.observed_at",
        )
        .bind(proxy_id)
        .bind(replica)
        .bind(status.as_str())
        .bind(message)
        .execute(&self.pool)
        .await
        .map_err(|err| match map_db_error(Backend::Postgres, err, None) {
            StoreError::Internal(m) if m.contains("foreign key") => StoreError::NotFound,
            other => other,
        })?;
        Ok(())
    }

    async fn observations(&self, proxy_id: Uuid) -> Result<Vec<Observation>, StoreError> {
        let rows = sqlx::query(
            "SELECT proxy_id, replica_id, status, message, observed_at \
             FROM proxyhealth_observations WHERE proxy_id = $1 ORDER BY replica_id",
        )
        .bind(proxy_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(observation_from_row).collect()
    }

    async fn disagreements(
        &self,
        live_window: Duration,
        within: Duration,
    ) -> Result<Vec<Disagreement>, StoreError> {
        let rows = sqlx::query(
            "WITH recent AS ( \
               SELECT o.proxy_id, o.replica_id, o.status, o.message, o.observed_at \
               FROM proxyhealth_observations o \
               JOIN proxyhealth_replicas r ON r.id = o.replica_id AND r.stopped_at IS NULL \
                 AND r.heartbeat_at > now() - $1 * interval '1 millisecond' \
               WHERE o.observed_at > now() - $2 * interval '1 millisecond'), \
             split AS ( \
               SELECT proxy_id FROM recent GROUP BY proxy_id \
               HAVING count(DISTINCT status) > 1) \
             SELECT recent.* FROM recent JOIN split USING (proxy_id) \
             WHERE EXISTS (SELECT 1 FROM workspace_proxies p \
                           WHERE p.id = recent.proxy_id AND p.deleted = false) \
             ORDER BY proxy_id, replica_id",
        )
        .bind(millis(live_window))
        .bind(millis(within))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let observations = rows
            .iter()
            .map(observation_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(disagreements_of(observations))
    }

    async fn stale(&self, older_than: Duration) -> Result<Vec<Uuid>, StoreError> {
        // stale when any vantage with replicas has not checked it lately
        sqlx::query_scalar(concat!(
            "WITH ",
            super::vantages_cte!(),
            " SELECT DISTINCT p.id FROM workspace_proxies p CROSS JOIN vantages v \
             LEFT JOIN proxyhealth_checks c ON c.proxy_id = p.id AND c.vantage = v.vantage \
             WHERE p.deleted = false \
               AND COALESCE(c.checked_at, c.created_at, p.created_at) \
                   < now() - $1 * interval '1 millisecond' \
             ORDER BY p.id"
        ))
        .bind(millis(older_than))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }
}

fn observation_from_row(row: &PgRow) -> Result<Observation, StoreError> {
    let status: String = row.try_get("status").map_err(db_err)?;
    Ok(Observation {
        proxy_id: row.try_get("proxy_id").map_err(db_err)?,
        replica_id: row.try_get("replica_id").map_err(db_err)?,
        status: status_of("observation status", &status)?,
        message: row.try_get("message").map_err(db_err)?,
        observed_at: row.try_get("observed_at").map_err(db_err)?,
    })
}

//! [`super::MaintenanceStore`] on PostgreSQL (the `maintenance` migration):
//! shared by every replica, each of which reads it at each sweep.

use proxyhealth_core::maintenance::{MaintenanceWindow, NewMaintenance};
use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    MaintenanceError, MaintenanceStore, check_endable, checked, proxy_of, scope_of, sorted,
};
use crate::StoreError;
use crate::error::pg_err as db_err;

/// The PostgreSQL store's windows.
#[derive(Debug)]
pub(crate) struct PgMaintenance {
    /// The store's pool (of our own schema when attached to Coder).
    pub pool: PgPool,
}

/// The columns a window is read from.
macro_rules! columns {
    () => {
        "id, proxy_id, starts_at, ends_at, weekly, reason, created_at, ended_at"
    };
}

/// A window from a row of its columns (a fenced result write reads them too).
pub(crate) fn window_of(row: &PgRow) -> Result<MaintenanceWindow, StoreError> {
    Ok(MaintenanceWindow {
        id: row.try_get("id").map_err(db_err)?,
        scope: scope_of(row.try_get("proxy_id").map_err(db_err)?),
        starts_at: row.try_get("starts_at").map_err(db_err)?,
        ends_at: row.try_get("ends_at").map_err(db_err)?,
        weekly: row.try_get("weekly").map_err(db_err)?,
        reason: row.try_get("reason").map_err(db_err)?,
        created_at: row.try_get("created_at").map_err(db_err)?,
        ended_at: row.try_get("ended_at").map_err(db_err)?,
    })
}

#[async_trait::async_trait]
impl MaintenanceStore for PgMaintenance {
    async fn create(
        &self,
        new: &NewMaintenance,
        now: OffsetDateTime,
    ) -> Result<MaintenanceWindow, MaintenanceError> {
        let new = checked(new)?;
        let row = sqlx::query(concat!(
            "INSERT INTO proxyhealth_maintenance \
             (id, proxy_id, starts_at, ends_at, weekly, reason, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
            columns!()
        ))
        .bind(Uuid::new_v4())
        .bind(proxy_of(new.scope))
        .bind(new.starts_at)
        .bind(new.ends_at)
        .bind(new.weekly)
        .bind(&new.reason)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(window_of(&row)?)
    }

    async fn list(&self) -> Result<Vec<MaintenanceWindow>, MaintenanceError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM proxyhealth_maintenance"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let windows = rows
            .iter()
            .map(window_of)
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(sorted(windows))
    }

    async fn end(
        &self,
        id: Uuid,
        now: OffsetDateTime,
    ) -> Result<MaintenanceWindow, MaintenanceError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // locked, so two replicas ending one window at once end it once
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM proxyhealth_maintenance WHERE id = $1 FOR UPDATE"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .ok_or(MaintenanceError::NotFound(id))?;
        let window = window_of(&row)?;
        check_endable(&window, now)?;
        let row = sqlx::query(concat!(
            "UPDATE proxyhealth_maintenance SET ended_at = $1 WHERE id = $2 RETURNING ",
            columns!()
        ))
        .bind(now)
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(window_of(&row)?)
    }
}

//! [`super::MaintenanceStore`] on SQLite (the `maintenance` migration).

use proxyhealth_core::maintenance::{MaintenanceWindow, NewMaintenance};
use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    MaintenanceError, MaintenanceStore, check_endable, checked, proxy_of, scope_of, sorted,
};
use crate::StoreError;
use crate::columns::sqlite::{from_nanos, nanos, uuid_of};
use crate::error::sqlite_err as db_err;

/// The SQLite store's windows.
#[derive(Debug)]
pub(crate) struct SqliteMaintenance {
    /// The store's one writer connection.
    pub writer: SqlitePool,
    /// Its readers.
    pub reader: SqlitePool,
}

/// The columns a window is read from.
macro_rules! columns {
    () => {
        "id, proxy_id, starts_at, ends_at, weekly, reason, created_at, ended_at"
    };
}

fn window_of(row: &SqliteRow) -> Result<MaintenanceWindow, StoreError> {
    let proxy: Option<&str> = row.try_get("proxy_id").map_err(db_err)?;
    let ended: Option<i64> = row.try_get("ended_at").map_err(db_err)?;
    Ok(MaintenanceWindow {
        id: uuid_of(row.try_get::<&str, _>("id").map_err(db_err)?)?,
        scope: scope_of(proxy.map(uuid_of).transpose()?),
        starts_at: from_nanos(row.try_get("starts_at").map_err(db_err)?)?,
        ends_at: from_nanos(row.try_get("ends_at").map_err(db_err)?)?,
        weekly: row.try_get::<i64, _>("weekly").map_err(db_err)? != 0,
        reason: row.try_get("reason").map_err(db_err)?,
        created_at: from_nanos(row.try_get("created_at").map_err(db_err)?)?,
        ended_at: ended.map(from_nanos).transpose()?,
    })
}

#[async_trait::async_trait]
impl MaintenanceStore for SqliteMaintenance {
    async fn create(
        &self,
        new: &NewMaintenance,
        now: OffsetDateTime,
    ) -> Result<MaintenanceWindow, MaintenanceError> {
        let new = checked(new)?;
        let id = Uuid::new_v4();
        let row = sqlx::query(concat!(
            "INSERT INTO proxyhealth_maintenance \
             (id, proxy_id, starts_at, ends_at, weekly, reason, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING ",
            columns!()
        ))
        .bind(id.hyphenated().to_string())
        .bind(proxy_of(new.scope).map(|p| p.hyphenated().to_string()))
        .bind(nanos(new.starts_at))
        .bind(nanos(new.ends_at))
        .bind(i64::from(new.weekly))
        .bind(&new.reason)
        .bind(nanos(now))
        .fetch_one(&self.writer)
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
        .fetch_all(&self.reader)
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
        // one writer: the read and the write cannot interleave with another end
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM proxyhealth_maintenance WHERE id = ?"
        ))
        .bind(id.hyphenated().to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .ok_or(MaintenanceError::NotFound(id))?;
        let mut window = window_of(&row)?;
        check_endable(&window, now)?;
        sqlx::query("UPDATE proxyhealth_maintenance SET ended_at = ? WHERE id = ?")
            .bind(nanos(now))
            .bind(id.hyphenated().to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        window.ended_at = Some(from_nanos(nanos(now))?);
        Ok(window)
    }
}

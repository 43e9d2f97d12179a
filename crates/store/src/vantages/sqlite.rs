//! [`super::VantageStore`] on SQLite (the `vantages` migration), over the
//! store's writer and reader pools.

use proxyhealth_core::{VantageName, VantageReading};
use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    AgentTokenError, MintedVantage, Vantage, VantageError, VantageStore, check_secret,
    checked_name, mint, newest_per_proxy, parse, reading_from_json, reading_json, stored_name,
};
use crate::StoreError;
use crate::columns::sqlite::{from_nanos, nanos, uuid_of};
use crate::error::is_unique_violation;
use crate::error::sqlite_err as db_err;

/// The SQLite store's vantages.
#[derive(Debug)]
pub(crate) struct SqliteVantages {
    /// The store's one writer connection.
    pub writer: SqlitePool,
    /// Its readers.
    pub reader: SqlitePool,
}

/// The columns a [`Vantage`] is read from (a macro, so statements stay
/// `&'static str` literals).
macro_rules! columns {
    () => {
        "id, name, created_at, token_minted_at"
    };
}

fn vantage_of(row: &SqliteRow) -> Result<Vantage, StoreError> {
    Ok(Vantage {
        id: uuid_of(row.try_get::<&str, _>("id").map_err(db_err)?)?,
        name: stored_name(row.try_get::<&str, _>("name").map_err(db_err)?)?,
        created_at: from_nanos(row.try_get("created_at").map_err(db_err)?)?,
        token_minted_at: from_nanos(row.try_get("token_minted_at").map_err(db_err)?)?,
    })
}

#[async_trait::async_trait]
impl VantageStore for SqliteVantages {
    async fn create(&self, name: &str) -> Result<MintedVantage, VantageError> {
        let (name, key) = checked_name(name)?;
        let id = Uuid::new_v4();
        let minted = mint(id)?;
        let now = OffsetDateTime::now_utc();
        let inserted = sqlx::query(
            "INSERT INTO proxyhealth_vantages \
             (id, name, name_key, token_hashed_secret, created_at, token_minted_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(id.hyphenated())
        .bind(name.as_str())
        .bind(&key)
        .bind(&minted.hashed_secret)
        .bind(nanos(now))
        .bind(nanos(now))
        .execute(&self.writer)
        .await;
        match inserted {
            Ok(_) => {}
            Err(err) if is_unique_violation(&err) => {
                return Err(VantageError::Taken(name.to_string()));
            }
            Err(err) => return Err(db_err(err).into()),
        }
        // the time as stored (to the nanosecond), so it reads back the same
        let stored_at = from_nanos(nanos(now))?;
        Ok(MintedVantage {
            vantage: Vantage {
                id,
                name,
                created_at: stored_at,
                token_minted_at: stored_at,
            },
            token: minted.token,
        })
    }

    async fn list(&self) -> Result<Vec<Vantage>, VantageError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM proxyhealth_vantages ORDER BY name"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        Ok(rows.iter().map(vantage_of).collect::<Result<_, _>>()?)
    }

    async fn delete(&self, name: &str) -> Result<(), VantageError> {
        let done = sqlx::query("DELETE FROM proxyhealth_vantages WHERE name_key = ?")
            .bind(name.to_lowercase())
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(VantageError::NotFound(name.to_owned()));
        }
        Ok(())
    }

    async fn rotate_token(&self, name: &str) -> Result<MintedVantage, VantageError> {
        let key = name.to_lowercase();
        let row = sqlx::query("SELECT id FROM proxyhealth_vantages WHERE name_key = ?")
            .bind(&key)
            .fetch_optional(&self.writer)
            .await
            .map_err(db_err)?
            .ok_or_else(|| VantageError::NotFound(name.to_owned()))?;
        let id = uuid_of(row.try_get::<&str, _>("id").map_err(db_err)?)?;
        let minted = mint(id)?;
        let row = sqlx::query(concat!(
            "UPDATE proxyhealth_vantages SET token_hashed_secret = ?, token_minted_at = ? \
             WHERE id = ? RETURNING ",
            columns!()
        ))
        .bind(&minted.hashed_secret)
        .bind(nanos(OffsetDateTime::now_utc()))
        .bind(id.hyphenated())
        .fetch_optional(&self.writer)
        .await
        .map_err(db_err)?
        .ok_or_else(|| VantageError::NotFound(name.to_owned()))?;
        Ok(MintedVantage {
            vantage: vantage_of(&row)?,
            token: minted.token,
        })
    }

    async fn verify_token(&self, token: &str) -> Result<Vantage, AgentTokenError> {
        let (id, secret) = parse(token)?;
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            ", token_hashed_secret FROM proxyhealth_vantages WHERE id = ?"
        ))
        .bind(id.hyphenated())
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?
        .ok_or(AgentTokenError::UnknownVantage)?;
        let stored: Vec<u8> = row.try_get("token_hashed_secret").map_err(db_err)?;
        check_secret(secret, &stored)?;
        Ok(vantage_of(&row)?)
    }

    async fn keep_readings(
        &self,
        vantage: &VantageName,
        readings: &[(Uuid, VantageReading)],
    ) -> Result<usize, VantageError> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let id: String =
            sqlx::query_scalar("SELECT id FROM proxyhealth_vantages WHERE name_key = ?")
                .bind(vantage.as_str().to_lowercase())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .ok_or_else(|| VantageError::NotFound(vantage.to_string()))?;
        let mut written = 0;
        for (proxy, reading) in newest_per_proxy(readings) {
            let done = sqlx::query(
                "INSERT INTO proxyhealth_vantage_readings \
                 (vantage_id, proxy_id, checked_at, reading) \
                 SELECT ?1, ?2, ?3, ?4 \
                 WHERE EXISTS (SELECT 1 FROM workspace_proxies WHERE id = ?2 AND deleted = 0) \
                 ON CONFLICT (vantage_id, proxy_id) DO UPDATE \
                 SET checked_at = excluded.checked_at, reading = excluded.reading \
                 WHERE excluded.checked_at >= proxyhealth_vantage_readings.checked_at",
            )
            .bind(&id)
            .bind(proxy.hyphenated().to_string())
            .bind(nanos(reading.checked_at))
            .bind(reading_json(reading)?)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            written += usize::try_from(done.rows_affected()).unwrap_or(usize::MAX);
        }
        tx.commit().await.map_err(db_err)?;
        Ok(written)
    }

    async fn readings(&self) -> Result<Vec<(Uuid, VantageReading)>, VantageError> {
        let rows = sqlx::query(
            "SELECT v.name, r.proxy_id, r.reading \
             FROM proxyhealth_vantage_readings r \
             JOIN proxyhealth_vantages v ON v.id = r.vantage_id \
             ORDER BY v.name, r.proxy_id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        let mut all = Vec::with_capacity(rows.len());
        for row in &rows {
            let name = stored_name(row.try_get::<&str, _>("name").map_err(db_err)?)?;
            let proxy = uuid_of(row.try_get::<&str, _>("proxy_id").map_err(db_err)?)?;
            let reading =
                reading_from_json(row.try_get::<&str, _>("reading").map_err(db_err)?, name)?;
            all.push((proxy, reading));
        }
        Ok(all)
    }
}

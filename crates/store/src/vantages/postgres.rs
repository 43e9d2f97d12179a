//! [`super::VantageStore`] on PostgreSQL (the `vantages` migration): shared
//! by every replica, so a token rotated or a vantage deleted through one is
//! refused by all on the next request.

use proxyhealth_core::{VantageName, VantageReading};
use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    AgentTokenError, MintedVantage, Vantage, VantageError, VantageStore, check_secret,
    checked_name, mint, newest_per_proxy, parse, reading_from_json, reading_json, stored_name,
};
use crate::StoreError;
use crate::error::is_unique_violation;
use crate::error::pg_err as db_err;

/// The PostgreSQL store's vantages.
#[derive(Debug)]
pub(crate) struct PgVantages {
    /// The store's pool.
    pub pool: PgPool,
}

/// The columns a [`Vantage`] is read from (a macro, so statements stay
/// `&'static str` literals).
macro_rules! columns {
    () => {
        "id, name, created_at, token_minted_at"
    };
}

fn vantage_of(row: &PgRow) -> Result<Vantage, StoreError> {
    Ok(Vantage {
        id: row.try_get("id").map_err(db_err)?,
        name: stored_name(row.try_get::<&str, _>("name").map_err(db_err)?)?,
        created_at: row.try_get("created_at").map_err(db_err)?,
        token_minted_at: row.try_get("token_minted_at").map_err(db_err)?,
    })
}

#[async_trait::async_trait]
impl VantageStore for PgVantages {
    async fn create(&self, name: &str) -> Result<MintedVantage, VantageError> {
        let (name, _) = checked_name(name)?;
        let id = Uuid::new_v4();
        let minted = mint(id)?;
        let inserted = sqlx::query(concat!(
            "INSERT INTO proxyhealth_vantages (id, name, token_hashed_secret) \
             VALUES ($1, $2, $3) RETURNING ",
            columns!()
        ))
        .bind(id)
        .bind(name.as_str())
        .bind(&minted.hashed_secret)
        .fetch_one(&self.pool)
        .await;
        match inserted {
            Ok(row) => Ok(MintedVantage {
                vantage: vantage_of(&row)?,
                token: minted.token,
            }),
            Err(err) if is_unique_violation(&err) => Err(VantageError::Taken(name.to_string())),
            Err(err) => Err(db_err(err).into()),
        }
    }

    async fn list(&self) -> Result<Vec<Vantage>, VantageError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM proxyhealth_vantages ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.iter().map(vantage_of).collect::<Result<_, _>>()?)
    }

    async fn delete(&self, name: &str) -> Result<(), VantageError> {
        let done = sqlx::query("DELETE FROM proxyhealth_vantages WHERE lower(name) = lower($1)")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(VantageError::NotFound(name.to_owned()));
        }
        Ok(())
    }

    async fn rotate_token(&self, name: &str) -> Result<MintedVantage, VantageError> {
        let id: Uuid =
            sqlx::query_scalar("SELECT id FROM proxyhealth_vantages WHERE lower(name) = lower($1)")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?
                .ok_or_else(|| VantageError::NotFound(name.to_owned()))?;
        let minted = mint(id)?;
        let row = sqlx::query(concat!(
            "UPDATE proxyhealth_vantages SET token_hashed_secret = $1, token_minted_at = now() \
             WHERE id = $2 RETURNING ",
            columns!()
        ))
        .bind(&minted.hashed_secret)
        .bind(id)
        .fetch_optional(&self.pool)
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
            ", token_hashed_secret FROM proxyhealth_vantages WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
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
        let newest = newest_per_proxy(readings);
        let mut proxies = Vec::with_capacity(newest.len());
        let mut times: Vec<OffsetDateTime> = Vec::with_capacity(newest.len());
        let mut jsons = Vec::with_capacity(newest.len());
        for (proxy, reading) in newest {
            proxies.push(*proxy);
            times.push(reading.checked_at);
            jsons.push(reading_json(reading)?);
        }
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // KEY SHARE: a delete of the vantage waits for this transaction, then
        // cascades to what it wrote
        let id: Uuid = sqlx::query_scalar(
            "SELECT id FROM proxyhealth_vantages WHERE lower(name) = lower($1) FOR KEY SHARE",
        )
        .bind(vantage.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .ok_or_else(|| VantageError::NotFound(vantage.to_string()))?;
        // one statement for the batch; only live proxies' readings
        let done = sqlx::query(
            "INSERT INTO proxyhealth_vantage_readings (vantage_id, proxy_id, checked_at, reading) \
             SELECT $1, r.proxy_id, r.checked_at, r.reading::jsonb \
             FROM unnest($2::uuid[], $3::timestamptz[], $4::text[]) AS r(proxy_id, checked_at, reading) \
             JOIN workspace_proxies p ON p.id = r.proxy_id AND NOT p.deleted \
             ON CONFLICT (vantage_id, proxy_id) DO UPDATE \
             SET checked_at = EXCLUDED.checked_at, reading = EXCLUDED.reading \
             WHERE EXCLUDED.checked_at >= proxyhealth_vantage_readings.checked_at",
        )
        .bind(id)
        .bind(&proxies)
        .bind(&times)
        .bind(&jsons)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
    }

    async fn readings(&self) -> Result<Vec<(Uuid, VantageReading)>, VantageError> {
        // names compared byte by byte, as the other backends order them
        let rows = sqlx::query(
            "SELECT v.name, r.proxy_id, r.reading::text AS reading \
             FROM proxyhealth_vantage_readings r \
             JOIN proxyhealth_vantages v ON v.id = r.vantage_id \
             ORDER BY v.name COLLATE \"C\", r.proxy_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut all = Vec::with_capacity(rows.len());
        for row in &rows {
            let name = stored_name(row.try_get::<&str, _>("name").map_err(db_err)?)?;
            let proxy: Uuid = row.try_get("proxy_id").map_err(db_err)?;
            let reading =
                reading_from_json(row.try_get::<&str, _>("reading").map_err(db_err)?, name)?;
            all.push((proxy, reading));
        }
        Ok(all)
    }
}

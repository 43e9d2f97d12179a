//! [`super::VantageStore`] on PostgreSQL (the `vantages` migration): shared
//! by every replica, so a token rotated or a vantage deleted through one is
//! refused by all on the next request.

use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};
use uuid::Uuid;

use super::{
    AgentTokenError, MintedVantage, Vantage, VantageError, VantageStore, check_secret,
    checked_name, mint, parse, stored_name,
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
}

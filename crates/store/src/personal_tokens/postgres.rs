//! [`super::PersonalTokenStore`] on PostgreSQL (the `personal_tokens`
//! migration): shared by every replica, so a token revoked through one is
//! refused by all on the next request.

use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};
use time::OffsetDateTime;

use super::{
    MintedPersonalToken, NewPersonalToken, PersonalToken, PersonalTokenError, PersonalTokenRefusal,
    PersonalTokenStore, checked_name, mint, parse, stored_role,
};
use crate::error::is_unique_violation;
use crate::error::pg_err as db_err;
use crate::{StoreError, token};

/// The PostgreSQL store's personal tokens.
#[derive(Debug)]
pub(crate) struct PgPersonalTokens {
    /// The store's pool (of our own schema when attached).
    pub pool: PgPool,
}

/// The columns a [`PersonalToken`] is read from.
macro_rules! columns {
    () => {
        "name, role, created_at, expires_at, last_used_at, revoked_at"
    };
}

fn token_of(row: &PgRow) -> Result<PersonalToken, StoreError> {
    Ok(PersonalToken {
        name: row.try_get("name").map_err(db_err)?,
        role: stored_role(row.try_get::<&str, _>("role").map_err(db_err)?)?,
        created_at: row.try_get("created_at").map_err(db_err)?,
        expires_at: row.try_get("expires_at").map_err(db_err)?,
        last_used_at: row.try_get("last_used_at").map_err(db_err)?,
        revoked_at: row.try_get("revoked_at").map_err(db_err)?,
    })
}

#[async_trait::async_trait]
impl PersonalTokenStore for PgPersonalTokens {
    async fn create(
        &self,
        new: NewPersonalToken,
    ) -> Result<MintedPersonalToken, PersonalTokenError> {
        checked_name(&new.name)?;
        let (value, hash) = mint(&new.name)?;
        let row = sqlx::query(concat!(
            "INSERT INTO proxyhealth_personal_tokens (name, role, hashed_secret, expires_at) \
             VALUES ($1, $2, $3, $4) RETURNING ",
            columns!()
        ))
        .bind(&new.name)
        .bind(new.role.as_str())
        .bind(&hash)
        .bind(new.expires_at)
        .fetch_one(&self.pool)
        .await;
        match row {
            Ok(row) => Ok(MintedPersonalToken {
                token: token_of(&row)?,
                value,
            }),
            Err(err) if is_unique_violation(&err) => Err(PersonalTokenError::Taken(new.name)),
            Err(err) => Err(db_err(err).into()),
        }
    }

    async fn list(&self) -> Result<Vec<PersonalToken>, PersonalTokenError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM proxyhealth_personal_tokens ORDER BY lower(name)"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.iter().map(token_of).collect::<Result<_, _>>()?)
    }

    async fn revoke(&self, name: &str) -> Result<PersonalToken, PersonalTokenError> {
        let row = sqlx::query(concat!(
            "UPDATE proxyhealth_personal_tokens SET revoked_at = COALESCE(revoked_at, now()) \
             WHERE lower(name) = lower($1) RETURNING ",
            columns!()
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .ok_or_else(|| PersonalTokenError::NotFound(name.to_owned()))?;
        Ok(token_of(&row)?)
    }

    async fn verify(&self, value: &str) -> Result<PersonalToken, PersonalTokenRefusal> {
        let (name, secret) = parse(value).ok_or(PersonalTokenRefusal::Malformed)?;
        let row = sqlx::query(concat!(
            "SELECT hashed_secret, ",
            columns!(),
            " FROM proxyhealth_personal_tokens WHERE lower(name) = lower($1)"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .ok_or(PersonalTokenRefusal::Unknown)?;
        let hash: Vec<u8> = row.try_get("hashed_secret").map_err(db_err)?;
        if !token::secret_matches(secret, &hash) {
            return Err(PersonalTokenRefusal::Unknown);
        }
        Ok(token_of(&row)?)
    }

    async fn touch(&self, name: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE proxyhealth_personal_tokens SET last_used_at = $1 WHERE lower(name) = lower($2)",
        )
        .bind(at)
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}

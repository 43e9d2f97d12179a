//! [`super::PersonalTokenStore`] on SQLite (the `personal_tokens` migration),
//! over the store's writer and reader pools.

use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use time::OffsetDateTime;

use super::{
    MintedPersonalToken, NewPersonalToken, PersonalToken, PersonalTokenError, PersonalTokenRefusal,
    PersonalTokenStore, checked_name, mint, parse, stored_role,
};
use crate::columns::sqlite::{from_nanos, nanos};
use crate::error::is_unique_violation;
use crate::error::sqlite_err as db_err;
use crate::{StoreError, token};

/// The SQLite store's personal tokens.
#[derive(Debug)]
pub(crate) struct SqlitePersonalTokens {
    /// The store's one writer connection.
    pub writer: SqlitePool,
    /// Its readers.
    pub reader: SqlitePool,
}

/// The columns a [`PersonalToken`] is read from.
macro_rules! columns {
    () => {
        "name, role, created_at, expires_at, last_used_at, revoked_at"
    };
}

fn optional_time(row: &SqliteRow, column: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    row.try_get::<Option<i64>, _>(column)
        .map_err(db_err)?
        .map(from_nanos)
        .transpose()
}

fn token_of(row: &SqliteRow) -> Result<PersonalToken, StoreError> {
    Ok(PersonalToken {
        name: row.try_get("name").map_err(db_err)?,
        role: stored_role(row.try_get::<&str, _>("role").map_err(db_err)?)?,
        created_at: from_nanos(row.try_get("created_at").map_err(db_err)?)?,
        expires_at: optional_time(row, "expires_at")?,
        last_used_at: optional_time(row, "last_used_at")?,
        revoked_at: optional_time(row, "revoked_at")?,
    })
}

#[async_trait::async_trait]
impl PersonalTokenStore for SqlitePersonalTokens {
    async fn create(
        &self,
        new: NewPersonalToken,
    ) -> Result<MintedPersonalToken, PersonalTokenError> {
        let key = checked_name(&new.name)?;
        let (value, hash) = mint(&new.name)?;
        let now = OffsetDateTime::now_utc();
        let row = sqlx::query(concat!(
            "INSERT INTO proxyhealth_personal_tokens \
             (name, name_key, role, hashed_secret, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?) RETURNING ",
            columns!()
        ))
        .bind(&new.name)
        .bind(&key)
        .bind(new.role.as_str())
        .bind(&hash)
        .bind(nanos(now))
        .bind(new.expires_at.map(nanos))
        .fetch_one(&self.writer)
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
            " FROM proxyhealth_personal_tokens ORDER BY name_key"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        Ok(rows.iter().map(token_of).collect::<Result<_, _>>()?)
    }

    async fn revoke(&self, name: &str) -> Result<PersonalToken, PersonalTokenError> {
        let row = sqlx::query(concat!(
            "UPDATE proxyhealth_personal_tokens SET revoked_at = COALESCE(revoked_at, ?) \
             WHERE name_key = ? RETURNING ",
            columns!()
        ))
        .bind(nanos(OffsetDateTime::now_utc()))
        .bind(name.to_lowercase())
        .fetch_optional(&self.writer)
        .await
        .map_err(db_err)?
        .ok_or_else(|| PersonalTokenError::NotFound(name.to_owned()))?;
        Ok(token_of(&row)?)
    }

    async fn verify(&self, value: &str) -> Result<PersonalToken, PersonalTokenRefusal> {
        let (name, secret) = parse(value).ok_or(PersonalTokenRefusal::Malformed)?;
        // the writer: a revocation just made is seen on the next request
        let row = sqlx::query(concat!(
            "SELECT hashed_secret, ",
            columns!(),
            " FROM proxyhealth_personal_tokens WHERE name_key = ?"
        ))
        .bind(name.to_lowercase())
        .fetch_optional(&self.writer)
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
        sqlx::query("UPDATE proxyhealth_personal_tokens SET last_used_at = ? WHERE name_key = ?")
            .bind(nanos(at))
            .bind(name.to_lowercase())
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

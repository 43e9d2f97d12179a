//! [`super::SessionStore`] on PostgreSQL (the `sessions` migration): shared by
//! every replica, so a login begun on one finishes on any.

use sqlx::Row;
use sqlx::postgres::PgPool;
use time::OffsetDateTime;

use super::{PendingLogin, SessionRecord, SessionStore, stored_role};
use crate::StoreError;
use crate::error::pg_err as db_err;

/// The PostgreSQL store's logins and sessions.
#[derive(Debug)]
pub(crate) struct PgSessions {
    /// The store's pool.
    pub pool: PgPool,
}

#[async_trait::async_trait]
impl SessionStore for PgSessions {
    async fn put_login(&self, state_hash: &[u8], login: &PendingLogin) -> Result<(), StoreError> {
        self.prune(OffsetDateTime::now_utc()).await?;
        sqlx::query(
            "INSERT INTO proxyhealth_logins \
             (state_hash, nonce, pkce_verifier, return_to, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(state_hash)
        .bind(&login.nonce)
        .bind(&login.pkce_verifier)
        .bind(&login.return_to)
        .bind(login.expires_at)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn take_login(
        &self,
        state_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<PendingLogin>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM proxyhealth_logins WHERE state_hash = $1 \
             RETURNING nonce, pkce_verifier, return_to, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let login = PendingLogin {
            nonce: row.try_get("nonce").map_err(db_err)?,
            pkce_verifier: row.try_get("pkce_verifier").map_err(db_err)?,
            return_to: row.try_get("return_to").map_err(db_err)?,
            expires_at: row.try_get("expires_at").map_err(db_err)?,
        };
        Ok(Some(login).filter(|login| login.expires_at > now))
    }

    async fn open_session(
        &self,
        id_hash: &[u8],
        session: &SessionRecord,
    ) -> Result<(), StoreError> {
        self.prune(OffsetDateTime::now_utc()).await?;
        sqlx::query(
            "INSERT INTO proxyhealth_sessions \
             (id_hash, subject, email, name, role, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id_hash)
        .bind(&session.subject)
        .bind(&session.email)
        .bind(&session.name)
        .bind(session.role.as_str())
        .bind(session.expires_at)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn session(
        &self,
        id_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT subject, email, name, role, expires_at FROM proxyhealth_sessions \
             WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(SessionRecord {
            subject: row.try_get("subject").map_err(db_err)?,
            email: row.try_get("email").map_err(db_err)?,
            name: row.try_get("name").map_err(db_err)?,
            role: stored_role(row.try_get::<&str, _>("role").map_err(db_err)?)?,
            expires_at: row.try_get("expires_at").map_err(db_err)?,
        }))
    }

    async fn end_session(&self, id_hash: &[u8]) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM proxyhealth_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn prune(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let logins = sqlx::query("DELETE FROM proxyhealth_logins WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        let sessions = sqlx::query("DELETE FROM proxyhealth_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(logins.rows_affected() + sessions.rows_affected())
    }
}

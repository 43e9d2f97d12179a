//! [`super::SessionStore`] on SQLite (the `sessions` migration), over the
//! store's writer and reader pools.

use sqlx::Row;
use sqlx::sqlite::SqlitePool;
use time::OffsetDateTime;

use super::{PendingLogin, SessionRecord, SessionStore, stored_role};
use crate::StoreError;
use crate::columns::sqlite::{from_nanos, nanos};
use crate::error::sqlite_err as db_err;

/// The SQLite store's logins and sessions.
#[derive(Debug)]
pub(crate) struct SqliteSessions {
    /// The store's one writer connection.
    pub writer: SqlitePool,
    /// Its readers.
    pub reader: SqlitePool,
}

#[async_trait::async_trait]
impl SessionStore for SqliteSessions {
    async fn put_login(&self, state_hash: &[u8], login: &PendingLogin) -> Result<(), StoreError> {
        self.prune(OffsetDateTime::now_utc()).await?;
        sqlx::query(
            "INSERT INTO proxyhealth_logins \
             (state_hash, nonce, pkce_verifier, return_to, expires_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(state_hash)
        .bind(&login.nonce)
        .bind(&login.pkce_verifier)
        .bind(&login.return_to)
        .bind(nanos(login.expires_at))
        .execute(&self.writer)
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
            "DELETE FROM proxyhealth_logins WHERE state_hash = ? \
             RETURNING nonce, pkce_verifier, return_to, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(&self.writer)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let login = PendingLogin {
            nonce: row.try_get("nonce").map_err(db_err)?,
            pkce_verifier: row.try_get("pkce_verifier").map_err(db_err)?,
            return_to: row.try_get("return_to").map_err(db_err)?,
            expires_at: from_nanos(row.try_get("expires_at").map_err(db_err)?)?,
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
             (id_hash, subject, email, name, role, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(id_hash)
        .bind(&session.subject)
        .bind(&session.email)
        .bind(&session.name)
        .bind(session.role.as_str())
        .bind(nanos(session.expires_at))
        .execute(&self.writer)
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
             WHERE id_hash = ? AND expires_at > ?",
        )
        .bind(id_hash)
        .bind(nanos(now))
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(SessionRecord {
            subject: row.try_get("subject").map_err(db_err)?,
            email: row.try_get("email").map_err(db_err)?,
            name: row.try_get("name").map_err(db_err)?,
            role: stored_role(row.try_get::<&str, _>("role").map_err(db_err)?)?,
            expires_at: from_nanos(row.try_get("expires_at").map_err(db_err)?)?,
        }))
    }

    async fn end_session(&self, id_hash: &[u8]) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM proxyhealth_sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn prune(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let logins = sqlx::query("DELETE FROM proxyhealth_logins WHERE expires_at <= ?")
            .bind(nanos(now))
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        let sessions = sqlx::query("DELETE FROM proxyhealth_sessions WHERE expires_at <= ?")
            .bind(nanos(now))
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(logins.rows_affected() + sessions.rows_affected())
    }
}

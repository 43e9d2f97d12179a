//! Dashboard sign-in state shared by every replica: the logins under way
//! (between the redirect to the identity provider and its callback) and the
//! sessions opened by them.
//!
//! Only SHA-256 hashes of the `state` parameter and of the session id are
//! kept, so a copy of the database opens no session and completes no login.
//! A login is taken once: [`SessionStore::take_login`] deletes the row it
//! reads, so a replayed callback finds nothing. Rows past their expiry are
//! never returned, and are deleted whenever a login or a session is written.
//!
//! # Layout
//! - `memory`, `sqlite`, `postgres`: [`SessionStore`] on each backend (the
//!   `sessions` migration on the databases).

pub(crate) mod memory;
pub(crate) mod postgres;
pub(crate) mod sqlite;

use proxyhealth_core::Role;
use time::OffsetDateTime;

use crate::StoreError;

/// A login under way: what the callback needs to finish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogin {
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier the code is exchanged with.
    pub pkce_verifier: String,
    /// Where the browser goes once signed in (a same-site path).
    pub return_to: String,
    /// When the login can no longer be finished.
    pub expires_at: OffsetDateTime,
}

/// A signed-in user's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The ID token's `sub`.
    pub subject: String,
    /// The ID token's `email`, when it had one.
    pub email: Option<String>,
    /// The ID token's `name`, when it had one.
    pub name: Option<String>,
    /// The role the claims mapped to.
    pub role: Role,
    /// When the session ends, whatever the cookie says.
    pub expires_at: OffsetDateTime,
}

/// The logins under way and the sessions, on one backend.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// Keeps a login under the hash of its `state`.
    async fn put_login(&self, state_hash: &[u8], login: &PendingLogin) -> Result<(), StoreError>;

    /// The login kept under `state_hash`, deleted in the same step so a
    /// second call (a replayed callback) gets `None`; `None` too when it
    /// expired before `now`.
    async fn take_login(
        &self,
        state_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<PendingLogin>, StoreError>;

    /// Keeps a session under the hash of its id.
    async fn open_session(&self, id_hash: &[u8], session: &SessionRecord)
    -> Result<(), StoreError>;

    /// The session kept under `id_hash`, unless it expired before `now`.
    async fn session(
        &self,
        id_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Ends the session kept under `id_hash`; `true` when there was one.
    async fn end_session(&self, id_hash: &[u8]) -> Result<bool, StoreError>;

    /// Deletes the logins and sessions that expired before `now`; how many.
    async fn prune(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// A role as stored, or the error a row no version wrote is.
fn stored_role(text: &str) -> Result<Role, StoreError> {
    text.parse()
        .map_err(|err: proxyhealth_core::UnknownRole| StoreError::Internal(err.to_string()))
}

//! [`super::SessionStore`] in memory, for the memory store (one process).

use std::collections::HashMap;

use parking_lot::Mutex;
use time::OffsetDateTime;

use super::{PendingLogin, SessionRecord, SessionStore};
use crate::StoreError;

/// The memory store's logins and sessions, by hash.
#[derive(Debug, Default)]
pub(crate) struct MemorySessions {
    tables: Mutex<Tables>,
}

#[derive(Debug, Default)]
struct Tables {
    logins: HashMap<Vec<u8>, PendingLogin>,
    sessions: HashMap<Vec<u8>, SessionRecord>,
}

impl Tables {
    fn prune(&mut self, now: OffsetDateTime) -> u64 {
        let before = self.logins.len() + self.sessions.len();
        self.logins.retain(|_, login| login.expires_at > now);
        self.sessions.retain(|_, session| session.expires_at > now);
        (before - self.logins.len() - self.sessions.len()) as u64
    }
}

#[async_trait::async_trait]
impl SessionStore for MemorySessions {
    async fn put_login(&self, state_hash: &[u8], login: &PendingLogin) -> Result<(), StoreError> {
        let mut tables = self.tables.lock();
        tables.prune(OffsetDateTime::now_utc());
        tables.logins.insert(state_hash.to_vec(), login.clone());
        Ok(())
    }

    async fn take_login(
        &self,
        state_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<PendingLogin>, StoreError> {
        let taken = self.tables.lock().logins.remove(state_hash);
        Ok(taken.filter(|login| login.expires_at > now))
    }

    async fn open_session(
        &self,
        id_hash: &[u8],
        session: &SessionRecord,
    ) -> Result<(), StoreError> {
        let mut tables = self.tables.lock();
        tables.prune(OffsetDateTime::now_utc());
        tables.sessions.insert(id_hash.to_vec(), session.clone());
        Ok(())
    }

    async fn session(
        &self,
        id_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let tables = self.tables.lock();
        Ok(tables
            .sessions
            .get(id_hash)
            .filter(|session| session.expires_at > now)
            .cloned())
    }

    async fn end_session(&self, id_hash: &[u8]) -> Result<bool, StoreError> {
        Ok(self.tables.lock().sessions.remove(id_hash).is_some())
    }

    async fn prune(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        Ok(self.tables.lock().prune(now))
    }
}

//! [`super::VantageStore`] in memory, for the memory store.

use parking_lot::Mutex;
use uuid::Uuid;

use super::{
    AgentTokenError, MintedVantage, Vantage, VantageError, VantageStore, check_secret,
    checked_name, mint, parse,
};
use crate::StoreClock;

/// The memory store's vantages.
#[derive(Debug, Default)]
pub(crate) struct MemoryVantages {
    clock: StoreClock,
    rows: Mutex<Vec<(Vantage, Vec<u8>)>>,
}

impl MemoryVantages {
    /// No vantage yet; times read from `clock`.
    pub(crate) fn new(clock: StoreClock) -> Self {
        MemoryVantages {
            clock,
            rows: Mutex::default(),
        }
    }
}

fn find<'a>(rows: &'a mut [(Vantage, Vec<u8>)], key: &str) -> Option<&'a mut (Vantage, Vec<u8>)> {
    rows.iter_mut()
        .find(|(v, _)| v.name.as_str().to_lowercase() == key)
}

#[async_trait::async_trait]
impl VantageStore for MemoryVantages {
    async fn create(&self, name: &str) -> Result<MintedVantage, VantageError> {
        let (name, key) = checked_name(name)?;
        let mut rows = self.rows.lock();
        if find(&mut rows, &key).is_some() {
            return Err(VantageError::Taken(name.to_string()));
        }
        let id = Uuid::new_v4();
        let minted = mint(id)?;
        let now = self.clock.now();
        let vantage = Vantage {
            id,
            name,
            created_at: now,
            token_minted_at: now,
        };
        rows.push((vantage.clone(), minted.hashed_secret));
        Ok(MintedVantage {
            vantage,
            token: minted.token,
        })
    }

    async fn list(&self) -> Result<Vec<Vantage>, VantageError> {
        let mut all: Vec<Vantage> = self.rows.lock().iter().map(|(v, _)| v.clone()).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    async fn delete(&self, name: &str) -> Result<(), VantageError> {
        let key = name.to_lowercase();
        let mut rows = self.rows.lock();
        let before = rows.len();
        rows.retain(|(v, _)| v.name.as_str().to_lowercase() != key);
        if rows.len() == before {
            return Err(VantageError::NotFound(name.to_owned()));
        }
        Ok(())
    }

    async fn rotate_token(&self, name: &str) -> Result<MintedVantage, VantageError> {
        let key = name.to_lowercase();
        let mut rows = self.rows.lock();
        let now = self.clock.now();
        let (vantage, hash) =
            find(&mut rows, &key).ok_or_else(|| VantageError::NotFound(name.to_owned()))?;
        let minted = mint(vantage.id)?;
        *hash = minted.hashed_secret;
        vantage.token_minted_at = now;
        Ok(MintedVantage {
            vantage: vantage.clone(),
            token: minted.token,
        })
    }

    async fn verify_token(&self, token: &str) -> Result<Vantage, AgentTokenError> {
        let (id, secret) = parse(token)?;
        let rows = self.rows.lock();
        let (vantage, hash) = rows
            .iter()
            .find(|(v, _)| v.id == id)
            .ok_or(AgentTokenError::UnknownVantage)?;
        check_secret(secret, hash)?;
        Ok(vantage.clone())
    }
}

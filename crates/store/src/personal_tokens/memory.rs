//! [`super::PersonalTokenStore`] in memory, for the memory store.

use parking_lot::Mutex;
use time::OffsetDateTime;

use super::{
    MintedPersonalToken, NewPersonalToken, PersonalToken, PersonalTokenError, PersonalTokenRefusal,
    PersonalTokenStore, checked_name, mint, parse,
};
use crate::{StoreClock, StoreError, token};

/// The memory store's personal tokens.
#[derive(Debug, Default)]
pub(crate) struct MemoryPersonalTokens {
    clock: StoreClock,
    /// Each token with the hash of its secret.
    tokens: Mutex<Vec<(PersonalToken, Vec<u8>)>>,
}

impl MemoryPersonalTokens {
    /// No token yet; times read from `clock`.
    pub(crate) fn new(clock: StoreClock) -> Self {
        MemoryPersonalTokens {
            clock,
            tokens: Mutex::default(),
        }
    }
}

#[async_trait::async_trait]
impl PersonalTokenStore for MemoryPersonalTokens {
    async fn create(
        &self,
        new: NewPersonalToken,
    ) -> Result<MintedPersonalToken, PersonalTokenError> {
        let key = checked_name(&new.name)?;
        let mut tokens = self.tokens.lock();
        if tokens.iter().any(|(t, _)| t.name.to_lowercase() == key) {
            return Err(PersonalTokenError::Taken(new.name));
        }
        let (value, hash) = mint(&new.name)?;
        let token = PersonalToken {
            name: new.name,
            role: new.role,
            created_at: self.clock.now(),
            expires_at: new.expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        tokens.push((token.clone(), hash));
        Ok(MintedPersonalToken { token, value })
    }

    async fn list(&self) -> Result<Vec<PersonalToken>, PersonalTokenError> {
        let mut all: Vec<PersonalToken> =
            self.tokens.lock().iter().map(|(t, _)| t.clone()).collect();
        all.sort_by_key(|t| t.name.to_lowercase());
        Ok(all)
    }

    async fn revoke(&self, name: &str) -> Result<PersonalToken, PersonalTokenError> {
        let key = name.to_lowercase();
        let now = self.clock.now();
        let mut tokens = self.tokens.lock();
        let (token, _) = tokens
            .iter_mut()
            .find(|(t, _)| t.name.to_lowercase() == key)
            .ok_or_else(|| PersonalTokenError::NotFound(name.to_owned()))?;
        token.revoked_at.get_or_insert(now);
        Ok(token.clone())
    }

    async fn verify(&self, value: &str) -> Result<PersonalToken, PersonalTokenRefusal> {
        let (name, secret) = parse(value).ok_or(PersonalTokenRefusal::Malformed)?;
        let key = name.to_lowercase();
        let tokens = self.tokens.lock();
        match tokens.iter().find(|(t, _)| t.name.to_lowercase() == key) {
            Some((token, hash)) if token::secret_matches(secret, hash) => Ok(token.clone()),
            _ => Err(PersonalTokenRefusal::Unknown),
        }
    }

    async fn touch(&self, name: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        let key = name.to_lowercase();
        if let Some((token, _)) = self
            .tokens
            .lock()
            .iter_mut()
            .find(|(t, _)| t.name.to_lowercase() == key)
        {
            token.last_used_at = Some(at);
        }
        Ok(())
    }
}

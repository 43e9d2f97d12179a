//! Personal tokens: the tokens people act with, each with a name and a role.
//!
//! A token reads `pht_<name>_<64 hex>`; only the SHA-256 of the secret half
//! is kept, compared in constant time. A token is revoked, never deleted, so
//! `tokens list` still shows who held what, and the refusal of a revoked or
//! expired token can say which it is. Whether a token may still be used
//! (revoked, expired) is decided by the caller with its own clock: the store
//! only says whose token it is.
//!
//! # Layout
//! - `memory`, `sqlite`, `postgres`: [`PersonalTokenStore`] on each backend
//!   (the `personal_tokens` migration on the databases).

pub(crate) mod memory;
pub(crate) mod postgres;
pub(crate) mod sqlite;

use proxyhealth_core::access::Role;
use proxyhealth_core::validate::{FieldError, validate_name};
use time::OffsetDateTime;

use crate::StoreError;
use crate::token;

/// What every personal token starts with, so a request's token is known as
/// one before any lookup (and a leaked one is easy to search for).
pub const PREFIX: &str = "pht_";

/// A personal token as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalToken {
    /// Its name, unique ignoring case (the name rule of proxies).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it stops working, if ever.
    pub expires_at: Option<OffsetDateTime>,
    /// When it was last used (updated at most about once a minute).
    pub last_used_at: Option<OffsetDateTime>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
}

/// What a token is created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPersonalToken {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// When it stops working, if ever (a time in the past is kept as given:
    /// the caller decides whether to allow it).
    pub expires_at: Option<OffsetDateTime>,
}

/// A token with its value, shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedPersonalToken {
    /// The token.
    pub token: PersonalToken,
    /// `pht_<name>_<64 hex>`; only the hash of its secret is kept.
    pub value: String,
}

/// Why a token could not be created, found or revoked.
#[derive(Debug, thiserror::Error)]
pub enum PersonalTokenError {
    /// The name breaks the name rule.
    #[error("{0}")]
    Invalid(#[from] FieldError),
    /// Another token has this name (ignoring case), revoked or not.
    #[error("a token named {0:?} already exists")]
    Taken(String),
    /// No token has this name.
    #[error("no token named {0:?}")]
    NotFound(String),
    /// The store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Why a presented personal token is nobody's.
#[derive(Debug, thiserror::Error)]
pub enum PersonalTokenRefusal {
    /// Not `pht_<name>_<64 hex>`.
    #[error("malformed personal token")]
    Malformed,
    /// No token has the name, or the secret is not its: the same answer for
    /// both, so names cannot be probed.
    #[error("the token is not a personal token of this service")]
    Unknown,
    /// The store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The personal tokens, on one backend.
#[async_trait::async_trait]
pub trait PersonalTokenStore: Send + Sync + std::fmt::Debug {
    /// Creates a token with a fresh secret.
    async fn create(
        &self,
        new: NewPersonalToken,
    ) -> Result<MintedPersonalToken, PersonalTokenError>;

    /// Every token, revoked ones too, by name.
    async fn list(&self) -> Result<Vec<PersonalToken>, PersonalTokenError>;

    /// Revokes the token named `name` (ignoring case): it is refused from the
    /// next request on. Revoking a revoked token keeps its first revocation.
    async fn revoke(&self, name: &str) -> Result<PersonalToken, PersonalTokenError>;

    /// The token whose value `value` is, compared in constant time, revoked
    /// or expired or not (the caller refuses those, saying which).
    async fn verify(&self, value: &str) -> Result<PersonalToken, PersonalTokenRefusal>;

    /// Records that the token named `name` was used at `at`.
    async fn touch(&self, name: &str, at: OffsetDateTime) -> Result<(), StoreError>;
}

/// The name checked against the rule, and the key it is unique by.
fn checked_name(name: &str) -> Result<String, PersonalTokenError> {
    validate_name(name)?;
    Ok(name.to_lowercase())
}

/// A fresh token for `name`: its value and the hash of its secret.
fn mint(name: &str) -> Result<(String, Vec<u8>), PersonalTokenError> {
    let secret = token::generate_secret()
        .map_err(|err| PersonalTokenError::Store(StoreError::Internal(err.to_string())))?;
    Ok((
        format!("{PREFIX}{name}_{secret}"),
        token::hash_secret(&secret),
    ))
}

/// The name and secret of a personal token's value.
pub fn parse(value: &str) -> Option<(&str, &str)> {
    let rest = value.strip_prefix(PREFIX)?;
    let (name, secret) = rest.rsplit_once('_')?;
    if name.is_empty()
        || secret.len() != 64
        || !secret.bytes().all(|b| b.is_ascii_hexdigit())
        || validate_name(name).is_err()
    {
        return None;
    }
    Some((name, secret))
}

/// A stored role read back; an unknown one is the store's fault.
fn stored_role(role: &str) -> Result<Role, StoreError> {
    role.parse()
        .map_err(|err| StoreError::Internal(format!("stored token role: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_value_parses_back_to_its_name_and_secret() {
        let (value, hash) = mint("ci-bot").expect("a token");
        let (name, secret) = parse(&value).expect("parses");
        assert_eq!(name, "ci-bot");
        assert!(token::secret_matches(secret, &hash));
    }

    #[test]
    fn values_of_other_forms_are_not_personal_tokens() {
        let secret = "a".repeat(64);
        assert_eq!(
            parse(&format!("pht_ci_{secret}")),
            Some(("ci", secret.as_str()))
        );
        assert_eq!(parse(&format!("ci_{secret}")), None);
        assert_eq!(parse(&format!("pht__{secret}")), None);
        assert_eq!(parse("pht_ci_short"), None);
        assert_eq!(parse(&format!("pht_c i_{secret}")), None);
    }
}

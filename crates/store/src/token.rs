//! Proxy tokens: `<proxy uuid>:<64 hex>`, of which only the SHA-256 of the secret
//! half is stored.

use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// Length of the secret half of a token, in hex characters (32 random bytes).
pub const SECRET_HEX_LEN: usize = 64;

/// A freshly minted token: the text handed out once and the hash to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedToken {
    /// `<proxy uuid>:<64 hex>`, shown to the operator once.
    pub token: String,
    /// SHA-256 of the secret half, the only part the store keeps.
    pub hashed_secret: Vec<u8>,
}

/// A random 64-hex-character secret from the operating system's RNG.
///
/// Fails only when the OS RNG fails, which is reported as a store error.
pub fn generate_secret() -> Result<String, rand::rand_core::OsError> {
    let mut bytes = [0u8; SECRET_HEX_LEN / 2];
    OsRng.try_fill_bytes(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Mints a token for proxy `id`.
pub fn mint(id: Uuid) -> Result<MintedToken, rand::rand_core::OsError> {
    let secret = generate_secret()?;
    Ok(MintedToken {
        token: format!("{}:{secret}", id.hyphenated()),
        hashed_secret: hash_secret(&secret),
    })
}

/// SHA-256 of a secret, as stored in `token_hashed_secret`.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Splits a token into the proxy id and the secret.
///
/// Coder's rule: exactly two parts around `:`, a valid uuid, and a secret of 64
/// characters. `None` when the token is malformed.
pub fn parse(token: &str) -> Option<(Uuid, &str)> {
    let mut parts = token.split(':');
    let (id, secret) = (parts.next()?, parts.next()?);
    if parts.next().is_some() || secret.len() != SECRET_HEX_LEN {
        return None;
    }
    let id = Uuid::parse_str(id).ok()?;
    Some((id, secret))
}

/// Whether `secret` hashes to `stored`, compared in constant time.
pub fn secret_matches(secret: &str, stored: &[u8]) -> bool {
    hash_secret(secret).ct_eq(stored).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_parses_back_to_its_id_and_matches_its_hash() {
        let id = Uuid::new_v4();
        let minted = mint(id).expect("os rng");
        let (parsed, secret) = parse(&minted.token).expect("well formed");
        assert_eq!(parsed, id);
        assert_eq!(secret.len(), 64);
        assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(secret_matches(secret, &minted.hashed_secret));
        assert_eq!(minted.hashed_secret.len(), 32);
    }

    #[test]
    fn two_secrets_differ() {
        assert_ne!(
            generate_secret().expect("rng"),
            generate_secret().expect("rng")
        );
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let id = Uuid::new_v4();
        let good = "a".repeat(64);
        assert!(parse(&format!("{id}:{good}")).is_some());
        assert!(parse("").is_none());
        assert!(parse(&format!("{id}")).is_none());
        assert!(parse(&format!("{id}:{}", "a".repeat(63))).is_none());
        assert!(parse(&format!("{id}:{good}:x")).is_none());
        assert!(parse(&format!("not-a-uuid:{good}")).is_none());
    }

    #[test]
    fn a_wrong_secret_does_not_match() {
        let stored = hash_secret(&"a".repeat(64));
        assert!(!secret_matches(&"b".repeat(64), &stored));
        assert!(!secret_matches(&"a".repeat(64), &[]));
    }
}

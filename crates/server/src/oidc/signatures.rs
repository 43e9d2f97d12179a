//! The signature checks `jsonwebtoken` runs for ID tokens, over `ring`, the
//! cryptography library rustls already uses in this build: `jsonwebtoken`
//! ships providers only for aws-lc-rs and the RustCrypto crates, and either
//! would compile a second library for the few algorithms sign-in needs.
//!
//! Verification covers every asymmetric algorithm a provider may announce
//! (RS256/384/512, PS256/384/512, ES256/384, EdDSA over Ed25519). Shared
//! secrets (HS*) are never accepted for ID tokens, so they are refused here
//! too. Signing is only Ed25519, what the tests sign their tokens with.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::signature::{
    self as ring_sig, Ed25519KeyPair, RsaPublicKeyComponents, UnparsedPublicKey,
};
use std::sync::Once;

/// The provider, installed as the process's default by [`install`].
static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: |_| Err(ErrorKind::InvalidAlgorithm.into()),
        rsa_pub_components_from_public_key: |_| Err(ErrorKind::InvalidAlgorithm.into()),
        ec_pub_components_from_private_key: |_, _| Err(ErrorKind::InvalidAlgorithm.into()),
        ed_pub_components_from_private_key: ed25519_public_key,
        compute_digest: digest,
    },
};

/// Makes [`PROVIDER`] the one `jsonwebtoken` uses; every call after the
/// first does nothing. Called before any token is checked or made.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Another provider already installed (none is, in this process)
        // would be used instead; both check the same signatures.
        let _ = PROVIDER.install_default();
    });
}

/// The ring parameters of an RSA algorithm, `None` for the others.
fn rsa_parameters(algorithm: Algorithm) -> Option<&'static ring_sig::RsaParameters> {
    Some(match algorithm {
        Algorithm::RS256 => &ring_sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &ring_sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &ring_sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &ring_sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &ring_sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &ring_sig::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

/// The ring algorithm that verifies `algorithm`, `None` for the
/// shared-secret ones.
fn verification(algorithm: Algorithm) -> Option<&'static dyn ring_sig::VerificationAlgorithm> {
    if let Some(rsa) = rsa_parameters(algorithm) {
        return Some(rsa);
    }
    match algorithm {
        Algorithm::ES256 => Some(&ring_sig::ECDSA_P256_SHA256_FIXED),
        Algorithm::ES384 => Some(&ring_sig::ECDSA_P384_SHA384_FIXED),
        Algorithm::EdDSA => Some(&ring_sig::ED25519),
        _ => None,
    }
}

/// Checks signatures of one algorithm with one public key.
struct PublicKeyVerifier {
    algorithm: Algorithm,
    ring: &'static dyn ring_sig::VerificationAlgorithm,
    key: DecodingKey,
}

impl Verifier<Vec<u8>> for PublicKeyVerifier {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        let checked = match self.key.kind() {
            DecodingKeyKind::SecretOrDer(bytes) => {
                UnparsedPublicKey::new(self.ring, bytes).verify(message, signature)
            }
            DecodingKeyKind::RsaModulusExponent { n, e } => {
                let parameters =
                    rsa_parameters(self.algorithm).ok_or_else(signature::Error::new)?;
                RsaPublicKeyComponents { n, e }.verify(parameters, message, signature)
            }
        };
        checked.map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for PublicKeyVerifier {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// `jsonwebtoken`'s verifier factory: a verifier for `algorithm` with
/// `key`, refused when the key is of another family or the algorithm is a
/// shared secret's.
fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    let ring = verification(*algorithm).ok_or(ErrorKind::InvalidAlgorithm)?;
    if key.family() != algorithm.family() {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    Ok(Box::new(PublicKeyVerifier {
        algorithm: *algorithm,
        ring,
        key: key.clone(),
    }))
}

/// Signs with an Ed25519 key (PKCS#8).
struct Ed25519Signer(Ed25519KeyPair);

impl Signer<Vec<u8>> for Ed25519Signer {
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(self.0.sign(message).as_ref().to_vec())
    }
}

impl JwtSigner for Ed25519Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

/// `jsonwebtoken`'s signer factory: Ed25519 only (the service never signs
/// tokens; its tests sign theirs with Ed25519).
fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    if *algorithm != Algorithm::EdDSA {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    if key.family() != AlgorithmFamily::Ed {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(key.as_bytes())
        .map_err(|_| ErrorKind::InvalidEddsaKey)?;
    Ok(Box::new(Ed25519Signer(pair)))
}

/// The public key of an Ed25519 private key (PKCS#8), for a JWK made from it.
fn ed25519_public_key(private: &[u8], curve: &EllipticCurve) -> Result<Vec<u8>, Error> {
    if *curve != EllipticCurve::Ed25519 {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(private)
        .map_err(|_| ErrorKind::InvalidEddsaKey)?;
    Ok(ring_sig::KeyPair::public_key(&pair).as_ref().to_vec())
}

/// A JWK thumbprint's hash.
fn digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>, Error> {
    let algorithm = match hash {
        ThumbprintHash::SHA256 => &ring::digest::SHA256,
        ThumbprintHash::SHA384 => &ring::digest::SHA384,
        ThumbprintHash::SHA512 => &ring::digest::SHA512,
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    };
    Ok(ring::digest::digest(algorithm, data).as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

    /// A token signed with a fresh P-256 key, and that key's public half as
    /// a provider publishes it (x, y).
    fn es256_token(claims: &str) -> (String, DecodingKey) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("a P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("the P-256 key");
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let message = format!(
            "{}.{}",
            b64.encode(r#"{"alg":"ES256","typ":"JWT"}"#),
            b64.encode(claims)
        );
        let signature = pair.sign(&rng, message.as_bytes()).expect("a signature");
        let point = pair.public_key().as_ref();
        let key =
            DecodingKey::from_ec_components(&b64.encode(&point[1..33]), &b64.encode(&point[33..]))
                .expect("the public key");
        (format!("{message}.{}", b64.encode(signature.as_ref())), key)
    }

    fn validation(algorithm: Algorithm) -> jsonwebtoken::Validation {
        let mut validation = jsonwebtoken::Validation::new(algorithm);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation
    }

    #[test]
    fn an_es256_signature_by_the_published_key_verifies() {
        install();
        let (token, key) = es256_token(r#"{"sub":"ana"}"#);
        let claims =
            jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation(Algorithm::ES256))
                .expect("a valid token")
                .claims;
        assert_eq!(claims["sub"], "ana");
    }

    #[test]
    fn an_es256_token_checked_with_another_key_or_with_changed_claims_is_refused() {
        install();
        let (token, key) = es256_token(r#"{"sub":"ana"}"#);
        let (_, other_key) = es256_token(r#"{"sub":"ana"}"#);
        let err = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &other_key,
            &validation(Algorithm::ES256),
        )
        .expect_err("another key's token");
        assert_eq!(*err.kind(), ErrorKind::InvalidSignature);
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"sub":"eve"}"#);
        parts[1] = &forged;
        let err = jsonwebtoken::decode::<serde_json::Value>(
            &parts.join("."),
            &key,
            &validation(Algorithm::ES256),
        )
        .expect_err("changed claims");
        assert_eq!(*err.kind(), ErrorKind::InvalidSignature);
    }

    #[test]
    fn a_shared_secret_algorithm_is_refused() {
        install();
        let key = DecodingKey::from_secret(b"secret").expect("a secret");
        let err = (PROVIDER.verifier_factory)(&Algorithm::HS256, &key)
            .err()
            .expect("HS256 refused");
        assert_eq!(*err.kind(), ErrorKind::InvalidAlgorithm);
    }
}

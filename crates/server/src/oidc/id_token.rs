//! The checks of an ID token (OpenID Connect Core 1.0, section 3.1.3.7): the
//! signature, by one of the provider's published keys and with an algorithm
//! the provider announced; the issuer; the audience (this client, and no
//! other party); the authorized party; the expiry; the nonce.
//!
//! Signatures are checked by `jsonwebtoken` over ring, the cryptography
//! library rustls already brings (`super::signatures`), so sign-in builds no
//! second one.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde_json::Value;

/// What a verified ID token says about the user.
#[derive(Debug, Clone)]
pub(crate) struct Verified {
    /// `sub`.
    pub subject: String,
    /// `email`.
    pub email: Option<String>,
    /// `email_verified`.
    pub email_verified: Option<bool>,
    /// `name`.
    pub name: Option<String>,
    /// Every claim, for the role claim.
    pub claims: Value,
}

/// The provider's signing keys, as its key set publishes them; keys this
/// service cannot use (encryption keys, unknown kinds) are left out.
#[derive(Debug, Clone, Default)]
pub(crate) struct Keys(Vec<Jwk>);

impl Keys {
    /// The signing keys of the JSON Web Key Set `body`.
    pub(crate) fn from_json(body: &[u8]) -> Result<Keys, String> {
        #[derive(serde::Deserialize)]
        struct KeySet {
            keys: Vec<Value>,
        }
        let set: KeySet =
            serde_json::from_slice(body).map_err(|err| format!("not a JSON Web Key Set: {err}"))?;
        Ok(Keys(
            set.keys
                .into_iter()
                .filter_map(|key| serde_json::from_value::<Jwk>(key).ok())
                .filter(|key| {
                    matches!(
                        key.common.public_key_use,
                        None | Some(PublicKeyUse::Signature)
                    )
                })
                .collect(),
        ))
    }
}

/// What the token must match.
pub(crate) struct Expected<'a> {
    /// The issuer the discovery document gave.
    pub issuer: &'a str,
    /// This service's client id: the audience, and the authorized party.
    pub client_id: &'a str,
    /// The nonce the login was begun with.
    pub nonce: &'a str,
    /// The signing algorithms the provider announced for ID tokens.
    pub algorithms: &'a [Algorithm],
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    /// No key of the set can have signed it (by `kid`, or, without one, by
    /// kind): the provider may have rotated its keys.
    #[error("no key of the provider's key set fits the ID token ({0})")]
    NoKey(String),
    /// The key of the set the token names does not verify its signature:
    /// the provider may have rotated its keys under the same id.
    #[error("Invalid signature")]
    Signature,
    /// A check failed.
    #[error("{0}")]
    Invalid(String),
}

/// The user of ID token `token`, if it passes every check against `keys`
/// and `expected`.
pub(crate) fn verify(token: &str, keys: &Keys, expected: &Expected) -> Result<Verified, Refused> {
    super::signatures::install();
    let invalid = |why: String| Refused::Invalid(why);
    let header = jsonwebtoken::decode_header(token)
        .map_err(|err| invalid(format!("Invalid JWT header: {err}")))?;
    if !expected.algorithms.contains(&header.alg) {
        return Err(invalid(format!(
            "Invalid signature algorithm: {:?} is not among the provider's ({:?})",
            header.alg, expected.algorithms
        )));
    }
    let key = signing_key(keys, header.kid.as_deref(), header.alg)?;
    let key = DecodingKey::from_jwk(key)
        .map_err(|err| invalid(format!("the provider's key cannot be used: {err}")))?;
    let mut validation = Validation::new(header.alg);
    // checked below, with the authorized party and the messages of each
    validation.validate_aud = false;
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map_err(|err| match err.kind() {
            ErrorKind::InvalidSignature => Refused::Signature,
            ErrorKind::ExpiredSignature => invalid("ID token expired".to_owned()),
            _ => invalid(format!("Invalid ID token: {err}")),
        })?
        .claims;

    let issuer = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if issuer != expected.issuer {
        return Err(invalid(format!(
            "Invalid issuer: expected `{}` (found `{issuer}`)",
            expected.issuer
        )));
    }
    check_audiences(&claims, expected.client_id).map_err(invalid)?;
    let nonce = claims.get("nonce").and_then(Value::as_str);
    match nonce {
        Some(nonce) if constant_time_equal(nonce, expected.nonce) => {}
        Some(_) => return Err(invalid("Invalid nonce: nonce mismatch".to_owned())),
        None => return Err(invalid("Invalid nonce: missing nonce claim".to_owned())),
    }
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    Ok(Verified {
        subject: text("sub").ok_or_else(|| invalid("Invalid subject: not a string".to_owned()))?,
        email: text("email"),
        email_verified: claims.get("email_verified").and_then(Value::as_bool),
        name: text("name"),
        claims,
    })
}

/// The audience must hold `client_id` and no other party; with several
/// audiences, the authorized party (`azp`) must be there and be this client,
/// and when present it must be this client anyway.
fn check_audiences(claims: &Value, client_id: &str) -> Result<(), String> {
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(audience)) => vec![audience.as_str()],
        Some(Value::Array(audiences)) => audiences.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&client_id) {
        return Err(format!(
            "Invalid audiences: `{client_id}` is not a trusted audience ({audiences:?})"
        ));
    }
    if let Some(other) = audiences.iter().find(|audience| **audience != client_id) {
        return Err(format!(
            "Invalid audiences: `{other}` is not a trusted audience"
        ));
    }
    match claims.get("azp").map(Value::as_str) {
        Some(Some(party)) if party == client_id => Ok(()),
        Some(party) => Err(format!(
            "Invalid audiences: authorized party must match client ID ({party:?})"
        )),
        None if audiences.len() > 1 => Err(
            "Invalid audiences: authorized party is required when there are several audiences"
                .to_owned(),
        ),
        None => Ok(()),
    }
}

/// The key of `keys` that can have signed a token with `kid` and `alg`: the
/// one of that id, or, without an id, the only one of the algorithm's kind.
fn signing_key<'k>(keys: &'k Keys, kid: Option<&str>, alg: Algorithm) -> Result<&'k Jwk, Refused> {
    let mut fitting = keys.0.iter().filter(|key| {
        fits(key, alg) && kid.is_none_or(|kid| key.common.key_id.as_deref() == Some(kid))
    });
    match (fitting.next(), fitting.next(), kid) {
        (Some(key), None, _) => Ok(key),
        (Some(_), Some(_), Some(kid)) => Err(Refused::Invalid(format!(
            "the provider's key set holds several keys `{kid}`"
        ))),
        (Some(_), Some(_), None) => Err(Refused::Invalid(
            "the ID token names no key and several of the provider's keys fit".to_owned(),
        )),
        (None, _, Some(kid)) => Err(Refused::NoKey(format!("key id `{kid}`, {alg:?}"))),
        (None, _, None) => Err(Refused::NoKey(format!("no key id, {alg:?}"))),
    }
}

/// Whether `key` is of the kind `alg` signs with (and, when it names an
/// algorithm, names `alg`).
fn fits(key: &Jwk, alg: Algorithm) -> bool {
    let kind = match (&key.algorithm, alg) {
        (
            AlgorithmParameters::RSA(_),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512,
        ) => true,
        (AlgorithmParameters::EllipticCurve(params), Algorithm::ES256) => {
            params.curve == EllipticCurve::P256
        }
        (AlgorithmParameters::EllipticCurve(params), Algorithm::ES384) => {
            params.curve == EllipticCurve::P384
        }
        (AlgorithmParameters::OctetKeyPair(params), Algorithm::EdDSA) => {
            params.curve == EllipticCurve::Ed25519
        }
        _ => false,
    };
    let named = key
        .common
        .key_algorithm
        .is_none_or(|named| Algorithm::try_from(named).is_ok_and(|named| named == alg));
    kind && named
}

/// `a == b` in time that does not depend on where they differ.
fn constant_time_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    /// Two Ed25519 test keys: PKCS#8 DER (base64) and the public key (`x`).
    const KEY_A: (&str, &str) = (
        "MC4CAQAwBQYDK2VwBCIEIOLVngkyPG36Hj3scxohcxGHD5aYsjFIsGJ0uoRTkYkE",
        "o3XY2dIkSv5g3aQP7L2bzmL1M8Ex0k3LHeDo3t8D0KM",
    );
    const KEY_B: (&str, &str) = (
        "MC4CAQAwBQYDK2VwBCIEII2l2yeBxAeajrS3J+PrM2eNXjEf9AF32xyV/qZTAEmY",
        "c12vb7eEmWbExBl4eYskqX3vcB8nPXuj5VPMV7jay1U",
    );
    const ISSUER: &str = "http://127.0.0.1:9/issuer";
    const CLIENT: &str = "proxyhealth";
    const NONCE: &str = "the-nonce";

    fn keys(published: &[(&str, (&str, &str))]) -> Keys {
        let set = json!({"keys": published.iter().map(|(kid, (_, x))| json!({
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "kid": kid, "x": x,
        })).collect::<Vec<_>>()});
        Keys::from_json(set.to_string().as_bytes()).expect("a key set")
    }

    fn token(kid: &str, key: (&str, &str), claims: serde_json::Value) -> String {
        let der = base64::engine::general_purpose::STANDARD
            .decode(key.0)
            .expect("test key");
        crate::oidc::signatures::install();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&der))
            .expect("a signed token")
    }

    fn claims() -> serde_json::Value {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        json!({
            "iss": ISSUER, "aud": CLIENT, "sub": "ana", "nonce": NONCE,
            "iat": now, "exp": now + 300, "email": "ana@example.com", "email_verified": true,
        })
    }

    fn check(token: &str, keys: &Keys) -> Result<Verified, Refused> {
        verify(
            token,
            keys,
            &Expected {
                issuer: ISSUER,
                client_id: CLIENT,
                nonce: NONCE,
                algorithms: &[Algorithm::RS256, Algorithm::EdDSA],
            },
        )
    }

    fn refusal(token: &str) -> String {
        match check(token, &keys(&[("a", KEY_A)])) {
            Err(Refused::Invalid(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_token_signed_by_a_published_key_with_every_claim_right_gives_the_user() {
        let verified =
            check(&token("a", KEY_A, claims()), &keys(&[("a", KEY_A)])).expect("a verified token");
        assert_eq!(verified.subject, "ana");
        assert_eq!(verified.email.as_deref(), Some("ana@example.com"));
        assert_eq!(verified.email_verified, Some(true));
    }

    #[test]
    fn a_token_signed_by_another_key_under_a_published_id_asks_for_the_set_again() {
        assert_eq!(
            check(&token("a", KEY_B, claims()), &keys(&[("a", KEY_A)])).map(|v| v.subject),
            Err(Refused::Signature)
        );
    }

    #[test]
    fn a_token_naming_a_key_not_in_the_set_asks_for_the_set_again() {
        assert_eq!(
            check(&token("b", KEY_B, claims()), &keys(&[("a", KEY_A)])).map(|v| v.subject),
            Err(Refused::NoKey("key id `b`, EdDSA".to_owned()))
        );
    }

    #[test]
    fn a_token_of_an_algorithm_the_provider_did_not_announce_is_refused() {
        let refused = verify(
            &token("a", KEY_A, claims()),
            &keys(&[("a", KEY_A)]),
            &Expected {
                issuer: ISSUER,
                client_id: CLIENT,
                nonce: NONCE,
                algorithms: &[Algorithm::RS256],
            },
        )
        .map(|v| v.subject);
        assert!(
            matches!(&refused, Err(Refused::Invalid(why)) if why.starts_with("Invalid signature algorithm")),
            "{refused:?}"
        );
    }

    #[test]
    fn a_token_from_another_issuer_is_refused() {
        let mut claims = claims();
        claims["iss"] = json!("http://127.0.0.1:9/other");
        assert!(refusal(&token("a", KEY_A, claims)).starts_with("Invalid issuer"));
    }

    #[test]
    fn a_token_for_another_client_is_refused() {
        let mut claims = claims();
        claims["aud"] = json!("someone-else");
        assert!(refusal(&token("a", KEY_A, claims)).starts_with("Invalid audiences"));
    }

    #[test]
    fn a_token_also_for_another_client_is_refused() {
        let mut claims = claims();
        claims["aud"] = json!([CLIENT, "someone-else"]);
        claims["azp"] = json!(CLIENT);
        assert_eq!(
            refusal(&token("a", KEY_A, claims)),
            "Invalid audiences: `someone-else` is not a trusted audience"
        );
    }

    #[test]
    fn a_token_authorized_for_another_party_is_refused() {
        let mut claims = claims();
        claims["azp"] = json!("someone-else");
        assert!(refusal(&token("a", KEY_A, claims)).starts_with("Invalid audiences"));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let mut claims = claims();
        claims["exp"] = json!(time::OffsetDateTime::now_utc().unix_timestamp() - 1);
        assert_eq!(refusal(&token("a", KEY_A, claims)), "ID token expired");
    }

    #[test]
    fn a_token_of_another_login_is_refused_by_its_nonce() {
        let mut claims = claims();
        claims["nonce"] = json!("another-nonce");
        assert_eq!(
            refusal(&token("a", KEY_A, claims)),
            "Invalid nonce: nonce mismatch"
        );
    }

    #[test]
    fn a_token_without_a_nonce_is_refused() {
        let mut claims = claims();
        claims.as_object_mut().map(|claims| claims.remove("nonce"));
        assert_eq!(
            refusal(&token("a", KEY_A, claims)),
            "Invalid nonce: missing nonce claim"
        );
    }
}

//! The identity provider as this service uses it: its discovery document and
//! key set, read once and kept (the key set read again, once, when it does
//! not verify an ID token, so a provider that rotated its keys
//! keeps working; tokens come only from the token endpoint, over the
//! connection this service opened, so a forged one cannot make it read the
//! set again and again), the authorization URL of a new login (the code flow
//! with PKCE, S256), and the code exchanged for a verified ID token.
//!
//! The ID token's checks are `id_token`'s: the signature against the
//! provider's published keys, the issuer, the audience (this client id), the
//! expiry and the nonce.

use super::http::{Answer, HttpError, ProviderHttp};
use super::id_token::{self, Expected, Keys, Refused};
use super::settings::OidcSettings;
use base64::Engine as _;
use jsonwebtoken::Algorithm;
use proxyhealth_core::human::error_chain;
use rand::TryRngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use url::Url;

pub(crate) use super::id_token::Verified;

/// Why a login could not be begun or finished.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoginError {
    /// The provider could not be reached or answered something unusable
    /// (discovery, the key set, the token exchange).
    #[error("{0}")]
    Provider(String),
    /// The ID token failed a check (signature, issuer, audience, expiry,
    /// nonce), or the provider refused the code.
    #[error("{0}")]
    Rejected(String),
}

/// A login just begun: where to send the browser, and what its callback
/// needs (kept in the store under the state's hash).
pub(crate) struct Begun {
    /// The provider's authorization URL.
    pub url: String,
    /// The `state` parameter.
    pub state: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier.
    pub pkce_verifier: String,
}

/// The fields of the discovery document this service uses (OpenID Connect
/// Discovery 1.0, section 3).
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    id_token_signing_alg_values_supported: Vec<String>,
}

/// The provider as read: its discovery document, the ID token algorithms of
/// it this service verifies, and its signing keys.
#[derive(Debug, Clone)]
struct Metadata {
    discovery: Discovery,
    algorithms: Vec<Algorithm>,
    keys: Keys,
}

/// The provider, its metadata fetched on first use.
pub(crate) struct Provider {
    settings: Arc<OidcSettings>,
    http: ProviderHttp,
    /// The discovery document with the key set, once read.
    metadata: tokio::sync::Mutex<Option<Metadata>>,
}

impl Provider {
    /// The provider of `settings`, not contacted yet.
    pub(crate) fn new(settings: Arc<OidcSettings>) -> Result<Self, reqwest::Error> {
        Ok(Provider {
            settings,
            http: ProviderHttp::new()?,
            metadata: tokio::sync::Mutex::new(None),
        })
    }

    /// The issuer URL as configured, without a trailing `/`.
    fn issuer(&self) -> &str {
        self.settings.issuer_url.as_str().trim_end_matches('/')
    }

    /// The discovery document (with its key set), read now if not yet.
    async fn metadata(&self) -> Result<Metadata, LoginError> {
        let mut kept = self.metadata.lock().await;
        if let Some(metadata) = kept.as_ref() {
            return Ok(metadata.clone());
        }
        let issuer = self.issuer();
        let discovery: Discovery = self
            .get_json(&format!("{issuer}/.well-known/openid-configuration"))
            .await
            .map_err(|why| {
                LoginError::Provider(format!("discovery at {}: {why}", self.settings.issuer_url))
            })?;
        if discovery.issuer != issuer {
            return Err(LoginError::Provider(format!(
                "discovery at {}: unexpected issuer URI `{}` (expected `{issuer}`)",
                self.settings.issuer_url, discovery.issuer
            )));
        }
        let algorithms: Vec<Algorithm> = discovery
            .id_token_signing_alg_values_supported
            .iter()
            .filter_map(|name| name.parse::<Algorithm>().ok())
            // a MAC (HS256…) would take the client secret for a key; only
            // the provider's published keys are trusted here
            .filter(|alg| !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
            .collect();
        let keys = self.keys(&discovery).await?;
        let metadata = Metadata {
            discovery,
            algorithms,
            keys,
        };
        *kept = Some(metadata.clone());
        Ok(metadata)
    }

    /// The key set the discovery document names.
    async fn keys(&self, discovery: &Discovery) -> Result<Keys, LoginError> {
        let answer = self
            .http
            .get(&discovery.jwks_uri)
            .await
            .map_err(|err| key_set_failed(error_chain(&err)))?;
        if !answer.status.is_success() {
            return Err(key_set_failed(format!("HTTP status {}", answer.status)));
        }
        Keys::from_json(&answer.body).map_err(key_set_failed)
    }

    /// Reads the key set again (a key the kept one does not hold).
    async fn refresh_keys(&self) -> Result<Metadata, LoginError> {
        let mut metadata = self.metadata().await?;
        metadata.keys = self.keys(&metadata.discovery).await?;
        *self.metadata.lock().await = Some(metadata.clone());
        Ok(metadata)
    }

    /// `GET url`'s JSON answer as `T`; the failure in words.
    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let answer = self.http.get(url).await.map_err(|err| error_chain(&err))?;
        if !answer.status.is_success() {
            return Err(format!("HTTP status {}", answer.status));
        }
        serde_json::from_slice(&answer.body).map_err(|err| format!("Failed to parse JSON: {err}"))
    }

    /// Begins a login: the authorization URL with a fresh state, nonce and
    /// PKCE challenge (S256).
    pub(crate) async fn begin(&self) -> Result<Begun, LoginError> {
        let metadata = self.metadata().await?;
        let random = || random_text(16).map_err(|err| LoginError::Provider(err.to_string()));
        let state = random()?;
        let nonce = random()?;
        let pkce_verifier = random_text(32).map_err(|err| LoginError::Provider(err.to_string()))?;
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(pkce_verifier.as_bytes()));
        let scopes = std::iter::once("openid")
            .chain(
                self.settings
                    .scopes
                    .iter()
                    .map(String::as_str)
                    .filter(|scope| *scope != "openid"),
            )
            .collect::<Vec<_>>()
            .join(" ");
        let mut url = Url::parse(&metadata.discovery.authorization_endpoint)
            .map_err(|err| LoginError::Provider(format!("the authorization endpoint: {err}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("redirect_uri", &self.settings.redirect_uri())
            .append_pair("scope", &scopes)
            .append_pair("nonce", &nonce);
        Ok(Begun {
            url: url.into(),
            state,
            nonce,
            pkce_verifier,
        })
    }

    /// Exchanges `code` and verifies the ID token it brings.
    pub(crate) async fn finish(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<Verified, LoginError> {
        let metadata = self.metadata().await?;
        let redirect_uri = self.settings.redirect_uri();
        let answer = self
            .http
            .post_form(
                &metadata.discovery.token_endpoint,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", &redirect_uri),
                    ("code_verifier", pkce_verifier),
                ],
                &self.settings.client_id,
                self.settings.client_secret.as_deref(),
            )
            .await;
        let id_token = id_token_of(answer)
            .map_err(|why| LoginError::Rejected(format!("the code exchange failed: {why}")))?;
        let verify = |metadata: &Metadata| {
            id_token::verify(
                &id_token,
                &metadata.keys,
                &Expected {
                    issuer: &metadata.discovery.issuer,
                    client_id: &self.settings.client_id,
                    nonce,
                    algorithms: &metadata.algorithms,
                },
            )
        };
        match verify(&metadata) {
            // a key the kept set does not hold, or one it holds under the
            // token's key id that does not verify it (a provider that
            // rotated its keys, keeping the id): read the set again, once
            Err(Refused::NoKey(_) | Refused::Signature) => {
                verify(&self.refresh_keys().await?).map_err(rejected)
            }
            verified => verified.map_err(rejected),
        }
    }
}

/// The ID token of the token endpoint's answer (RFC 6749 section 5: a JSON
/// object with `id_token` on success, `error` and `error_description` on a
/// refusal); the failure in words.
fn id_token_of(answer: Result<Answer, HttpError>) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Tokens {
        id_token: Option<String>,
    }
    #[derive(Deserialize)]
    struct Refusal {
        error: String,
        error_description: Option<String>,
    }
    let answer = answer.map_err(|err| error_chain(&err))?;
    if !answer.status.is_success() {
        return Err(match serde_json::from_slice::<Refusal>(&answer.body) {
            Ok(refusal) => format!(
                "Server returned error response: {}{}",
                refusal.error,
                refusal
                    .error_description
                    .map(|description| format!(": {description}"))
                    .unwrap_or_default()
            ),
            Err(_) => format!("Server returned HTTP status {}", answer.status),
        });
    }
    let tokens: Tokens = serde_json::from_slice(&answer.body)
        .map_err(|err| format!("Failed to parse server response: {err}"))?;
    tokens
        .id_token
        .ok_or_else(|| "the provider sent no ID token".to_owned())
}

/// `count` random bytes, base64url: a state, a nonce, a PKCE verifier.
fn random_text(count: usize) -> Result<String, rand::rand_core::OsError> {
    let mut bytes = vec![0u8; count];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn key_set_failed(why: String) -> LoginError {
    LoginError::Provider(format!("the key set: {why}"))
}

fn rejected(err: Refused) -> LoginError {
    LoginError::Rejected(format!("the ID token was refused: {err}"))
}

//! The identity provider as this service uses it: its discovery document and
//! key set, read once and kept (the key set read again, once, when an ID
//! token names a key it does not hold, so a provider that rotated its keys
//! keeps working; tokens come only from the token endpoint, over the
//! connection this service opened, so a forged one cannot make it read the
//! set again and again), the authorization URL of a new login, and the code
//! exchanged for a verified ID token.
//!
//! Every check of the ID token is the `openidconnect` library's: the
//! signature against the provider's published keys, the issuer, the audience
//! (this client id), the expiry and the nonce.

use super::http::{HttpError, ProviderHttp};
use super::settings::OidcSettings;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreProviderMetadata, CoreTokenResponse,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, HttpRequest,
    HttpResponse, IssuerUrl, JsonWebKeySet, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse,
};
use proxyhealth_core::human::error_chain;
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;

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

/// The provider, its metadata fetched on first use.
pub(crate) struct Provider {
    settings: Arc<OidcSettings>,
    http: ProviderHttp,
    /// The discovery document with the key set, once read.
    metadata: tokio::sync::Mutex<Option<CoreProviderMetadata>>,
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

    /// The library's HTTP client: a closure over the provider's reqwest client.
    fn client_fn(
        &self,
    ) -> impl Fn(
        HttpRequest,
    )
        -> std::pin::Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send>> {
        let http = self.http.clone();
        move |request| {
            let http = http.clone();
            Box::pin(async move { http.send(request).await })
        }
    }

    /// The discovery document (with its key set), read now if not yet.
    async fn metadata(&self) -> Result<CoreProviderMetadata, LoginError> {
        let mut kept = self.metadata.lock().await;
        if let Some(metadata) = kept.as_ref() {
            return Ok(metadata.clone());
        }
        let issuer = IssuerUrl::new(
            self.settings
                .issuer_url
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
        )
        .map_err(|err| LoginError::Provider(format!("the issuer URL: {err}")))?;
        let client = self.client_fn();
        let metadata = CoreProviderMetadata::discover_async(issuer, &client)
            .await
            .map_err(|err| {
                LoginError::Provider(format!(
                    "discovery at {}: {}",
                    self.settings.issuer_url,
                    error_chain(&err)
                ))
            })?;
        *kept = Some(metadata.clone());
        Ok(metadata)
    }

    /// Reads the key set again (a key the kept one does not hold).
    async fn refresh_keys(&self) -> Result<CoreProviderMetadata, LoginError> {
        let metadata = self.metadata().await?;
        let client = self.client_fn();
        let keys = JsonWebKeySet::fetch_async(metadata.jwks_uri(), &client)
            .await
            .map_err(|err| LoginError::Provider(format!("the key set: {}", error_chain(&err))))?;
        let metadata = metadata.set_jwks(keys);
        *self.metadata.lock().await = Some(metadata.clone());
        Ok(metadata)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        LoginError,
    > {
        let redirect = RedirectUrl::new(self.settings.redirect_uri())
            .map_err(|err| LoginError::Provider(format!("the redirect URI: {err}")))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }

    /// Begins a login: the authorization URL with a fresh state, nonce and
    /// PKCE challenge (S256).
    pub(crate) async fn begin(&self) -> Result<Begun, LoginError> {
        let client = self.client(self.metadata().await?)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in self
            .settings
            .scopes
            .iter()
            .filter(|scope| *scope != "openid")
        {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok(Begun {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
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
        let client = self.client(metadata)?;
        let http = self.client_fn();
        let response: CoreTokenResponse = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|err| LoginError::Provider(format!("the token endpoint: {err}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&http)
            .await
            .map_err(|err| {
                LoginError::Rejected(format!("the code exchange failed: {}", error_chain(&err)))
            })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| LoginError::Rejected("the provider sent no ID token".to_owned()))?;
        let nonce = Nonce::new(nonce.to_owned());
        match verify(&client, id_token, &nonce) {
            // a key the kept set does not hold (by `kid`, or a provider
            // that names none): read the set again, once
            Err(ClaimsVerificationError::SignatureVerification(_)) => {
                let client = self.client(self.refresh_keys().await?)?;
                verify(&client, id_token, &nonce).map_err(rejected)
            }
            verified => verified.map_err(rejected),
        }
    }
}

/// The ID token's claims, if every check passes.
fn verify(
    client: &CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    id_token: &CoreIdToken,
    nonce: &Nonce,
) -> Result<Verified, ClaimsVerificationError> {
    let verifier = client.id_token_verifier();
    let checked = id_token.claims(&verifier, nonce)?;
    Ok(Verified {
        subject: checked.subject().as_str().to_owned(),
        email: checked.email().map(|email| email.as_str().to_owned()),
        email_verified: checked.email_verified(),
        name: checked
            .name()
            .and_then(|name| name.get(None))
            .map(|name| name.as_str().to_owned()),
        claims: payload(id_token).ok_or_else(|| {
            ClaimsVerificationError::Other("the ID token's claims are not JSON".to_owned())
        })?,
    })
}

/// The claims of an ID token whose signature was verified, as JSON (the
/// library keeps only the standard ones; the role claim may be any).
fn payload(id_token: &CoreIdToken) -> Option<Value> {
    use base64::Engine as _;
    let jwt = serde_json::to_value(id_token).ok()?;
    let middle = jwt.as_str()?.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(middle.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn rejected(err: ClaimsVerificationError) -> LoginError {
    LoginError::Rejected(format!("the ID token was refused: {err}"))
}

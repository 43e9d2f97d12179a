//! Dashboard sign-in with OpenID Connect: the authorization code flow with
//! PKCE, `state` and `nonce`, the ID token's signature and claims checked
//! (`jsonwebtoken` over ring, `signatures`), and sessions kept in the store so any
//! replica serves them.
//!
//! `SignIn` is the slice of state the `/auth/*` routes, the session route
//! and the CSRF guard take; it is empty when sign-in is not configured.
//!
//! # Layout
//! - `settings`: [`OidcSettings`] and their check.
//! - `http`: the provider's HTTP client (the workspace's reqwest, bounded).
//! - `provider`: discovery, keys, the authorization URL and the code
//!   exchange.
//! - `id_token`: the ID token's checks (signature, issuer, audience, expiry,
//!   nonce).
//! - `signatures`: the signature algorithms `jsonwebtoken` runs, over ring.
//! - `claims`: the role and the email domain a verified token gives, and the
//!   same-site `return_to`.
//! - `cookies`: the session and login cookies.
//! - this file: `SignIn`: logins begun and finished, sessions opened,
//!   read and ended, and the CSRF rule.

mod claims;
mod cookies;
mod http;
mod id_token;
mod provider;
mod settings;
mod signatures;

pub use cookies::{LOGIN_COOKIE, SESSION_COOKIE};
pub use settings::{
    DEFAULT_SCOPES, DEFAULT_SESSION_LIFETIME, LOGIN_LIFETIME, OidcSettings, OidcSettingsError,
};

use crate::error::ApiError;
use axum::http::{HeaderMap, Method, header};
use base64::Engine as _;
use proxyhealth_core::{Credential, Principal};
use proxyhealth_store::{PendingLogin, SessionRecord, SessionStore};
use rand::TryRngCore;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// The header state-changing requests made with the session cookie carry
/// the session's CSRF token in.
pub use proxyhealth_api::wire::CSRF_HEADER;

/// Dashboard sign-in; `None` inside when not configured. Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct SignIn(Option<Arc<Configured>>);

/// Sign-in as configured.
struct Configured {
    settings: Arc<OidcSettings>,
    provider: provider::Provider,
    store: Arc<dyn SessionStore>,
}

/// A login finished: the session cookie to set and where to go.
pub(crate) struct SignedIn {
    /// Who signed in, in the role the claim gave them.
    pub principal: Principal,
    /// The session cookie's `Set-Cookie` value.
    pub cookie: String,
    /// The same-site path the browser goes to.
    pub return_to: String,
}

/// A session as the session route shows it.
pub(crate) struct Session {
    /// What the store keeps.
    pub record: SessionRecord,
    /// The value `X-Proxyhealth-CSRF` must carry.
    pub csrf_token: String,
}

/// Why sign-in cannot be started.
#[derive(Debug, thiserror::Error)]
pub enum SignInSetupError {
    /// The settings are incomplete or wrong.
    #[error("{0}")]
    Settings(#[from] OidcSettingsError),
    /// The store keeps no sessions (attached read-only to a Coder database
    /// without a schema of our own).
    #[error(
        "sign-in needs a store that keeps sessions: attached read-only to a Coder \
         database, set --coordination-schema"
    )]
    NoSessionStore,
    /// The HTTP client could not be built.
    #[error("the identity provider's HTTP client: {0}")]
    Http(String),
}

impl SignIn {
    /// Sign-in with `settings` over `store`'s sessions; `None` settings is
    /// sign-in not configured.
    pub(crate) fn new(
        settings: Option<OidcSettings>,
        store: Option<Arc<dyn SessionStore>>,
    ) -> Result<Self, SignInSetupError> {
        let Some(settings) = settings else {
            return Ok(SignIn(None));
        };
        settings.validate()?;
        let store = store.ok_or(SignInSetupError::NoSessionStore)?;
        let settings = Arc::new(settings);
        let provider = provider::Provider::new(settings.clone())
            .map_err(|err| SignInSetupError::Http(err.to_string()))?;
        Ok(SignIn(Some(Arc::new(Configured {
            settings,
            provider,
            store,
        }))))
    }

    /// Whether sign-in is configured.
    pub(crate) fn configured(&self) -> bool {
        self.0.is_some()
    }

    fn get(&self) -> Result<&Configured, ApiError> {
        self.0.as_deref().ok_or_else(|| {
            ApiError::not_found("Sign-in is not configured.").with_detail(
                "Set --oidc-issuer-url, --oidc-client-id and --public-url to sign in with \
                 OpenID Connect.",
            )
        })
    }

    /// Begins a login that returns to `return_to` (a same-site path, else
    /// `/`): the provider's URL, and the login cookie's `Set-Cookie` value.
    pub(crate) async fn begin(
        &self,
        return_to: Option<&str>,
    ) -> Result<(String, String), ApiError> {
        let on = self.get()?;
        let begun = on.provider.begin().await.map_err(provider_failed)?;
        let login = PendingLogin {
            nonce: begun.nonce,
            pkce_verifier: begun.pkce_verifier,
            return_to: claims::safe_return_to(return_to),
            expires_at: OffsetDateTime::now_utc() + LOGIN_LIFETIME,
        };
        on.store.put_login(&hash(&begun.state), &login).await?;
        let cookie = cookies::set(
            LOGIN_COOKIE,
            &begun.state,
            LOGIN_LIFETIME,
            on.settings.secure_cookies(),
        );
        Ok((begun.url, cookie))
    }

    /// Finishes the login of `state` with `code`: the state must be the one
    /// this browser began (its login cookie) and not used before; the ID
    /// token must pass every check; the user must map to a role and, when
    /// domains are set, have an email in one of them.
    pub(crate) async fn finish(
        &self,
        headers: &HeaderMap,
        state: &str,
        code: &str,
    ) -> Result<SignedIn, ApiError> {
        let on = self.get()?;
        let began_here = cookies::read(headers, LOGIN_COOKIE)
            .is_some_and(|kept| bool::from(kept.as_bytes().ct_eq(state.as_bytes())));
        if !began_here {
            return Err(ApiError::unauthorized("Sign-in refused.").with_detail(
                "The sign-in did not begin in this browser (no login cookie for this state); \
                 start again from the dashboard.",
            ));
        }
        let now = OffsetDateTime::now_utc();
        let Some(login) = on.store.take_login(&hash(state), now).await? else {
            return Err(ApiError::unauthorized("Sign-in refused.").with_detail(
                "The state is unknown, expired or already used; start again from the dashboard.",
            ));
        };
        let verified = match on
            .provider
            .finish(code, &login.pkce_verifier, &login.nonce)
            .await
        {
            Ok(verified) => verified,
            Err(provider::LoginError::Provider(why)) => return Err(provider_failed_text(why)),
            Err(provider::LoginError::Rejected(why)) => {
                return Err(ApiError::unauthorized("Sign-in refused.").with_detail(why));
            }
        };
        claims::check_domain(
            &on.settings,
            verified.email.as_deref(),
            verified.email_verified,
        )
        .map_err(refused)?;
        let role = claims::role_of(&on.settings, &verified.claims).map_err(refused)?;
        let id = random_id().map_err(|err| ApiError::internal(err.to_string()))?;
        let record = SessionRecord {
            subject: verified.subject,
            email: verified.email,
            name: verified.name,
            role,
            expires_at: now + on.settings.session_lifetime,
        };
        on.store.open_session(&hash(&id), &record).await?;
        tracing::info!(subject = %record.subject, role = %record.role, "signed in");
        Ok(SignedIn {
            principal: Principal {
                credential: Credential::Oidc {
                    subject: record.subject,
                    email: record.email,
                },
                role: record.role,
            },
            cookie: cookies::set(
                SESSION_COOKIE,
                &id,
                on.settings.session_lifetime,
                on.settings.secure_cookies(),
            ),
            return_to: login.return_to,
        })
    }

    /// The session the request's cookie names: `Ok(None)` without the
    /// cookie (or sign-in not configured); 401 when the cookie is malformed,
    /// unknown, ended or expired.
    pub(crate) async fn session(&self, headers: &HeaderMap) -> Result<Option<Session>, ApiError> {
        let Some(on) = self.0.as_deref() else {
            return Ok(None);
        };
        let Some(id) = cookies::read(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        if !well_formed(id) {
            return Err(invalid_session());
        }
        match on
            .store
            .session(&hash(id), OffsetDateTime::now_utc())
            .await?
        {
            Some(record) => Ok(Some(Session {
                record,
                csrf_token: csrf_token(id),
            })),
            None => Err(invalid_session()),
        }
    }

    /// The principal of the request's session (see [`SignIn::session`]).
    pub(crate) async fn principal(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Principal>, ApiError> {
        Ok(self.session(headers).await?.map(|session| Principal {
            credential: Credential::Oidc {
                subject: session.record.subject,
                email: session.record.email,
            },
            role: session.record.role,
        }))
    }

    /// Ends the request's session, if it has one; the `Set-Cookie` value
    /// that removes the cookie.
    pub(crate) async fn end(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        let on = self.get()?;
        if let Some(id) = cookies::read(headers, SESSION_COOKIE).filter(|id| well_formed(id)) {
            on.store.end_session(&hash(id)).await?;
        }
        Ok(cookies::clear(SESSION_COOKIE, on.settings.secure_cookies()))
    }

    /// The `Set-Cookie` values that remove both cookies (a refused callback,
    /// an invalid session).
    pub(crate) fn clear_cookies(&self) -> Vec<String> {
        let secure = self
            .0
            .as_ref()
            .is_some_and(|on| on.settings.secure_cookies());
        vec![
            cookies::clear(SESSION_COOKIE, secure),
            cookies::clear(LOGIN_COOKIE, secure),
        ]
    }

    /// The CSRF rule: a state-changing request (not GET, HEAD or OPTIONS)
    /// carrying the session cookie and no token must come from this site
    /// (`Origin`, when sent, is the public URL's) and carry the session's
    /// CSRF token in `X-Proxyhealth-CSRF`. A request with a token
    /// (`Authorization`, `Coder-Session-Token`) is a script's: a browser
    /// never adds those to another site's request.
    pub(crate) fn check_csrf(&self, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(on) = self.0.as_deref() else {
            return Ok(());
        };
        let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        let has_token = headers.contains_key(header::AUTHORIZATION)
            || headers.contains_key(crate::auth::SESSION_TOKEN_HEADER);
        let Some(id) = cookies::read(headers, SESSION_COOKIE) else {
            return Ok(());
        };
        if safe || has_token {
            return Ok(());
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let expected = on.settings.public_url.origin().ascii_serialization();
            if origin.as_bytes() != expected.as_bytes() {
                return Err(
                    ApiError::forbidden("Cross-site request refused.").with_detail(format!(
                        "The request's Origin is not this service's ({expected}); requests made \
                         with the session cookie must come from the dashboard."
                    )),
                );
            }
        }
        let sent = headers
            .get(CSRF_HEADER)
            .map(|value| value.as_bytes())
            .unwrap_or_default();
        if bool::from(sent.ct_eq(csrf_token(id).as_bytes())) {
            Ok(())
        } else {
            Err(
                ApiError::forbidden("Missing or wrong CSRF token.").with_detail(format!(
                    "A request made with the session cookie that changes something must send the \
                 session's csrf_token (GET /api/v2/proxyhealth/session) in {CSRF_HEADER}."
                )),
            )
        }
    }
}

/// A signed-in session is one more way a request proves who makes it: asked
/// by the route guards when the request carries no token.
#[async_trait::async_trait]
impl crate::auth::PrincipalSource for SignIn {
    async fn principal(&self, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
        SignIn::principal(self, headers).await
    }
}

/// 32 random bytes, base64url: a session id.
fn random_id() -> Result<String, rand::rand_core::OsError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether `id` has the form [`random_id`] makes.
fn well_formed(id: &str) -> bool {
    id.len() == 43
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// SHA-256 of a secret: what the store keeps of a state or session id.
fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The CSRF token of session `id`: derived from the id, which only the
/// browser holds, so it needs no storage and is unguessable without it.
fn csrf_token(id: &str) -> String {
    let digest = Sha256::digest(format!("proxyhealth-csrf:{id}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

fn invalid_session() -> ApiError {
    ApiError::unauthorized("Invalid session.")
        .with_detail("The session cookie is unknown, ended or expired; sign in again.")
}

fn refused(why: claims::Refusal) -> ApiError {
    ApiError::forbidden("Sign-in refused.").with_detail(why.to_string())
}

fn provider_failed(err: provider::LoginError) -> ApiError {
    provider_failed_text(err.to_string())
}

fn provider_failed_text(why: String) -> ApiError {
    tracing::warn!(error = %why, "the identity provider failed");
    ApiError::new(
        axum::http::StatusCode::BAD_GATEWAY,
        "The identity provider could not be used.",
    )
    .with_detail(why)
}

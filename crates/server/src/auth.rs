//! Authentication: who a request is made by (the [`Principal`]: the admin
//! token, a personal token, and whatever a `PrincipalSource` adds, such as
//! a signed-in session) and whether its role is enough for the route; the
//! proxy token on `/me/*`, the agent token on `/agent/*`; and the slow-down
//! of repeated failures.
//!
//! A request's principal is resolved once, by the guard of its route group
//! (`require_role`), and put in the request's extensions (and the
//! response's, so the audit log sees who acted, refused or not). A missing,
//! wrong, revoked or expired credential is 401 (the message says which); a
//! role too low for the route is 403, naming the role needed and the one
//! held. A token in the URL (`?token=`, `?access_token=`) is refused: URLs
//! end up in logs and browser history.
//!
//! A proxy token (or the proxy token header) on an admin route is answered 403:
//! the caller holds valid-looking credentials that are not allowed there, and the
//! distinct status tells an operator who pasted the wrong token what happened.
//! A missing or wrong admin token is 401, as Coder answers for a bad session.
//! An agent token (the proxy token's form) on an admin route is the same 403;
//! on the agent routes it is checked against the store and names its vantage.

use crate::error::ApiError;
use crate::throttle::FailureThrottle;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use proxyhealth_core::Proxy;
use proxyhealth_core::access::{Credential, Principal, Role};
use proxyhealth_store::personal_tokens;
use proxyhealth_store::{
    AgentTokenError, PersonalTokenRefusal, PersonalTokenStore, ProxyStore, StoreError, TokenError,
    Vantage, token,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The header a workspace proxy sends its token in (Coder's name).
pub const PROXY_TOKEN_HEADER: &str = "Coder-External-Proxy-Token";
/// Coder's session-token header, accepted as an alternative to `Authorization:
/// Bearer` so scripts written for Coder's API work unchanged.
pub const SESSION_TOKEN_HEADER: &str = "Coder-Session-Token";

/// SHA-256 of a token, the only form in which the admin token is kept.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The client's IP address, when the server was started with connection info.
pub(crate) fn client_ip(req: &Request) -> Option<IpAddr> {
    ip_of(req.extensions())
}

/// The client's IP address from a request's extensions (see [`client_ip`]).
pub(crate) fn ip_of(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

/// How often a personal token's `last_used_at` is written at most: often
/// enough to tell a token in use from a forgotten one, rarely enough that a
/// busy script does not make every request a write.
pub const LAST_USED_EVERY: Duration = Duration::from_secs(60);

/// Another way a request can prove who makes it, asked when the request
/// carries no token (a dashboard session's cookie, say). `Ok(None)`: not
/// this source's kind of credential; `Err`: its kind, but refused (401).
#[async_trait::async_trait]
pub(crate) trait PrincipalSource: Send + Sync {
    /// The principal `headers` prove, if they carry this source's credential.
    async fn principal(&self, headers: &HeaderMap) -> Result<Option<Principal>, ApiError>;
}

/// What authentication needs: the admin token's hash, the personal tokens,
/// whether reads are open, and the slow-down of failures. Cheap to clone:
/// clones share the throttle.
#[derive(Clone)]
pub(crate) struct Auth {
    /// SHA-256 of the admin token.
    admin_hash: Arc<[u8]>,
    /// Whether the read routes are open without a token.
    public_reads: bool,
    throttle: Arc<FailureThrottle>,
    /// The personal tokens; `None` on a store without tables of our own.
    personal_tokens: Option<Arc<dyn PersonalTokenStore>>,
    /// When each personal token's use was last written.
    last_used: Arc<Mutex<HashMap<String, Instant>>>,
    /// Other credentials, asked in order when a request has no token.
    sources: Arc<[Arc<dyn PrincipalSource>]>,
}

impl Auth {
    /// Authentication against the admin token with this hash.
    pub fn new(admin_hash: Vec<u8>, public_reads: bool, throttle: FailureThrottle) -> Self {
        Auth {
            admin_hash: admin_hash.into(),
            public_reads,
            throttle: Arc::new(throttle),
            personal_tokens: None,
            last_used: Arc::default(),
            sources: Arc::new([]),
        }
    }

    /// Also accepts the personal tokens of `tokens`.
    pub fn with_personal_tokens(mut self, tokens: Option<Arc<dyn PersonalTokenStore>>) -> Self {
        self.personal_tokens = tokens;
        self
    }

    /// Also asks `source` for the principal of a request without a token.
    pub fn with_source(mut self, source: Arc<dyn PrincipalSource>) -> Self {
        let mut sources = self.sources.to_vec();
        sources.push(source);
        self.sources = sources.into();
        self
    }

    /// Whether the read routes are open without a token (`public_reads`).
    pub fn public_reads(&self) -> bool {
        self.public_reads
    }

    /// Records a failure for the throttle, waits if the address failed too
    /// often, and hands the error back.
    pub async fn fail(&self, ip: Option<IpAddr>, err: ApiError) -> ApiError {
        let client = client_text(ip);
        tracing::debug!(%client, status = err.status.as_u16(), message = %err.envelope.message, "authentication failed");
        if let Some(delay) = self.throttle.record_failure(ip) {
            tracing::warn!(%client, "repeated authentication failures; answering late");
            tokio::time::sleep(delay).await;
        }
        err
    }

    /// The principal of a request, with a role of at least `required` (401
    /// or 403, the failure counted for the slow-down), for a handler that
    /// needs it only for some of its requests.
    pub async fn require(
        &self,
        headers: &HeaderMap,
        ip: Option<IpAddr>,
        required: Role,
    ) -> Result<Principal, ApiError> {
        let principal = match self.resolve(headers).await {
            Ok(Some(principal)) => principal,
            Ok(None) => return Err(self.fail(ip, missing_token()).await),
            Err(err) => return Err(self.fail(ip, err).await),
        };
        if principal.role.allows(required) {
            Ok(principal)
        } else {
            Err(role_too_low(&principal, required))
        }
    }

    /// Who `headers` prove the request is made by: `Ok(None)` when they
    /// carry no credential, an error (401, or 403 for a proxy or agent
    /// token) when they carry one that is refused.
    ///
    /// The admin token and personal tokens come in `Authorization: Bearer`
    /// or `Coder-Session-Token`; without either, each [`PrincipalSource`]
    /// is asked in turn.
    pub async fn resolve(&self, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
        let presented = match admin_credential(headers)? {
            Some(token) => token,
            None if headers.contains_key(PROXY_TOKEN_HEADER) => return Err(proxy_token_refused()),
            None => {
                for source in self.sources.iter() {
                    if let Some(principal) = source.principal(headers).await? {
                        return Ok(Some(principal));
                    }
                }
                return Ok(None);
            }
        };
        if bool::from(hash_token(presented).ct_eq(&self.admin_hash)) {
            return Ok(Some(Principal::admin_token()));
        }
        if token::parse(presented).is_some() {
            return Err(proxy_token_refused());
        }
        if personal_tokens::parse(presented).is_some() {
            return self.personal(presented).await.map(Some);
        }
        Err(ApiError::unauthorized("Invalid admin token.")
            .with_detail("The token matches neither the admin token nor a personal token."))
    }

    /// The principal of a personal token: 401 when it is nobody's, revoked
    /// or expired.
    async fn personal(&self, presented: &str) -> Result<Principal, ApiError> {
        let Some(tokens) = &self.personal_tokens else {
            return Err(ApiError::unauthorized("Invalid token.")
                .with_detail("This store keeps no personal tokens; use the admin token."));
        };
        let token = match tokens.verify(presented).await {
            Ok(token) => token,
            Err(PersonalTokenRefusal::Store(err)) => return Err(err.into()),
            Err(_) => {
                return Err(ApiError::unauthorized("Invalid token.")
                    .with_detail("The token is not a personal token of this service."));
            }
        };
        let now = OffsetDateTime::now_utc();
        if let Some(at) = token.revoked_at {
            return Err(
                ApiError::unauthorized("The token was revoked.").with_detail(format!(
                    "The token {:?} was revoked at {}; ask an admin for a new one.",
                    token.name,
                    rfc3339(at)
                )),
            );
        }
        if let Some(at) = token.expires_at.filter(|at| *at <= now) {
            return Err(
                ApiError::unauthorized(format!("The token expired at {}.", rfc3339(at)))
                    .with_detail(format!(
                        "The token {:?} is past its expiry; ask an admin for a new one.",
                        token.name
                    )),
            );
        }
        self.note_use(tokens, &token.name);
        Ok(Principal {
            credential: Credential::PersonalToken { name: token.name },
            role: token.role,
        })
    }

    /// Writes that the token named `name` was used, in the background and
    /// at most once per [`LAST_USED_EVERY`] per token in this process.
    fn note_use(&self, tokens: &Arc<dyn PersonalTokenStore>, name: &str) {
        {
            let mut last = self.last_used.lock();
            let now = Instant::now();
            match last.get(name) {
                Some(at) if now.duration_since(*at) < LAST_USED_EVERY => return,
                _ => {
                    last.insert(name.to_owned(), now);
                }
            }
        }
        let tokens = tokens.clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            if let Err(err) = tokens.touch(&name, OffsetDateTime::now_utc()).await {
                tracing::warn!(token = %name, error = %err, "cannot record a personal token's use");
            }
        });
    }

    /// Authenticates a workspace proxy by its `Coder-External-Proxy-Token`
    /// against `store`, with Coder's messages; the token alone decides which
    /// proxy is acting.
    pub async fn authenticate_proxy(
        &self,
        store: &dyn ProxyStore,
        headers: &HeaderMap,
        ip: Option<IpAddr>,
    ) -> Result<Proxy, ApiError> {
        let Some(value) = headers.get(PROXY_TOKEN_HEADER) else {
            let err = ApiError::unauthorized("Missing required external proxy token");
            return Err(self.fail(ip, err).await);
        };
        let presented = value.to_str().unwrap_or("");
        match store.verify_proxy_token(presented).await {
            Ok(proxy) => Ok(proxy),
            Err(TokenError::Store(err)) => Err(err.into()),
            Err(err) => {
                let detail = match err {
                    TokenError::Malformed => {
                        "The token must be \"<proxy uuid>:<64 hex characters>\".".to_owned()
                    }
                    other => other.to_string(),
                };
                let err =
                    ApiError::unauthorized("Invalid external proxy token").with_detail(detail);
                Err(self.fail(ip, err).await)
            }
        }
    }
}

impl Auth {
    /// Authenticates an agent by the agent token in `Authorization: Bearer`
    /// against `store`: the token alone decides which vantage is acting.
    /// A refusal says why in words an agent prints (deleted, rotated).
    pub async fn authenticate_agent(
        &self,
        store: &dyn ProxyStore,
        headers: &HeaderMap,
        ip: Option<IpAddr>,
    ) -> Result<Vantage, ApiError> {
        let presented = match admin_credential(headers) {
            Ok(Some(token)) => token,
            Ok(None) => {
                let err = ApiError::unauthorized("Missing agent token.").with_detail(
                    "Send the agent token as \"Authorization: Bearer <agent token>\".",
                );
                return Err(self.fail(ip, err).await);
            }
            Err(_) => {
                let err = ApiError::unauthorized("Invalid agent token.")
                    .with_detail("The Authorization header must be \"Bearer <agent token>\".");
                return Err(self.fail(ip, err).await);
            }
        };
        let vantages = store.vantages().ok_or(StoreError::ReadOnly)?;
        match vantages.verify_token(presented).await {
            Ok(vantage) => Ok(vantage),
            Err(AgentTokenError::Store(err)) => Err(err.into()),
            Err(err) => {
                let detail = match err {
                    AgentTokenError::Malformed => {
                        "The token must be \"<vantage uuid>:<64 hex characters>\".".to_owned()
                    }
                    other => other.to_string(),
                };
                let err = ApiError::unauthorized("Invalid agent token.").with_detail(detail);
                Err(self.fail(ip, err).await)
            }
        }
    }
}

/// What [`require_role`] guards a group of routes with: the role needed,
/// and whether the routes are open without a token (`public_reads`).
#[derive(Clone)]
pub(crate) struct Guard {
    /// The authentication.
    pub auth: Auth,
    /// The lowest role allowed.
    pub role: Role,
    /// Open to anyone (`public_reads` on a read route): a credential is
    /// still resolved, for the audit log, but never refused.
    pub open: bool,
}

/// Middleware for the routes of people: the principal resolved and put in
/// the request's extensions (and the response's), or 401/403.
pub(crate) async fn require_role(
    State(guard): State<Guard>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(err) = token_in_query(req.uri().query()) {
        return err.into_response();
    }
    let auth = &guard.auth;
    let principal = match auth.resolve(req.headers()).await {
        Ok(principal) => principal,
        Err(_) if guard.open => None,
        Err(err) => return auth.fail(client_ip(&req), err).await.into_response(),
    };
    let Some(principal) = principal else {
        if guard.open {
            return next.run(req).await;
        }
        return auth
            .fail(client_ip(&req), missing_token())
            .await
            .into_response();
    };
    let mut res = if guard.open || principal.role.allows(guard.role) {
        req.extensions_mut().insert(principal.clone());
        next.run(req).await
    } else {
        role_too_low(&principal, guard.role).into_response()
    };
    res.extensions_mut().insert(principal);
    res
}

/// The refusal of a token in the query string, if the request has one.
fn token_in_query(query: Option<&str>) -> Option<ApiError> {
    let query = query?;
    let param = url_params(query).find(|name| *name == "token" || *name == "access_token")?;
    Some(
        ApiError::unauthorized("Tokens are not accepted in the URL.").with_detail(format!(
            "Remove the {param:?} query parameter and send the token in the header: \
             \"Authorization: Bearer <token>\" (URLs end up in logs and browser history)."
        )),
    )
}

/// The names of a query string's parameters.
fn url_params(query: &str) -> impl Iterator<Item = &str> {
    query
        .split('&')
        .map(|pair| pair.split_once('=').map_or(pair, |(name, _)| name))
}

/// The 401 of a request without a credential.
fn missing_token() -> ApiError {
    ApiError::unauthorized("Missing admin token.").with_detail(
        "Send the admin token or a personal token as \"Authorization: Bearer <token>\".",
    )
}

/// The 403 of a principal whose role is below the route's.
fn role_too_low(principal: &Principal, required: Role) -> ApiError {
    ApiError::forbidden(format!("This route needs the {required} role.")).with_detail(format!(
        "The {} acts as {}; this route needs {required} (or higher).",
        principal.display_name(),
        principal.role
    ))
}

/// A time as the refusals write it.
fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

fn proxy_token_refused() -> ApiError {
    ApiError::forbidden("Proxy tokens are not allowed on this route.").with_detail(
        "A proxy token only registers its proxy (/api/v2/workspaceproxies/me/*), and an agent \
         token only fetches its vantage's assignment and sends its results \
         (/api/v2/proxyhealth/agent/*); use the admin token.",
    )
}

/// The admin credential of a request: `Authorization: Bearer <t>` or `Coder-Session-Token: <t>`.
fn admin_credential(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| malformed_authorization())?;
        let (scheme, token) = value.split_once(' ').ok_or_else(malformed_authorization)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(malformed_authorization());
        }
        return Ok(Some(token.trim()));
    }
    if let Some(value) = headers.get(SESSION_TOKEN_HEADER) {
        let value = value.to_str().map_err(|_| malformed_authorization())?;
        return Ok(Some(value.trim()));
    }
    Ok(None)
}

fn malformed_authorization() -> ApiError {
    ApiError::unauthorized("Invalid admin token.")
        .with_detail("The Authorization header must be \"Bearer <admin token>\".")
}

/// A client's address as the logs show it: the address, or `unknown` when
/// the connection's is not known (a request served without a socket).
fn client_text(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_parameter_in_the_query_is_refused_and_others_are_not() {
        assert!(token_in_query(Some("limit=5&token=abc")).is_some());
        assert!(token_in_query(Some("access_token")).is_some());
        assert!(token_in_query(Some("tokens=1&view=proxies")).is_none());
        assert!(token_in_query(None).is_none());
    }

    #[test]
    fn a_client_is_logged_by_its_address_or_as_unknown() {
        let ip: IpAddr = "127.0.0.1".parse().expect("an address");
        assert_eq!(client_text(Some(ip)), "127.0.0.1");
        assert_eq!(client_text(None), "unknown");
    }
}

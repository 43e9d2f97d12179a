//! Authentication: the admin token on admin routes, the proxy token on `/me/*`,
//! and the slow-down of repeated failures.
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
use proxyhealth_core::Proxy;
use proxyhealth_store::{AgentTokenError, ProxyStore, StoreError, TokenError, Vantage, token};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use subtle::ConstantTimeEq;

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

/// What authentication needs: the admin token's hash, whether reads are open,
/// and the slow-down of failures. Cheap to clone: clones share the throttle.
#[derive(Clone)]
pub(crate) struct Auth {
    /// SHA-256 of the admin token.
    admin_hash: Arc<[u8]>,
    /// Whether the read routes are open without a token.
    public_reads: bool,
    throttle: Arc<FailureThrottle>,
}

impl Auth {
    /// Authentication against the admin token with this hash.
    pub fn new(admin_hash: Vec<u8>, public_reads: bool, throttle: FailureThrottle) -> Self {
        Auth {
            admin_hash: admin_hash.into(),
            public_reads,
            throttle: Arc::new(throttle),
        }
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

    /// The admin token's check of `require_admin` (401 or 403, the failure
    /// counted for the slow-down), for a handler that needs it only for some
    /// of its requests.
    pub async fn admin(&self, headers: &HeaderMap, ip: Option<IpAddr>) -> Result<(), ApiError> {
        match self.check_admin(headers) {
            Ok(()) => Ok(()),
            Err(err) => Err(self.fail(ip, err).await),
        }
    }

    fn check_admin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let presented = match admin_credential(headers)? {
            Some(token) => token,
            None if headers.contains_key(PROXY_TOKEN_HEADER) => return Err(proxy_token_refused()),
            None => {
                return Err(ApiError::unauthorized("Missing admin token.").with_detail(
                    "Send the admin token as \"Authorization: Bearer <admin token>\".",
                ));
            }
        };
        if bool::from(hash_token(presented).ct_eq(&self.admin_hash)) {
            return Ok(());
        }
        if token::parse(presented).is_some() {
            return Err(proxy_token_refused());
        }
        Err(ApiError::unauthorized("Invalid admin token.")
            .with_detail("The token does not match the admin token."))
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
                let err = ApiError::unauthorized("Invalid agent token.").with_detail(
                    "The Authorization header must be \"Bearer <agent token>\".",
                );
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

/// Middleware for admin routes: the admin token or 401/403.
pub(crate) async fn require_admin(State(auth): State<Auth>, req: Request, next: Next) -> Response {
    match auth.check_admin(req.headers()) {
        Ok(()) => next.run(req).await,
        Err(err) => auth.fail(client_ip(&req), err).await.into_response(),
    }
}

/// Middleware for read routes: open when `public_reads` is set, admin otherwise.
pub(crate) async fn require_reader(State(auth): State<Auth>, req: Request, next: Next) -> Response {
    if auth.public_reads {
        return next.run(req).await;
    }
    require_admin(State(auth), req, next).await
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
    fn a_client_is_logged_by_its_address_or_as_unknown() {
        let ip: IpAddr = "127.0.0.1".parse().expect("an address");
        assert_eq!(client_text(Some(ip)), "127.0.0.1");
        assert_eq!(client_text(None), "unknown");
    }
}

//! Recording what people do: every state-changing request (POST, PUT, PATCH,
//! DELETE) made by a person's [`Principal`] goes to the store's audit log
//! once it is answered, with its outcome, refusals for the role (403)
//! included.
//!
//! Signing in (the provider's callback, a GET) and out are recorded too,
//! under the signed-in user.
//!
//! What is left out, and why: requests without a principal (a proxy's
//! registration and heartbeats, an agent's results: machine traffic with
//! tokens of their own; and unauthenticated 401s, which are throttled, not
//! recorded, so a flood cannot fill the log). What is recorded is the
//! route's template and the ids or names in its path (or the one a creation
//! answers with, [`AuditObject`]), never a query, body or header: no token,
//! password or secret can reach the log.

use crate::auth::ip_of;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use proxyhealth_core::access::{Credential, Principal};
use proxyhealth_store::{NewAuditEntry, ProxyStore};
use std::sync::Arc;
use time::OffsetDateTime;

/// What a handler that creates something names it by, for the audit log
/// (a response extension): the path of a creation does not name it.
#[derive(Debug, Clone)]
pub(crate) struct AuditObject(pub String);

/// Middleware: records the request in the audit log when it changes state
/// and a person made it.
pub(crate) async fn record(
    State(store): State<Arc<dyn ProxyStore>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    if !changes_state(req.method(), route.as_deref()) {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let client = ip_of(req.extensions()).map(|ip| ip.to_string());
    let res = next.run(req).await;
    let (Some(principal), Some(route), Some(log)) =
        (res.extensions().get::<Principal>(), route, store.audit())
    else {
        return res;
    };
    let object = res
        .extensions()
        .get::<AuditObject>()
        .map(|object| object.0.clone())
        .or_else(|| path_object(&route, &path));
    let entry = entry(
        principal,
        &method,
        route,
        object,
        client,
        res.status().as_u16(),
    );
    if let Err(err) = log.record(entry).await {
        tracing::warn!(error = %err, "cannot record an audit entry");
    }
    res
}

/// The route where a browser comes back from the identity provider: a GET
/// that opens a session.
const SIGN_IN_ROUTE: &str = "/auth/callback";

/// Whether a request of `method` to `route` changes state.
fn changes_state(method: &Method, route: Option<&str>) -> bool {
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method)
        || route == Some(SIGN_IN_ROUTE)
}

/// The entry of a request answered with `status`.
fn entry(
    principal: &Principal,
    method: &Method,
    route: String,
    object: Option<String>,
    client: Option<String>,
    status: u16,
) -> NewAuditEntry {
    let (credential, subject, email) = match &principal.credential {
        Credential::AdminToken => ("admin_token", None, None),
        Credential::PersonalToken { .. } => ("personal_token", None, None),
        Credential::Oidc { subject, email } => ("oidc", Some(subject.clone()), email.clone()),
    };
    NewAuditEntry {
        at: OffsetDateTime::now_utc(),
        actor: principal.display_name(),
        credential: credential.to_owned(),
        subject,
        email,
        role: principal.role,
        action: action(method, &route),
        method: method.as_str().to_owned(),
        route,
        object,
        client,
        status,
    }
}

/// The name of what a request does: `proxy.create`, …, or the method and
/// route for a route without a name here.
pub(crate) fn action(method: &Method, route: &str) -> String {
    let named = match (method.as_str(), route) {
        ("POST", "/api/v2/workspaceproxies") => "proxy.create",
        ("PATCH", "/api/v2/workspaceproxies/{proxy}") => "proxy.update",
        ("DELETE", "/api/v2/workspaceproxies/{proxy}") => "proxy.delete",
        ("POST", "/api/v2/workspaceproxies/refresh") => "check.now",
        ("POST", "/api/v2/proxyhealth/vantages") => "vantage.create",
        ("DELETE", "/api/v2/proxyhealth/vantages/{vantage}") => "vantage.delete",
        ("POST", "/api/v2/proxyhealth/vantages/{vantage}/token") => "vantage.rotate_token",
        ("POST", "/api/v2/proxyhealth/tokens") => "token.create",
        ("DELETE", "/api/v2/proxyhealth/tokens/{token}") => "token.revoke",
        ("GET", SIGN_IN_ROUTE) => "session.sign_in",
        ("POST", "/auth/logout") => "session.sign_out",
        _ => return format!("{method} {route}"),
    };
    named.to_owned()
}

/// The value of the route's last path parameter in `path` (the proxy, the
/// vantage, the token), percent-decoded.
fn path_object(route: &str, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    route
        .trim_start_matches('/')
        .split('/')
        .zip(segments)
        .filter(|(template, _)| template.starts_with('{'))
        .map(|(_, value)| value)
        .last()
        .map(percent_decode)
}

/// `value` with its `%XX` escapes decoded (kept as is when they are not
/// UTF-8).
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| value.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_object_is_the_routes_last_path_parameter() {
        assert_eq!(
            path_object(
                "/api/v2/proxyhealth/vantages/{vantage}/token",
                "/api/v2/proxyhealth/vantages/eu%2Dwest/token"
            ),
            Some("eu-west".to_owned())
        );
        assert_eq!(
            path_object("/api/v2/workspaceproxies", "/api/v2/workspaceproxies"),
            None
        );
    }

    #[test]
    fn known_routes_have_names_and_others_their_method_and_route() {
        assert_eq!(
            action(&Method::DELETE, "/api/v2/proxyhealth/tokens/{token}"),
            "token.revoke"
        );
        assert_eq!(action(&Method::PUT, "/api/v2/x/{y}"), "PUT /api/v2/x/{y}");
    }
}

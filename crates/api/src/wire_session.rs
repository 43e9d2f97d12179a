//! The JSON shape of `GET /api/v2/proxyhealth/session`: whether sign-in is
//! configured and who is signed in. Re-exported by [`crate::wire`].

use proxyhealth_core::Role;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// The header a dashboard session's state-changing request carries its
/// [`SessionInfo::csrf_token`] in.
pub const CSRF_HEADER: &str = "X-Proxyhealth-CSRF";

/// Whether dashboard sign-in is configured, and who is signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    /// Whether sign-in with OpenID Connect is configured.
    pub oidc: bool,
    /// Whether the request carried a valid session.
    pub signed_in: bool,
    /// Where the dashboard sends the browser to sign in (when `oidc`).
    #[schema(required = true)]
    pub login_url: Option<String>,
    /// The signed-in user's name: the ID token's `name`, else email, else subject.
    #[schema(required = true)]
    pub name: Option<String>,
    /// The ID token's `email`, when it had one.
    #[schema(required = true)]
    pub email: Option<String>,
    /// The ID token's `sub`.
    #[schema(required = true)]
    pub subject: Option<String>,
    /// The role the session acts in.
    #[schema(required = true)]
    pub role: Option<Role>,
    /// The value state-changing requests of this session send in
    /// `X-Proxyhealth-CSRF`.
    #[schema(required = true)]
    pub csrf_token: Option<String>,
    /// When the session ends.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(required = true)]
    pub expires_at: Option<OffsetDateTime>,
}

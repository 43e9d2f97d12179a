//! The JSON shapes of who may act and what they did: personal tokens
//! (`/api/v2/proxyhealth/tokens`) and the audit log
//! (`/api/v2/proxyhealth/audit`). Re-exported by [`crate::wire`].

use proxyhealth_core::access::Role;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A personal token (never its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PersonalTokenInfo {
    /// Its name, unique ignoring case.
    #[schema(max_length = 32)]
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working; `null`: never.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(required = true)]
    pub expires_at: Option<OffsetDateTime>,
    /// When it was last used (written at most about once a minute); `null`:
    /// never.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(required = true)]
    pub last_used_at: Option<OffsetDateTime>,
    /// When it was revoked; `null`: it was not.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(required = true)]
    pub revoked_at: Option<OffsetDateTime>,
}

/// `GET /api/v2/proxyhealth/tokens`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PersonalTokensResponse {
    /// Every token, revoked ones too, by name.
    pub tokens: Vec<PersonalTokenInfo>,
}

/// `POST /api/v2/proxyhealth/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePersonalTokenRequest {
    /// The name: letters, digits and single hyphens, 1 to 32 characters.
    #[schema(max_length = 32)]
    pub name: String,
    /// `viewer`, `operator` or `admin`.
    pub role: Role,
    /// Seconds from now until the token stops working (at least 1); absent
    /// or `null`: it never expires.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub expires_in_seconds: Option<u64>,
}

/// A token and its value, shown only now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedPersonalTokenResponse {
    /// The token.
    pub token: PersonalTokenInfo,
    /// `pht_<name>_<64 hex>`, sent as `Authorization: Bearer <value>`; only
    /// its hash is kept, so it cannot be shown again.
    pub value: String,
}

/// One thing a person did (or tried to do) through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    /// Its id: newer entries have larger ids.
    pub id: i64,
    /// When it was answered.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who: `admin token`, `token <name>`, or a signed-in user's email
    /// (else subject).
    pub actor: String,
    /// How they proved it: `admin_token`, `personal_token` or `oidc`.
    pub credential: String,
    /// A signed-in user's `sub` claim; `null` for tokens.
    #[schema(required = true)]
    pub subject: Option<String>,
    /// A signed-in user's email; `null` for tokens or when the ID token had none.
    #[schema(required = true)]
    pub email: Option<String>,
    /// The role they acted in.
    pub role: Role,
    /// What: `proxy.create`, `token.revoke`, … (docs/api.md lists them).
    pub action: String,
    /// The HTTP method.
    pub method: String,
    /// The route's template (`/api/v2/workspaceproxies/{proxy}`), never the
    /// query or body.
    pub route: String,
    /// What it was done to: the path's id or name (`eu-west`), or `null`.
    #[schema(required = true)]
    pub object: Option<String>,
    /// The client's address, when known.
    #[schema(required = true)]
    pub client: Option<String>,
    /// The answer's status code: 2xx done, 403 refused for the role, …
    pub status: u16,
}

/// `GET /api/v2/proxyhealth/audit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditResponse {
    /// The newest entries first.
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; `null` on the last page.
    #[schema(required = true)]
    pub next_before: Option<i64>,
}

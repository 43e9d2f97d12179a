//! Who is acting and what they may do: the three roles people hold, and the
//! principal a request is made by.
//!
//! The roles are ordered: each one may do everything the one below it may.
//! A `viewer` reads what a dashboard shows (never a secret), an `operator`
//! also acts on the checking (check now, maintenance windows, a test
//! notification), an `admin` also changes what is checked and who may act
//! (proxies, vantages, tokens, settings). Proxies and agents are not people:
//! their tokens never carry a role, and the routes they use are their own.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a person (a personal token, a signed-in user, the bootstrap admin
/// token) may do. Ordered: `Viewer < Operator < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    /// Reads everything a dashboard shows, never a secret.
    Viewer,
    /// Also: check now, maintenance windows, a test notification.
    Operator,
    /// Also: proxies, vantages, tokens and settings.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// The role's name as the API, the CLI and the database spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may do what `required` may.
    pub fn allows(self, required: Role) -> bool {
        self >= required
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is none of `viewer`, `operator`, `admin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected viewer, operator or admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(UnknownRole(other.to_owned())),
        }
    }
}

/// How a principal proved who it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credential {
    /// The bootstrap admin token (`--admin-token`).
    AdminToken,
    /// A personal token, by the name it was created with.
    PersonalToken {
        /// The token's name (`tokens create --name`).
        name: String,
    },
    /// A dashboard session opened by signing in with OpenID Connect.
    Oidc {
        /// The ID token's `sub` claim.
        subject: String,
        /// The ID token's `email` claim, when it had one.
        email: Option<String>,
    },
}

/// Who made a request, with the role it acts in: what the audit log records
/// as "who", and what a route's required role is checked against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// How it proved who it is.
    #[serde(flatten)]
    pub credential: Credential,
    /// What it may do.
    pub role: Role,
}

impl Principal {
    /// The bootstrap admin, acting with the admin token.
    pub fn admin_token() -> Self {
        Principal {
            credential: Credential::AdminToken,
            role: Role::Admin,
        }
    }

    /// The name people read for this principal: `admin token`, the token's
    /// name, or the signed-in user's email (else subject).
    pub fn display_name(&self) -> String {
        match &self.credential {
            Credential::AdminToken => "admin token".to_owned(),
            Credential::PersonalToken { name } => format!("token {name}"),
            Credential::Oidc { subject, email } => email.clone().unwrap_or_else(|| subject.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_may_do_what_an_operator_may_but_a_viewer_may_not() {
        assert!(Role::Admin.allows(Role::Operator));
        assert!(Role::Operator.allows(Role::Operator));
        assert!(!Role::Viewer.allows(Role::Operator));
    }

    #[test]
    fn a_role_reads_back_from_its_name_and_an_unknown_one_is_named() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        let err = "root".parse::<Role>().expect_err("not a role");
        assert_eq!(
            err.to_string(),
            "unknown role \"root\": expected viewer, operator or admin"
        );
    }

    #[test]
    fn a_signed_in_user_is_named_by_email_else_subject() {
        let user = Principal {
            credential: Credential::Oidc {
                subject: "u-1".into(),
                email: Some("ana@example.com".into()),
            },
            role: Role::Viewer,
        };
        assert_eq!(user.display_name(), "ana@example.com");
        let anonymous = Principal {
            credential: Credential::Oidc {
                subject: "u-2".into(),
                email: None,
            },
            role: Role::Viewer,
        };
        assert_eq!(anonymous.display_name(), "u-2");
    }
}

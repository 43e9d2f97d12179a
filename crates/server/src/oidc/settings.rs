//! What sign-in is configured with, and the check that it is complete.

use proxyhealth_core::Role;
use std::time::Duration;
use url::Url;

/// The default scopes asked for.
pub const DEFAULT_SCOPES: &str = "openid email profile";
/// The default lifetime of a session.
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// How long a login may take between the redirect to the provider and its
/// callback.
pub const LOGIN_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// Dashboard sign-in with OpenID Connect, as configured.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// The provider's issuer URL; its discovery document is read from
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer_url: Url,
    /// This service's client id at the provider (the ID token's audience).
    pub client_id: String,
    /// The client secret, when the provider gave one; never logged.
    pub client_secret: Option<String>,
    /// The scopes asked for (`openid` is always among them).
    pub scopes: Vec<String>,
    /// The ID token claim the role is read from (`groups`, say).
    pub role_claim: Option<String>,
    /// Values of the role claim that make an admin.
    pub admin_values: Vec<String>,
    /// Values of the role claim that make an operator.
    pub operator_values: Vec<String>,
    /// The role of a user no value maps; `None` refuses them.
    pub default_role: Option<Role>,
    /// Email domains allowed to sign in; empty allows any.
    pub allowed_domains: Vec<String>,
    /// The service's external URL: the redirect URI is
    /// `{public_url}/auth/callback`, and cookies are `Secure` when it is https.
    pub public_url: Url,
    /// How long a session lasts.
    pub session_lifetime: Duration,
}

impl std::fmt::Debug for OidcSettings {
    /// Never prints the client secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer_url", &self.issuer_url.as_str())
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("scopes", &self.scopes)
            .field("role_claim", &self.role_claim)
            .field("admin_values", &self.admin_values)
            .field("operator_values", &self.operator_values)
            .field("default_role", &self.default_role)
            .field("allowed_domains", &self.allowed_domains)
            .field("public_url", &self.public_url.as_str())
            .field("session_lifetime", &self.session_lifetime)
            .finish()
    }
}

/// Why the sign-in settings cannot be used; each message names the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcSettingsError {
    /// A setting sign-in needs is missing.
    #[error("{missing} is required when {given} is set")]
    Missing {
        /// The flag that is missing.
        missing: &'static str,
        /// The flag that asks for sign-in.
        given: &'static str,
    },
    /// A setting's value cannot be used.
    #[error("invalid {setting}: {why}")]
    Invalid {
        /// The flag.
        setting: &'static str,
        /// Why.
        why: String,
    },
}

impl OidcSettings {
    /// Checks what the settings cannot hold by their types.
    pub fn validate(&self) -> Result<(), OidcSettingsError> {
        for (setting, url) in [
            ("--oidc-issuer-url", &self.issuer_url),
            ("--public-url", &self.public_url),
        ] {
            if !matches!(url.scheme(), "http" | "https") {
                return Err(OidcSettingsError::Invalid {
                    setting,
                    why: format!("{url} is not an http or https URL"),
                });
            }
        }
        if self.client_id.trim().is_empty() {
            return Err(OidcSettingsError::Invalid {
                setting: "--oidc-client-id",
                why: "it is empty".to_owned(),
            });
        }
        if !self.scopes.iter().any(|scope| scope == "openid") {
            return Err(OidcSettingsError::Invalid {
                setting: "--oidc-scopes",
                why: "it must include openid".to_owned(),
            });
        }
        let maps_values = !self.admin_values.is_empty() || !self.operator_values.is_empty();
        if maps_values && self.role_claim.is_none() {
            return Err(OidcSettingsError::Missing {
                missing: "--oidc-role-claim",
                given: "--oidc-admin-values or --oidc-operator-values",
            });
        }
        if self.default_role.is_none() && !maps_values {
            return Err(OidcSettingsError::Invalid {
                setting: "--oidc-default-role",
                why: "it is none and no --oidc-admin-values or --oidc-operator-values map a \
                      role, so nobody could sign in"
                    .to_owned(),
            });
        }
        if self.session_lifetime.is_zero() {
            return Err(OidcSettingsError::Invalid {
                setting: "--session-lifetime",
                why: "it must be longer than zero".to_owned(),
            });
        }
        Ok(())
    }

    /// Whether cookies are `Secure`: the service is reached over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// `{public_url}/auth/callback`, where the provider sends the browser back.
    pub fn redirect_uri(&self) -> String {
        format!(
            "{}/auth/callback",
            self.public_url.as_str().trim_end_matches('/')
        )
    }
}

//! Dashboard sign-in with OpenID Connect: the provider, this service's client
//! id and secret, the scopes, how claims map to roles, the email domains
//! allowed and the session lifetime. `serve` reads them; sign-in is on when
//! `oidc_issuer_url` is set, and the redirect URI is `{public_url}/auth/callback`
//! (`--public-url`, shared with the notifications' links).

use super::layer::{HelpDefault, settings_group};
use super::units::{format_duration, parse_positive_duration};
use proxyhealth_core::Role;
use proxyhealth_server::oidc::{DEFAULT_SCOPES, DEFAULT_SESSION_LIFETIME, OidcSettings};
use serde::Deserialize;
use serde::de::{Deserializer, Error as _};
use std::time::Duration;
use url::Url;

settings_group! {
    /// Dashboard sign-in, as the flags (with their variables) or the file
    /// give them.
    pub struct OidcLayer {
        /// The OpenID Connect provider's issuer URL; sets dashboard sign-in on
        /// (needs --oidc-client-id and --public-url)
        #[arg(
            long,
            env = "PROXYHEALTH_OIDC_ISSUER_URL",
            value_name = "URL",
            value_parser = http_url,
            help_default = "none, sign-in off"
        )]
        #[serde(deserialize_with = "url_value")]
        pub oidc_issuer_url: Option<Url>,

        /// This service's client id at the provider (the ID token's audience)
        #[arg(
            long,
            env = "PROXYHEALTH_OIDC_CLIENT_ID",
            value_name = "ID",
            help_default = "none"
        )]
        #[serde(deserialize_with = "super::file_value::string")]
        pub oidc_client_id: Option<String>,

        /// The client secret the provider gave, if any; prefer the variable
        #[arg(
            long,
            env = "PROXYHEALTH_OIDC_CLIENT_SECRET",
            value_name = "SECRET",
            hide_env_values = true,
            help_default = "none, a public client with PKCE"
        )]
        #[serde(deserialize_with = "super::file_value::string")]
        pub oidc_client_secret: Option<String>,

        /// The scopes asked for, separated by spaces (openid among them)
        #[arg(
            long,
            env = "PROXYHEALTH_OIDC_SCOPES",
            value_name = "SCOPES",
            help_default = DEFAULT_SCOPES
        )]
        #[serde(deserialize_with = "super::file_value::string")]
        pub oidc_scopes: Option<String>,

        /// The ID token claim roles are read from (a string or a list of
        /// strings, such as `groups`)
        #[arg(
            long,
            env = "PROXYHEALTH_OIDC_ROLE_CLAIM",
            value_name = "CLAIM",
            help_default = "none"
        )]
        #[serde(deserialize_with = "super::file_value::string")]
        pub oidc_role_claim: Option<String>,

        /// Values of the role claim that make an admin (comma-separated)
        #[arg(
            long,
            env = "PROXYHEALTH_OIDC_ADMIN_VALUES",
            value_name = "VALUES",
            value_delimiter = ',',
            help_default = "none"
        )]
        #[serde(deserialize_with = "list")]
        pub oidc_admin_values: Option<Vec<String>>,

        /// Values of the role claim that make an operator (comma-separated)
        #[arg(
            long,
            env = "PROXYHEALTH_OIDC_OPERATOR_VALUES",
            value_name = "VALUES",
            value_delimiter = ',',
            help_default = "none"
        )]
        #[serde(deserialize_with = "list")]
        pub oidc_operator_values: Option<Vec<String>>,

        /// The role of a user no claim value maps: viewer, operator, admin,
        /// or none to refuse their sign-in
        #[arg(
            long,
            env = "PROXYHEALTH_OIDC_DEFAULT_ROLE",
            value_name = "ROLE",
            value_parser = default_role,
            help_default = "none"
        )]
        #[serde(deserialize_with = "default_role_value")]
        pub oidc_default_role: Option<DefaultRole>,

        /// Email domains allowed to sign in (comma-separated); users without
        /// a verified email in one are refused
        #[arg(
            long,
            env = "PROXYHEALTH_OIDC_ALLOWED_DOMAINS",
            value_name = "DOMAINS",
            value_delimiter = ',',
            help_default = "any"
        )]
        #[serde(deserialize_with = "list")]
        pub oidc_allowed_domains: Option<Vec<String>>,

        /// How long a dashboard session lasts (the cookie's Max-Age, also
        /// enforced by the server)
        #[arg(
            long,
            env = "PROXYHEALTH_SESSION_LIFETIME",
            value_name = "DURATION",
            value_parser = parse_positive_duration,
            help_default = format_duration(DEFAULT_SESSION_LIFETIME)
        )]
        #[serde(deserialize_with = "super::file_value::positive_duration")]
        pub session_lifetime: Option<Duration>,
    }
}

/// `--oidc-default-role`: a role, or none (refuse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultRole(pub Option<Role>);

fn default_role(text: &str) -> Result<DefaultRole, String> {
    match text {
        "none" => Ok(DefaultRole(None)),
        other => other
            .parse()
            .map(|role| DefaultRole(Some(role)))
            .map_err(|_| {
                format!("unknown role {other:?}: expected viewer, operator, admin or none")
            }),
    }
}

fn default_role_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DefaultRole>, D::Error> {
    let text = String::deserialize(d)?;
    default_role(&text).map(Some).map_err(D::Error::custom)
}

fn http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|err| err.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text} is not an http or https URL"));
    }
    Ok(url)
}

fn url_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    let text = String::deserialize(d)?;
    http_url(&text).map(Some).map_err(D::Error::custom)
}

/// A list of strings in the file: an array, or one string of comma-separated values.
fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let values = match OneOrMany::deserialize(d)
        .map_err(|_| D::Error::custom("expected a string or an array of strings"))?
    {
        OneOrMany::One(text) => text.split(',').map(str::to_owned).collect(),
        OneOrMany::Many(values) => values,
    };
    Ok(Some(clean(values)))
}

/// Values trimmed, empty ones dropped.
fn clean(values: Vec<String>) -> Vec<String> {
    values
        .into_iter()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .collect()
}

impl OidcLayer {
    /// The sign-in settings: `None` without `oidc_issuer_url`; an error naming
    /// the setting when one sign-in needs is missing. `public_url` is
    /// `--public-url`.
    pub fn resolve(self, public_url: Option<&Url>) -> Result<Option<OidcSettings>, String> {
        let Some(issuer_url) = self.oidc_issuer_url else {
            return Ok(None);
        };
        let client_id = self
            .oidc_client_id
            .filter(|id| !id.trim().is_empty())
            .ok_or("--oidc-client-id (PROXYHEALTH_OIDC_CLIENT_ID) is required when --oidc-issuer-url is set")?;
        let public_url = public_url.cloned().ok_or(
            "--public-url (PROXYHEALTH_PUBLIC_URL) is required when --oidc-issuer-url is set: \
             the provider sends the browser back to {public_url}/auth/callback",
        )?;
        let scopes = self
            .oidc_scopes
            .unwrap_or_else(|| DEFAULT_SCOPES.to_owned())
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let settings = OidcSettings {
            issuer_url,
            client_id,
            client_secret: self.oidc_client_secret.filter(|secret| !secret.is_empty()),
            scopes,
            role_claim: self
                .oidc_role_claim
                .filter(|claim| !claim.trim().is_empty()),
            admin_values: clean(self.oidc_admin_values.unwrap_or_default()),
            operator_values: clean(self.oidc_operator_values.unwrap_or_default()),
            default_role: self.oidc_default_role.and_then(|role| role.0),
            allowed_domains: clean(self.oidc_allowed_domains.unwrap_or_default()),
            public_url,
            session_lifetime: self.session_lifetime.unwrap_or(DEFAULT_SESSION_LIFETIME),
        };
        settings.validate().map_err(|err| err.to_string())?;
        Ok(Some(settings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer() -> OidcLayer {
        OidcLayer {
            oidc_issuer_url: Url::parse("https://idp.example").ok(),
            oidc_client_id: Some("proxyhealth".into()),
            oidc_default_role: Some(DefaultRole(Some(Role::Viewer))),
            ..OidcLayer::default()
        }
    }

    #[test]
    fn sign_in_is_off_without_an_issuer() {
        assert_eq!(OidcLayer::default().resolve(None), Ok(None));
    }

    #[test]
    fn a_missing_setting_is_named() {
        let public = Url::parse("https://health.example").expect("a URL");
        let err = OidcLayer {
            oidc_client_id: None,
            ..layer()
        }
        .resolve(Some(&public))
        .expect_err("no client id");
        assert!(err.starts_with("--oidc-client-id"), "{err}");
        let err = layer().resolve(None).expect_err("no public URL");
        assert!(err.starts_with("--public-url"), "{err}");
        let err = OidcLayer {
            oidc_default_role: None,
            ..layer()
        }
        .resolve(Some(&public))
        .expect_err("nobody could sign in");
        assert!(err.contains("--oidc-default-role"), "{err}");
    }

    #[test]
    fn the_defaults_fill_what_is_not_given() {
        let public = Url::parse("https://health.example").expect("a URL");
        let settings = layer()
            .resolve(Some(&public))
            .expect("valid")
            .expect("sign-in on");
        assert_eq!(settings.scopes, ["openid", "email", "profile"]);
        assert_eq!(settings.session_lifetime, DEFAULT_SESSION_LIFETIME);
        assert_eq!(
            settings.redirect_uri(),
            "https://health.example/auth/callback"
        );
        assert!(settings.secure_cookies());
    }
}

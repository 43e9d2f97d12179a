//! What a verified ID token's claims make of the user: the role its role
//! claim maps to, whether its email's domain may sign in; and where the
//! browser may be sent back to.

use super::settings::OidcSettings;
use proxyhealth_core::Role;
use serde_json::Value;

/// Why a user whose ID token checked out may still not sign in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// No value of the role claim maps a role and there is no default.
    #[error(
        "no role: the {claim:?} claim maps to neither admin nor operator, and \
         --oidc-default-role is none"
    )]
    NoRole {
        /// The role claim's name (or `(none)`).
        claim: String,
    },
    /// The email's domain is not among the allowed ones.
    #[error("the email domain of {email:?} is not allowed to sign in")]
    DomainNotAllowed {
        /// The email.
        email: String,
    },
    /// Allowed domains are set and the token has no (verified) email.
    #[error("the ID token has no verified email, and only some email domains may sign in")]
    NoEmail,
}

/// The role `claims` (the ID token's payload) map to, the highest any value
/// of the role claim gives, else the default role.
pub(crate) fn role_of(settings: &OidcSettings, claims: &Value) -> Result<Role, Refusal> {
    let values = settings
        .role_claim
        .as_deref()
        .map(|claim| claim_values(claims.get(claim)))
        .unwrap_or_default();
    let has = |wanted: &[String]| values.iter().any(|value| wanted.contains(value));
    if has(&settings.admin_values) {
        return Ok(Role::Admin);
    }
    if has(&settings.operator_values) {
        return Ok(Role::Operator);
    }
    settings.default_role.ok_or_else(|| Refusal::NoRole {
        claim: settings
            .role_claim
            .clone()
            .unwrap_or_else(|| "(none)".to_owned()),
    })
}

/// A claim's values: a string, or the strings of an array.
fn claim_values(claim: Option<&Value>) -> Vec<String> {
    match claim {
        Some(Value::String(value)) => vec![value.clone()],
        Some(Value::Array(values)) => values
            .iter()
            .filter_map(|value| value.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether the user's email may sign in: any when no domains are set, else a
/// verified email (not `email_verified: false`) in one of them.
pub(crate) fn check_domain(
    settings: &OidcSettings,
    email: Option<&str>,
    email_verified: Option<bool>,
) -> Result<(), Refusal> {
    if settings.allowed_domains.is_empty() {
        return Ok(());
    }
    let Some(email) = email.filter(|_| email_verified != Some(false)) else {
        return Err(Refusal::NoEmail);
    };
    let domain = email.rsplit_once('@').map(|(_, domain)| domain);
    let allowed = domain.is_some_and(|domain| {
        settings
            .allowed_domains
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(domain))
    });
    if allowed {
        Ok(())
    } else {
        Err(Refusal::DomainNotAllowed {
            email: email.to_owned(),
        })
    }
}

/// `return_to` if it is a path on this site, else `/`: it must start with a
/// single `/`, and hold no backslash, no control character and no scheme, so
/// `//evil`, `/\evil`, `https://evil` never leave the site.
pub(crate) fn safe_return_to(return_to: Option<&str>) -> String {
    let Some(path) = return_to else {
        return "/".to_owned();
    };
    let on_site = path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
        && path.len() <= 2048;
    if on_site {
        path.to_owned()
    } else {
        "/".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn settings() -> OidcSettings {
        OidcSettings {
            issuer_url: "https://idp.example".parse().expect("a URL"),
            client_id: "proxyhealth".into(),
            client_secret: None,
            scopes: vec!["openid".into()],
            role_claim: Some("groups".into()),
            admin_values: vec!["ph-admins".into()],
            operator_values: vec!["ph-operators".into()],
            default_role: None,
            allowed_domains: vec!["example.com".into()],
            public_url: "https://health.example".parse().expect("a URL"),
            session_lifetime: Duration::from_secs(60),
        }
    }

    #[test]
    fn the_highest_role_a_claim_value_maps_wins() {
        let claims = json!({"groups": ["ph-operators", "ph-admins"]});
        assert_eq!(role_of(&settings(), &claims), Ok(Role::Admin));
        let claims = json!({"groups": "ph-operators"});
        assert_eq!(role_of(&settings(), &claims), Ok(Role::Operator));
    }

    #[test]
    fn an_unmapped_user_gets_the_default_role_or_is_refused() {
        let claims = json!({"groups": ["staff"]});
        assert_eq!(
            role_of(&settings(), &claims),
            Err(Refusal::NoRole {
                claim: "groups".into()
            })
        );
        let viewer = OidcSettings {
            default_role: Some(Role::Viewer),
            ..settings()
        };
        assert_eq!(role_of(&viewer, &claims), Ok(Role::Viewer));
    }

    #[test]
    fn only_verified_emails_of_allowed_domains_sign_in() {
        let s = settings();
        assert_eq!(
            check_domain(&s, Some("ana@EXAMPLE.com"), Some(true)),
            Ok(())
        );
        assert_eq!(
            check_domain(&s, Some("eve@evil.example"), None),
            Err(Refusal::DomainNotAllowed {
                email: "eve@evil.example".into()
            })
        );
        assert_eq!(
            check_domain(&s, Some("ana@example.com"), Some(false)),
            Err(Refusal::NoEmail)
        );
        assert_eq!(check_domain(&s, None, None), Err(Refusal::NoEmail));
    }

    #[test]
    fn a_return_to_off_the_site_becomes_the_root() {
        assert_eq!(safe_return_to(Some("/proxies/abc?x=1")), "/proxies/abc?x=1");
        for evil in ["//evil", "https://evil", "/\\evil", "evil", "/\nx", ""] {
            assert_eq!(safe_return_to(Some(evil)), "/", "{evil:?}");
        }
        assert_eq!(safe_return_to(None), "/");
    }
}

//! The proxy record and the hosts derived from its URL.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// One row of Coder's `workspace_proxies` table, as the store returns it.
///
/// The engine keeps a copy of the row as it was when checked in each
/// [`crate::ProxyStatus`], so consumers can tell whether a status is for an
/// older version of the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proxy {
    /// Primary key, generated at creation.
    pub id: Uuid,
    /// Unique (case-insensitively, among non-deleted proxies) short name.
    pub name: String,
    /// Human-readable name shown in the dashboard.
    pub display_name: String,
    /// Icon URL or `/emojis/…` path.
    pub icon: String,
    /// Access URL including the scheme; empty until the proxy registers.
    pub url: String,
    /// App wildcard hostname such as `*.us.example.com`; may stay empty.
    pub wildcard_hostname: String,
    /// When the proxy was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the proxy was last changed (including by a registration).
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Soft-delete flag; deleted proxies are never checked.
    pub deleted: bool,
    /// SHA-256 of the secret half of the proxy token (never the secret itself).
    #[serde(skip)]
    pub token_hashed_secret: Vec<u8>,
    /// Small integer unique per proxy, used to derive DERP region ids.
    pub region_id: i32,
    /// Whether the proxy runs a DERP relay.
    pub derp_enabled: bool,
    /// Whether the proxy only relays DERP and serves no apps.
    pub derp_only: bool,
    /// Version the proxy reported when it last registered.
    pub version: String,
}

impl Proxy {
    /// Whether the proxy has registered a URL (an empty URL means it has not).
    pub fn is_registered(&self) -> bool {
        !self.url.is_empty()
    }
}

/// The hosts of a registered proxy, as the security headers (CSP) need them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProxyHost {
    /// `host[:port]` of the proxy URL.
    pub host: String,
    /// The app host: `host`, or the wildcard hostname with its first label turned into `*`.
    pub app_host: String,
}

impl ProxyHost {
    /// The hosts of a proxy with this `host[:port]` and wildcard hostname.
    pub fn new(host: &str, wildcard_hostname: &str) -> Self {
        ProxyHost {
            host: host.to_owned(),
            app_host: app_host_for_csp(host, wildcard_hostname),
        }
    }
}

/// Coder's `ConvertAppHostForCSP`: the form of the app wildcard that a CSP accepts.
///
/// An empty wildcard gives `host`. A wildcard with `*` in any label but the first
/// also gives `host`. Otherwise the first label, if it holds a `*`, becomes `*`:
/// `*--apps.coder.com` gives `*.coder.com`.
pub fn app_host_for_csp(host: &str, wildcard: &str) -> String {
    if wildcard.is_empty() {
        return host.to_owned();
    }
    let mut labels: Vec<&str> = wildcard.split('.').collect();
    if labels.iter().skip(1).any(|label| label.contains('*')) {
        return host.to_owned();
    }
    if labels.first().is_some_and(|first| first.contains('*')) {
        labels[0] = "*";
    }
    labels.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_wildcard_gives_the_host() {
        assert_eq!(
            app_host_for_csp("p.example.com:8443", ""),
            "p.example.com:8443"
        );
    }

    #[test]
    fn a_starred_first_label_becomes_a_plain_star() {
        assert_eq!(
            app_host_for_csp("p.coder.com", "*--apps.coder.com"),
            "*.coder.com"
        );
        assert_eq!(
            app_host_for_csp("p.coder.com", "*.us.coder.com"),
            "*.us.coder.com"
        );
    }

    #[test]
    fn a_star_after_the_first_label_gives_the_host() {
        assert_eq!(
            app_host_for_csp("p.coder.com", "apps.*.coder.com"),
            "p.coder.com"
        );
    }

    #[test]
    fn a_wildcard_without_a_star_is_kept() {
        assert_eq!(
            app_host_for_csp("p.coder.com", "apps.coder.com"),
            "apps.coder.com"
        );
    }
}

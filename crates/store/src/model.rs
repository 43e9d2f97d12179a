//! The values callers hand to a store and get back from it.

use proxyhealth_core::Proxy;

/// A proxy to create (Coder's `CreateWorkspaceProxyRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewProxy {
    /// Unique short name (1 to 64 characters, not `primary`).
    pub name: String,
    /// Human-readable name; empty is allowed.
    pub display_name: String,
    /// Icon URL or `/emojis/…` path; empty is allowed.
    pub icon: String,
}

/// A created (or re-keyed) proxy with its token, which is shown only this once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedProxy {
    /// The stored row.
    pub proxy: Proxy,
    /// `<proxy uuid>:<64 hex>`; only its hash is stored, so it cannot be shown again.
    pub token: String,
}

/// A change to a proxy's descriptive fields; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyUpdate {
    /// New name, checked like a new proxy's.
    pub name: Option<String>,
    /// New display name.
    pub display_name: Option<String>,
    /// New icon.
    pub icon: Option<String>,
}

/// What a proxy reports when it registers (`POST /workspaceproxies/me/register`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registration {
    /// Access URL (`http`/`https`, empty path or `/`).
    pub url: String,
    /// App wildcard hostname such as `*.us.example.com`, or empty.
    pub wildcard_hostname: String,
    /// Whether the proxy runs a DERP relay.
    pub derp_enabled: bool,
    /// Whether the proxy only relays DERP (needs `derp_enabled`).
    pub derp_only: bool,
    /// The proxy's build version.
    pub version: String,
}

impl Registration {
    /// Whether `proxy` already holds exactly what this registration reports,
    /// so storing it would change nothing but `updated_at`.
    pub fn matches(&self, proxy: &Proxy) -> bool {
        self.url == proxy.url
            && self.wildcard_hostname == proxy.wildcard_hostname
            && self.derp_enabled == proxy.derp_enabled
            && self.derp_only == proxy.derp_only
            && self.version == proxy.version
    }
}

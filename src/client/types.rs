//! The API's JSON shapes as the CLI reads them (see docs/api.md).
//!
//! Reading is lenient (missing fields take defaults) so a newer server's
//! additions or an older server's omissions never break the CLI; the JSON the
//! CLI prints is the server's own, passed through unchanged.

use serde::Deserialize;

/// A proxy's report: its errors and warnings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Report {
    /// Errors (the proxy is unhealthy).
    pub errors: Vec<String>,
    /// Warnings (the proxy works, with a caveat).
    pub warnings: Vec<String>,
}

/// A proxy's status as the API returns it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProxyStatus {
    /// `ok`, `unhealthy`, `unreachable`, `unregistered` or `unknown`.
    pub status: String,
    /// The proxy's report.
    pub report: Report,
    /// Latency of the last check, when a request was made.
    pub latency_ms: Option<f64>,
}

/// A proxy (`WorkspaceProxy`), the fields the CLI shows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct WorkspaceProxy {
    /// The proxy's id.
    pub id: String,
    /// The short name.
    pub name: String,
    /// The human-readable name.
    pub display_name: String,
    /// The icon.
    pub icon_url: String,
    /// The URL the proxy registered (empty until it does).
    pub path_app_url: String,
    /// The status.
    pub status: ProxyStatus,
}

/// `GET /api/v2/workspaceproxies`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProxyList {
    /// Every proxy, ordered by name.
    pub regions: Vec<WorkspaceProxy>,
}

/// The answer to create, edit and regenerate-token.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProxyWithToken {
    /// The proxy.
    pub proxy: WorkspaceProxy,
    /// The token, when one was minted (empty otherwise).
    pub proxy_token: String,
}

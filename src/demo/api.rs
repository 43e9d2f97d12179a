//! The two API calls the demo makes as an admin and as its proxies would: create
//! a proxy (`POST /api/v2/workspaceproxies`) and register it
//! (`POST /api/v2/workspaceproxies/me/register`), over real HTTP.

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

/// The proxy token header, as Coder's proxies send it.
const PROXY_TOKEN_HEADER: &str = "Coder-External-Proxy-Token";
/// The version the demo proxies announce (the simulated proxies' build version).
const PROXY_VERSION: &str = proxyhealth_sim::bodies::BUILD_VERSION;

/// A client of the demo's own service.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

/// `{"proxy": {...}, "proxy_token": "..."}`, the fields the demo needs.
#[derive(Debug, Deserialize)]
struct Created {
    proxy_token: String,
}

/// A Coder error envelope, to say why a call failed.
#[derive(Debug, Deserialize)]
struct Envelope {
    message: String,
    #[serde(default)]
    detail: String,
}

impl Api {
    /// A client of the service at `base` (`http://127.0.0.1:PORT`, no slash).
    pub fn new(base: String) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        Ok(Api { http, base })
    }

    /// Creates a proxy as the admin; returns its token.
    pub async fn create_proxy(
        &self,
        admin_token: &str,
        name: &str,
        display_name: &str,
        icon: &str,
    ) -> anyhow::Result<String> {
        let response = self
            .http
            .post(format!("{}/api/v2/workspaceproxies", self.base))
            .bearer_auth(admin_token)
            .json(&json!({"name": name, "display_name": display_name, "icon": icon}))
            .send()
            .await
            .with_context(|| format!("creating the proxy {name}"))?;
        let created: Created = read(response, 201)
            .await
            .with_context(|| format!("creating the proxy {name}"))?;
        Ok(created.proxy_token)
    }

    /// Registers a proxy with its token, as a workspace proxy does at start and
    /// then periodically.
    pub async fn register(
        &self,
        proxy_token: &str,
        access_url: &str,
        wildcard_hostname: &str,
        replica_id: Uuid,
    ) -> anyhow::Result<()> {
        let body = json!({
            "access_url": access_url,
            "wildcard_hostname": wildcard_hostname,
            "derp_enabled": true,
            "derp_only": false,
            "replica_id": replica_id,
            "hostname": "proxyhealth-demo",
            "replica_error": "",
            "replica_relay_address": "",
            "version": PROXY_VERSION,
        });
        let response = self
            .http
            .post(format!("{}/api/v2/workspaceproxies/me/register", self.base))
            .header(PROXY_TOKEN_HEADER, proxy_token)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("registering {access_url}"))?;
        let _: serde_json::Value = read(response, 201)
            .await
            .with_context(|| format!("registering {access_url}"))?;
        Ok(())
    }
}

/// Decodes the answer when it has the expected status, otherwise fails with the
/// status and the error envelope's message.
async fn read<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    expected: u16,
) -> anyhow::Result<T> {
    let status = response.status();
    let body = response.bytes().await.context("reading the answer")?;
    if status.as_u16() != expected {
        match serde_json::from_slice::<Envelope>(&body) {
            Ok(envelope) if envelope.detail.is_empty() => {
                bail!("answered {status}: {}", envelope.message)
            }
            Ok(envelope) => bail!(
                "answered {status}: {} ({})",
                envelope.message,
                envelope.detail
            ),
            Err(_) => bail!(
                "answered {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ),
        }
    }
    serde_json::from_slice(&body).context("decoding the answer")
}

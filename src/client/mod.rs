//! A small client for the proxyhealth API, used by the `proxies` subcommands.
//!
//! Every call returns the parsed body and the raw JSON, so `--output json` can
//! print exactly what the server said. A failed call becomes an error made of
//! the envelope's message, detail and validations.

pub mod types;

use anyhow::{Context, anyhow};
use proxyhealth_core::envelope::ErrorEnvelope;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// How long one API call may take (a refresh runs a whole sweep, so be generous).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A connection to one server.
pub struct ApiClient {
    http: reqwest::Client,
    base: url::Url,
    token: Option<String>,
}

/// A parsed answer and the JSON it came from.
pub struct Answer<T> {
    /// The parsed body.
    pub value: T,
    /// The body as the server sent it.
    pub raw: serde_json::Value,
}

impl ApiClient {
    /// A client for the server at `base`, sending `token` as the admin bearer token.
    pub fn new(base: url::Url, token: Option<String>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .no_proxy()
            .build()
            .context("building the HTTP client")?;
        Ok(ApiClient { http, base, token })
    }

    fn url(&self, path: &str) -> anyhow::Result<url::Url> {
        self.base
            .join(path)
            .with_context(|| format!("building a URL from {} and {path}", self.base))
    }

    /// Sends a request and parses a successful answer; a failure becomes an error
    /// with the server's message, detail and validations.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<Answer<T>> {
        let url = self.url(path)?;
        let mut request = self.http.request(method.clone(), url.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url}: cannot reach the server"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("{method} {url}: reading the answer"))?;
        if !status.is_success() {
            return Err(api_error(status, &bytes));
        }
        let raw: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{method} {url}: the answer is not JSON"))?;
        let value = serde_json::from_value(raw.clone())
            .with_context(|| format!("{method} {url}: unexpected answer"))?;
        Ok(Answer { value, raw })
    }

    /// `GET path`, as path segments escaped.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<Answer<T>> {
        self.call(Method::GET, path, None).await
    }
}

/// The path of one proxy, with its name or id escaped as one path segment.
pub fn proxy_path(name_or_id: &str) -> String {
    let mut url = match url::Url::parse("http://x/api/v2/workspaceproxies/") {
        Ok(url) => url,
        Err(_) => return format!("api/v2/workspaceproxies/{name_or_id}"),
    };
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().push(name_or_id);
    }
    url.path().trim_start_matches('/').to_owned()
}

/// Turns an error answer into a message: the envelope's message, then its detail
/// and each validation on their own lines; a non-envelope body is shown as text.
fn api_error(status: StatusCode, body: &[u8]) -> anyhow::Error {
    match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(envelope) if !envelope.message.is_empty() => {
            let mut text = format!("{} ({status})", envelope.message);
            if !envelope.detail.is_empty() {
                text.push_str(&format!("\n  detail: {}", envelope.detail));
            }
            for validation in &envelope.validations {
                text.push_str(&format!("\n  {}: {}", validation.field, validation.detail));
            }
            anyhow!(text)
        }
        _ => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                anyhow!("the server answered {status}")
            } else {
                anyhow!("the server answered {status}: {text}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_escaped_as_one_segment() {
        assert_eq!(proxy_path("eu-west"), "api/v2/workspaceproxies/eu-west");
        assert_eq!(proxy_path("a/b c"), "api/v2/workspaceproxies/a%2Fb%20c");
    }

    #[test]
    fn an_envelope_error_shows_message_detail_and_validations() {
        let body = br#"{"message":"Invalid name.","detail":"too long","validations":[{"field":"name","detail":"at most 64"}]}"#;
        let text = api_error(StatusCode::BAD_REQUEST, body).to_string();
        assert!(
            text.starts_with("Invalid name. (400 Bad Request)"),
            "{text}"
        );
        assert!(text.contains("detail: too long"), "{text}");
        assert!(text.contains("name: at most 64"), "{text}");
    }
}

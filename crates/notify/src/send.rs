//! One delivery attempt: the request a target gets for an event, and what
//! came back. A 2xx answer is a delivery; anything else is an error that
//! says why (the status and the start of the body, a timeout, a refused
//! connection).

use crate::message::{Event, WebhookBody, slack_text};
use crate::settings::{NotifySettings, Target, TargetKind, host_of};
use crate::sign::{DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
use std::time::Duration;

/// Most bytes of an error answer's body kept in the error.
const ERROR_BODY_CHARS: usize = 200;

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The target answered, but not with a 2xx.
    #[error("HTTP {status}{}", body_note(.body))]
    Status {
        /// The answer's status code.
        status: u16,
        /// The start of its body.
        body: String,
    },
    /// No answer within the timeout.
    #[error("no answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// The request could not be made or the answer not read.
    #[error("request to {host} failed: {reason}")]
    Request {
        /// The target's host (never its full URL).
        host: String,
        /// Why.
        reason: String,
    },
    /// The body could not be encoded.
    #[error("cannot encode the body: {0}")]
    Encode(String),
}

fn body_note(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

impl SendError {
    /// The answer's status code, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            SendError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Sends events to targets: one HTTP client (no redirects, no environment
/// proxies, the configured timeout), the settings for the secret and links.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    settings: NotifySettings,
}

impl Sender {
    /// A sender for `settings`.
    pub fn new(settings: NotifySettings) -> Result<Sender, SendError> {
        let client = proxyhealth_api::http::client_builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("proxyhealth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| SendError::Request {
                host: String::new(),
                reason: err.to_string(),
            })?;
        Ok(Sender { client, settings })
    }

    /// The settings it sends with.
    pub fn settings(&self) -> &NotifySettings {
        &self.settings
    }

    /// The body `target` gets for `event`.
    pub fn body(&self, target: &Target, event: &Event) -> Result<Vec<u8>, SendError> {
        let page = match event {
            Event::Change { transition, .. } => self.settings.proxy_page(transition.proxy_id),
            Event::Test => None,
        };
        let encoded = match target.kind {
            TargetKind::Webhook => serde_json::to_vec(&WebhookBody::of(event, page)),
            TargetKind::Slack => serde_json::to_vec(&serde_json::json!({
                "text": slack_text(event, page.as_deref()),
            })),
        };
        encoded.map_err(|err| SendError::Encode(err.to_string()))
    }

    /// One attempt: sends `event` to `target`; the status code of a 2xx answer.
    pub async fn send(&self, target: &Target, event: &Event) -> Result<u16, SendError> {
        let body = self.body(target, event)?;
        let mut request = self
            .client
            .post(target.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, event.kind())
            .header(DELIVERY_HEADER, event.delivery_id());
        if let Some(secret) = &self.settings.secret {
            let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
            request = request
                .header(TIMESTAMP_HEADER, timestamp.to_string())
                .header(
                    SIGNATURE_HEADER,
                    signature(secret.expose(), timestamp, &body),
                );
        }
        let failed = |err: reqwest::Error| {
            if err.is_timeout() {
                SendError::Timeout(self.settings.timeout)
            } else {
                SendError::Request {
                    host: host_of(&target.url),
                    reason: cause(&err),
                }
            }
        };
        let response = request.body(body).send().await.map_err(failed)?;
        let status = response.status();
        if status.is_success() {
            return Ok(status.as_u16());
        }
        let text = response.text().await.unwrap_or_default();
        Err(SendError::Status {
            status: status.as_u16(),
            body: text.trim().chars().take(ERROR_BODY_CHARS).collect(),
        })
    }
}

/// The innermost cause of a request error (reqwest's own text names the URL,
/// which may hold a token).
fn cause(err: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = err;
    while let Some(next) = source.source() {
        source = next;
    }
    let text = source.to_string();
    if err.is_connect() {
        format!("cannot connect: {text}")
    } else {
        text
    }
}

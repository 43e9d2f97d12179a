//! [`ApiError`]: why a call of [`crate::ApiClient`] failed, with the HTTP status
//! and Coder's error envelope when the server answered with an error.

use proxyhealth_core::envelope::ErrorEnvelope;
use reqwest::{Method, StatusCode};
use std::fmt::Write as _;

/// Why an API call failed.
///
/// The texts are what the CLI prints (`error: {err:#}` shows the source too),
/// so they are part of its contract.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The HTTP client could not be built (TLS set-up).
    #[error("building the HTTP client")]
    Client(#[source] reqwest::Error),
    /// The CA certificates to trust for the server do not parse.
    #[error("the CA certificates do not parse: {0}")]
    CaCertificates(String),
    /// The base URL does not parse, or a path cannot be joined to it.
    #[error("building a URL from {base} and {path}")]
    Url {
        /// The base the client was given.
        base: String,
        /// The path joined to it (empty for the base itself).
        path: String,
        /// Why it failed.
        #[source]
        source: url::ParseError,
    },
    /// The request could not be sent or no answer came (refused, timed out).
    #[error("{method} {url}: cannot reach the server")]
    Send {
        /// The request's method.
        method: Method,
        /// The request's URL.
        url: url::Url,
        /// Why it failed.
        #[source]
        source: reqwest::Error,
    },
    /// The answer's body could not be read to its end.
    #[error("{method} {url}: reading the answer")]
    Read {
        /// The request's method.
        method: Method,
        /// The request's URL.
        url: url::Url,
        /// Why it failed.
        #[source]
        source: reqwest::Error,
    },
    /// A successful answer whose body is not JSON.
    #[error("{method} {url}: the answer is not JSON")]
    NotJson {
        /// The request's method.
        method: Method,
        /// The request's URL.
        url: url::Url,
        /// Why it failed.
        #[source]
        source: serde_json::Error,
    },
    /// A successful answer whose JSON is not the expected shape.
    #[error("{method} {url}: unexpected answer")]
    Unexpected {
        /// The request's method.
        method: Method,
        /// The request's URL.
        url: url::Url,
        /// Why it failed.
        #[source]
        source: serde_json::Error,
    },
    /// The server answered with an error status.
    #[error("{}", status_text(*status, envelope.as_ref(), body))]
    Status {
        /// The answer's status.
        status: StatusCode,
        /// The error envelope, when the body is one with a message.
        envelope: Option<ErrorEnvelope>,
        /// The body as text (lossy UTF-8), for answers that are no envelope.
        body: String,
    },
}

impl ApiError {
    /// The HTTP status when the server answered with an error.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's error envelope, when it sent one with a message.
    pub fn envelope(&self) -> Option<&ErrorEnvelope> {
        match self {
            ApiError::Status { envelope, .. } => envelope.as_ref(),
            _ => None,
        }
    }

    /// An error answer: its envelope when the body is one with a message.
    pub(crate) fn from_answer(status: StatusCode, body: &[u8]) -> ApiError {
        let envelope = serde_json::from_slice::<ErrorEnvelope>(body)
            .ok()
            .filter(|envelope| !envelope.message.is_empty());
        ApiError::Status {
            status,
            envelope,
            body: String::from_utf8_lossy(body).into_owned(),
        }
    }
}

/// The text of an error answer: the envelope's message and status, then its
/// detail and each validation on their own lines; a body that is no envelope is
/// shown as text.
fn status_text(status: StatusCode, envelope: Option<&ErrorEnvelope>, body: &str) -> String {
    match envelope {
        Some(envelope) => {
            let mut text = format!("{} ({status})", envelope.message);
            if !envelope.detail.is_empty() {
                let _ = write!(text, "\n  detail: {}", envelope.detail);
            }
            for validation in &envelope.validations {
                let _ = write!(text, "\n  {}: {}", validation.field, validation.detail);
            }
            text
        }
        None => {
            let body = body.trim();
            if body.is_empty() {
                format!("the server answered {status}")
            } else {
                format!("the server answered {status}: {body}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_error_shows_message_detail_and_validations() {
        let body = br#"{"message":"Invalid name.","detail":"too long","validations":[{"field":"name","detail":"at most 64"}]}"#;
        let err = ApiError::from_answer(StatusCode::BAD_REQUEST, body);
        assert_eq!(
            err.to_string(),
            "Invalid name. (400 Bad Request)\n  detail: too long\n  name: at most 64"
        );
        assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
        assert_eq!(
            err.envelope().map(|e| e.validations.len()),
            Some(1),
            "the validations are kept"
        );
    }

    #[test]
    fn a_body_that_is_no_envelope_is_shown_as_text() {
        let err = ApiError::from_answer(StatusCode::BAD_GATEWAY, b" upstream down\n");
        assert_eq!(
            err.to_string(),
            "the server answered 502 Bad Gateway: upstream down"
        );
        assert!(err.envelope().is_none());
        let err = ApiError::from_answer(StatusCode::UNAUTHORIZED, b"");
        assert_eq!(err.to_string(), "the server answered 401 Unauthorized");
        let err = ApiError::from_answer(StatusCode::BAD_REQUEST, br#"{"message":""}"#);
        assert_eq!(
            err.to_string(),
            r#"the server answered 400 Bad Request: {"message":""}"#
        );
    }
}

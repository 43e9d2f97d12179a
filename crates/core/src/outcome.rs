//! What a probe saw on the wire: the engine's hand-over to the classifier.

use std::time::Duration;

/// The result of one `GET <url>/healthz-report`, before it is judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The proxy answered with a status line and headers.
    Response(ProbeResponse),
    /// No response: the connection, TLS, the protocol or the deadline failed.
    Transport(TransportError),
    /// The proxy's URL does not parse, so no request was made.
    InvalidUrl(String),
    /// A request to the URL could not be built (an unsupported scheme, say).
    RequestBuild(String),
}

/// A response as the engine read it, with the body capped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProbeResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The raw `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The `X-Coder-Build-Version` header, if any: a Coder server (primary or proxy) answered.
    pub build_version: Option<String>,
    /// The `Location` header of a redirect that was not followed.
    pub location: Option<String>,
    /// The URL that finally answered (after any redirects followed).
    pub final_url: String,
    /// The body bytes read, at most the body cap.
    pub body: Vec<u8>,
    /// Why the body was not read to its end, if it was not.
    pub body_error: Option<BodyError>,
}

/// Why a body was not read completely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The body is longer than the cap; reading stopped there.
    TooLarge {
        /// The cap in bytes.
        cap: u64,
        /// The length the proxy declared in `Content-Length`, if it did.
        declared: Option<u64>,
    },
    /// The check's deadline passed while the body was being read.
    Timeout {
        /// The check's timeout.
        after: Duration,
    },
    /// The connection failed while the body was being read.
    Read(String),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge {
                cap,
                declared: Some(declared),
            } => write!(
                f,
                "the body is larger than the limit of {cap} bytes (Content-Length: {declared})"
            ),
            BodyError::TooLarge {
                cap,
                declared: None,
            } => {
                write!(f, "the body is larger than the limit of {cap} bytes")
            }
            BodyError::Timeout { after } => write!(
                f,
                "timed out after {} reading the body (the timeout covers the whole request)",
                humanize(*after)
            ),
            BodyError::Read(cause) => {
                write!(f, "the connection failed while reading the body: {cause}")
            }
        }
    }
}

/// A failure before any response arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// The kind of failure, for metrics and summaries.
    pub kind: TransportErrorKind,
    /// The failure with its cause chain, as shown to operators.
    pub message: String,
}

/// Kinds of transport failure: a bounded set, usable as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportErrorKind {
    /// DNS, refused or reset connections.
    Connect,
    /// The deadline passed before the response headers arrived.
    Timeout,
    /// The TLS handshake or certificate check failed.
    Tls,
    /// Redirects could not be followed (a loop, or too many).
    Redirect,
    /// The peer did not speak HTTP properly.
    Protocol,
    /// Anything else.
    Other,
}

impl TransportErrorKind {
    /// A short stable name (`connect`, `timeout`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            TransportErrorKind::Connect => "connect",
            TransportErrorKind::Timeout => "timeout",
            TransportErrorKind::Tls => "tls",
            TransportErrorKind::Redirect => "redirect",
            TransportErrorKind::Protocol => "protocol",
            TransportErrorKind::Other => "other",
        }
    }
}

/// A duration as operators write it: `5s`, `250ms`, `1.5s`.
pub fn humanize(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{}s", duration.as_secs())
    } else if duration < Duration::from_secs(1) {
        format!("{}ms", duration.as_millis())
    } else {
        let seconds = format!("{:.3}", duration.as_secs_f64());
        format!("{}s", seconds.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_operators_write_them() {
        assert_eq!(humanize(Duration::from_secs(5)), "5s");
        assert_eq!(humanize(Duration::from_millis(300)), "300ms");
        assert_eq!(humanize(Duration::from_millis(1500)), "1.5s");
        assert_eq!(humanize(Duration::from_millis(2250)), "2.25s");
    }
}

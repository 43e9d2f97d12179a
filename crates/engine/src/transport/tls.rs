//! The `reqwest` transport: `https://` URLs through rustls, and every URL when
//! the caller supplied its own client.
//!
//! The engine's own client follows no redirects (the pipeline does, by its own
//! rules), keeps no pool and ignores environment proxies.

use super::exchange::{BodyCap, BodyStop, Failure, Head, USER_AGENT};
use super::resolve::ClientResolver;
use crate::error::EngineError;
use crate::http1::head::BUILD_VERSION_HEADER;
use proxyhealth_core::{TransportError, TransportErrorKind};
use std::error::Error as StdError;
use tokio::time::{Instant, timeout_at};
use url::Url;

/// Builds the HTTP client used for TLS proxies when none is given.
///
/// Connections are not reused: every check opens a fresh one, as blackbox_exporter
/// does. A reused connection can hide what a new client would meet (a changed DNS
/// record, a firewall, a load balancer: Coder's open issue #29045 is a checker that
/// kept reading a stale connection's answers), and on a LAN a fresh TCP handshake
/// costs far less than the check's own work. Environment proxies are ignored, so
/// `HTTP_PROXY` can never reroute health checks. Redirects are left to the
/// pipeline, which follows them by the same rules on both transports.
///
/// Host names are looked up by `resolver` (the pipeline's lookup for the
/// request in flight, see `transport::resolve`).
pub(crate) fn build_client(
    tls_insecure: bool,
    resolver: ClientResolver,
) -> Result<reqwest::Client, EngineError> {
    reqwest::Client::builder()
        .dns_resolver(resolver)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .tcp_nodelay(true)
        .user_agent(USER_AGENT)
        .tls_danger_accept_invalid_certs(tls_insecure)
        .build()
        .map_err(|err| EngineError::Client(error_chain(&err)))
}

/// Sends `GET url` through `client` and waits for the response head; the body
/// will be read into `buf`'s allocation.
pub(super) async fn send(
    client: &reqwest::Client,
    url: &Url,
    buf: Vec<u8>,
) -> Result<(Head, Body), Failure> {
    let response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|err| Failure::Transport(transport_error(&err)))?;
    let headers = response.headers();
    let header = |name: &str| {
        headers
            .get(name)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
    };
    let head = Head {
        status: response.status().as_u16(),
        content_type: header("content-type"),
        build_version: header(BUILD_VERSION_HEADER),
        location: header("location"),
        answered_from: (response.url() != url).then(|| response.url().to_string()),
    };
    Ok((head, Body { response, buf }))
}

/// A response whose body is still to be read, and the buffer to read it into.
#[derive(Debug)]
pub(crate) struct Body {
    response: reqwest::Response,
    buf: Vec<u8>,
}

impl Body {
    /// The body (at most the cap) and what stopped it early, if anything.
    pub(super) async fn read(self, deadline: Instant, cap: BodyCap) -> (Vec<u8>, Option<BodyStop>) {
        let Body {
            mut response,
            mut buf,
        } = self;
        buf.clear();
        let declared = response.content_length();
        loop {
            match timeout_at(deadline, response.chunk()).await {
                Err(_elapsed) => return (buf, Some(BodyStop::Deadline)),
                Ok(Err(err)) => return (buf, Some(BodyStop::Read(error_chain(&err)))),
                Ok(Ok(None)) => return (buf, None),
                Ok(Ok(Some(chunk))) => {
                    if !cap.append(&mut buf, &chunk) {
                        return (buf, Some(BodyStop::TooLarge { declared }));
                    }
                }
            }
        }
    }

    /// The buffer, with the response dropped unread.
    pub(super) fn into_buffer(self) -> Vec<u8> {
        self.buf
    }
}

fn transport_error(err: &reqwest::Error) -> TransportError {
    let message = error_chain(err);
    let kind = if err.is_timeout() {
        TransportErrorKind::Timeout
    } else if err.is_redirect() {
        TransportErrorKind::Redirect
    } else if looks_like_tls(&message) {
        TransportErrorKind::Tls
    } else if err.is_connect() {
        TransportErrorKind::Connect
    } else {
        TransportErrorKind::Protocol
    };
    TransportError { kind, message }
}

fn looks_like_tls(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
}

/// An error and its causes as one line, `outer: inner: root`, leaving out the
/// generic "error sending request" wrapper and repeated links.
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(link) = current {
        let text = link.to_string();
        let generic = text.starts_with("error sending request")
            || text.starts_with("error decoding response body")
            || text.starts_with("request or response body error");
        if !generic && !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        current = link.source();
    }
    if parts.is_empty() {
        err.to_string()
    } else {
        parts.join(": ")
    }
}

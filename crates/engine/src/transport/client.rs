//! The `reqwest` transport, for every URL when the caller supplied its own
//! client (the engine's own checks take the lean transports, `plain_http` and
//! `lean_tls`). The pipeline still owns redirects, the deadline and the cap.

use super::certificate::not_after;
use super::exchange::{BodyCap, BodyStop, Failure, Head};
use super::refusal::{self, looks_like_tls, tls_cause};
use crate::http1::head::BUILD_VERSION_HEADER;
use proxyhealth_core::{TransportError, TransportErrorKind};
use std::error::Error as StdError;
use time::OffsetDateTime;
use tokio::time::{Instant, timeout_at};
use url::Url;

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
        .map_err(|err| failure(&err))?;
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
        tls_not_after: leaf_not_after(&response),
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

/// When the certificate the proxy presented expires, if the response carries
/// it (a client built with `tls_info`) and it parses.
fn leaf_not_after(response: &reqwest::Response) -> Option<OffsetDateTime> {
    let info = response.extensions().get::<reqwest::tls::TlsInfo>()?;
    not_after(info.peer_certificate()?)
}

/// Why a request got no answer: the certificate refusals in words (with the
/// library's text after them), everything else as the library says it.
fn failure(err: &reqwest::Error) -> Failure {
    refusal::failure(transport_error(err), tls_cause(err))
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

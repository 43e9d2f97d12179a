//! The `reqwest` transport: `https://` URLs through rustls, and every URL when
//! the caller supplied its own client.
//!
//! The engine's own client follows no redirects (the pipeline does, by its own
//! rules), keeps no pool and ignores environment proxies.

use super::exchange::{BodyCap, BodyStop, Failure, Head, USER_AGENT};
use super::resolve::ClientResolver;
use crate::error::EngineError;
use crate::http1::head::BUILD_VERSION_HEADER;
use crate::tls_files::TlsFiles;
use proxyhealth_core::advice;
use proxyhealth_core::{TransportError, TransportErrorKind};
use rustls::pki_types::UnixTime;
use rustls::{AlertDescription, CertificateError};
use std::error::Error as StdError;
use time::OffsetDateTime;
use tokio::time::{Instant, timeout_at};
use url::Url;

/// Builds the HTTP client used for TLS proxies when none is given.
///
/// Connections are not reused: every check opens a fresh one, as blackbox_exporter
/// does. A reused connection can hide what a new client would meet (a changed DNS
/// record, a firewall, a load balancer: Coder's own checker, sharing keep-alive
/// connections, kept reading a stale connection's answers), and on a LAN a fresh TCP handshake
/// costs far less than the check's own work. Environment proxies are ignored, so
/// `HTTP_PROXY` can never reroute health checks. Redirects are left to the
/// pipeline, which follows them by the same rules on both transports.
///
/// The CA bundle of `files` is trusted with the system's roots or instead of
/// them, and its client identity is offered to proxies that ask for one. Each
/// response carries the proxy's certificate (`tls_info`), whose expiry the
/// check keeps. Host names are looked up by `resolver` (the pipeline's lookup
/// for the request in flight, see `transport::resolve`). Connections are
/// made from `source` when given.
pub(crate) fn build_client(
    tls_insecure: bool,
    files: TlsFiles,
    resolver: ClientResolver,
    source: Option<std::net::IpAddr>,
) -> Result<reqwest::Client, EngineError> {
    let mut builder = reqwest::Client::builder()
        .local_address(source)
        .dns_resolver(resolver)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .tcp_nodelay(true)
        .user_agent(USER_AGENT)
        .tls_danger_accept_invalid_certs(tls_insecure)
        .tls_info(true);
    builder = if files.replace_roots {
        builder.tls_certs_only(files.roots)
    } else {
        builder.tls_certs_merge(files.roots)
    };
    if let Some(identity) = files.identity {
        builder = builder.identity(identity);
    }
    builder
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
/// it (`https://` through the engine's client) and it parses.
fn leaf_not_after(response: &reqwest::Response) -> Option<OffsetDateTime> {
    let info = response.extensions().get::<reqwest::tls::TlsInfo>()?;
    let (_rest, certificate) =
        x509_parser::parse_x509_certificate(info.peer_certificate()?).ok()?;
    Some(certificate.validity().not_after.to_datetime())
}

/// Why a request got no answer: the certificate refusals in words (with the
/// library's text after them), everything else as the library says it.
fn failure(err: &reqwest::Error) -> Failure {
    let error = transport_error(err);
    let Some(tls) = tls_cause(err) else {
        return Failure::Transport(error);
    };
    let Some(words) = tls_words(tls) else {
        return Failure::Transport(error);
    };
    let error = TransportError {
        kind: TransportErrorKind::Tls,
        message: format!("{words} ({})", error.message),
    };
    match tls {
        rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            not_after, ..
        }) => Failure::Expired {
            error,
            not_after: date(*not_after),
        },
        _ => Failure::Transport(error),
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

/// The rustls error behind a failure, if one is: it sits in the chain itself
/// or inside an `io::Error` of it (whose `source` skips the error it wraps).
fn tls_cause<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(link) = current {
        if let Some(tls) = link.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(io) = link.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(tls) = tls_cause(inner)
        {
            return Some(tls);
        }
        current = link.source();
    }
    None
}

/// A TLS refusal in words an operator acts on, for the refusals that have
/// such words; `None` leaves the library's text alone.
fn tls_words(err: &rustls::Error) -> Option<String> {
    let words = match err {
        rustls::Error::InvalidCertificate(refusal) => match refusal {
            CertificateError::ExpiredContext { time, not_after } => {
                advice::expired(date(*not_after), date(*time))
            }
            CertificateError::Expired => "the proxy's TLS certificate has expired".to_owned(),
            CertificateError::NotValidYetContext { time, not_before } => {
                advice::not_yet_valid(date(*not_before), date(*time))
            }
            CertificateError::NotValidYet => {
                "the proxy's TLS certificate is not valid yet (check its dates and this machine's clock)"
                    .to_owned()
            }
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => {
                let names = if presented.is_empty() {
                    "it names no host".to_owned()
                } else {
                    let names: Vec<&str> = presented.iter().map(|name| plain_name(name)).collect();
                    format!("it is for {}", names.join(", "))
                };
                format!(
                    "the proxy's TLS certificate is not valid for the name {:?} the proxy URL uses: {names}",
                    expected.to_str()
                )
            }
            CertificateError::NotValidForName => {
                "the proxy's TLS certificate is not valid for the name the proxy URL uses".to_owned()
            }
            CertificateError::UnknownIssuer => {
                "the proxy's TLS certificate is not signed by a certificate authority this checker trusts \
                 (a private CA is trusted with --tls-ca-file)"
                    .to_owned()
            }
            CertificateError::BadSignature => {
                "the proxy's TLS certificate has a signature that does not verify".to_owned()
            }
            CertificateError::Revoked => "the proxy's TLS certificate has been revoked".to_owned(),
            _ => return None,
        },
        rustls::Error::AlertReceived(AlertDescription::CertificateRequired) => {
            "the proxy requires a TLS client certificate (mutual TLS) and this checker sent none \
             (set --tls-client-cert and --tls-client-key)"
                .to_owned()
        }
        rustls::Error::AlertReceived(
            alert @ (AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::UnsupportedCertificate),
        ) => format!(
            "the proxy refused this checker's TLS client certificate (it answered {alert:?})"
        ),
        _ => return None,
    };
    Some(words)
}

/// A name a certificate presents, without the wrapper rustls writes around
/// it (`DnsName("a.example")` is `a.example`, `IpAddress(10.0.0.1)` is `10.0.0.1`).
fn plain_name(presented: &str) -> &str {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|rest| rest.strip_suffix("\")"))
        .or_else(|| {
            presented
                .strip_prefix("IpAddress(")
                .and_then(|rest| rest.strip_suffix(')'))
        })
        .unwrap_or(presented)
}

/// A time of a TLS error as a date.
fn date(at: UnixTime) -> OffsetDateTime {
    i64::try_from(at.as_secs())
        .ok()
        .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_names_lose_the_wrapper_rustls_writes() {
        assert_eq!(plain_name("DnsName(\"a.example\")"), "a.example");
        assert_eq!(plain_name("IpAddress(10.0.0.1)"), "10.0.0.1");
        assert_eq!(plain_name("something else"), "something else");
    }
}

//! One check of one proxy: `GET <url>/healthz-report` under a deadline and a body cap.

use crate::error::EngineError;
use crate::options::{EngineOptions, RedirectPolicy};
use proxyhealth_core::{
    BodyError, ProbeOutcome, ProbeResponse, TransportError, TransportErrorKind,
};
use std::error::Error as StdError;
use std::time::Duration;
use tokio::time::{Instant, timeout_at};

/// Header a Coder server (primary or proxy) sets on every response.
pub const BUILD_VERSION_HEADER: &str = "X-Coder-Build-Version";

/// Most redirects followed when following is on.
const MAX_REDIRECTS: usize = 10;

/// Builds the HTTP client the engine uses when none is given.
///
/// Connections are not reused: every check opens a fresh one, as blackbox_exporter
/// does. A reused connection can hide what a new client would meet (a changed DNS
/// record, a firewall, a load balancer: Coder's open issue #29045 is a checker that
/// kept reading a stale connection's answers), and on a LAN a fresh TCP handshake
/// costs far less than the check's own work. Environment proxies are ignored, so
/// `HTTP_PROXY` can never reroute health checks.
pub fn build_client(options: &EngineOptions) -> Result<reqwest::Client, EngineError> {
    let redirects = match options.redirects {
        RedirectPolicy::None => reqwest::redirect::Policy::none(),
        RedirectPolicy::SameHost => reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(format!("stopped after {MAX_REDIRECTS} redirects"));
            }
            if attempt.previous().contains(attempt.url()) {
                let message = format!("redirect loop at {}", attempt.url());
                return attempt.error(message);
            }
            let first_host = attempt
                .previous()
                .first()
                .and_then(|url| url.host_str())
                .map(str::to_owned);
            if attempt.url().host_str() == first_host.as_deref() {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }),
    };
    reqwest::Client::builder()
        .no_proxy()
        .redirect(redirects)
        .pool_max_idle_per_host(0)
        .tcp_nodelay(true)
        .user_agent(concat!("proxyhealth/", env!("CARGO_PKG_VERSION")))
        .tls_danger_accept_invalid_certs(options.tls_insecure)
        .build()
        .map_err(|err| EngineError::Client(error_chain(&err)))
}

/// Sends the request and reads the response, all within `timeout` from now, and
/// reads at most `body_cap` body bytes. Returns what was seen and how long it took.
pub async fn probe(
    client: &reqwest::Client,
    url: url::Url,
    timeout: Duration,
    body_cap: u64,
) -> (ProbeOutcome, Duration) {
    let started = Instant::now();
    let deadline = started + timeout;
    let request_url = url.to_string();
    let response = match timeout_at(deadline, client.get(url).send()).await {
        Err(_elapsed) => {
            let outcome = ProbeOutcome::Transport(TransportError {
                kind: TransportErrorKind::Timeout,
                message: format!(
                    "timed out after {} awaiting response headers",
                    proxyhealth_core::outcome::humanize(timeout)
                ),
            });
            return (outcome, started.elapsed());
        }
        Ok(Err(err)) => {
            return (
                ProbeOutcome::Transport(transport_error(&err)),
                started.elapsed(),
            );
        }
        Ok(Ok(response)) => response,
    };
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
    };
    let status = response.status().as_u16();
    let location = if response.status().is_redirection() {
        header("location")
    } else {
        None
    };
    let mut seen = ProbeResponse {
        status,
        content_type: header("content-type"),
        build_version: header(BUILD_VERSION_HEADER),
        location,
        final_url: if response.url().as_str() == request_url {
            String::new()
        } else {
            response.url().to_string()
        },
        body: Vec::new(),
        body_error: None,
    };
    let declared = response.content_length();
    let mut response = response;
    loop {
        match timeout_at(deadline, response.chunk()).await {
            Err(_elapsed) => {
                seen.body_error = Some(BodyError::Timeout { after: timeout });
                break;
            }
            Ok(Err(err)) => {
                seen.body_error = Some(BodyError::Read(error_chain(&err)));
                break;
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => {
                let room = usize::try_from(body_cap)
                    .unwrap_or(usize::MAX)
                    .saturating_sub(seen.body.len());
                if chunk.len() > room {
                    seen.body.extend_from_slice(&chunk[..room]);
                    seen.body_error = Some(BodyError::TooLarge {
                        cap: body_cap,
                        declared,
                    });
                    break;
                }
                seen.body.extend_from_slice(&chunk);
            }
        }
    }
    (ProbeOutcome::Response(seen), started.elapsed())
}

fn transport_error(err: &reqwest::Error) -> TransportError {
    let message = error_chain(err);
    let lower = message.to_ascii_lowercase();
    let kind = if err.is_timeout() {
        TransportErrorKind::Timeout
    } else if err.is_redirect() {
        TransportErrorKind::Redirect
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
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
pub fn error_chain(err: &(dyn StdError + 'static)) -> String {
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

//! One check of one proxy: `GET <url>/healthz-report` under a deadline and a body cap.
//!
//! Plain `http://` proxies are probed on a lean path (`plain_http`): one
//! fresh TCP connection driven in the check's own task, which is what a sweep of
//! thousands of proxies spends its time on. `https://` proxies, and every proxy
//! when the caller supplies its own client, go through `reqwest` with rustls.

use crate::error::EngineError;
use crate::options::{EngineOptions, RedirectPolicy};
use crate::plain_http;
use proxyhealth_core::outcome::humanize;
use proxyhealth_core::{
    BodyError, ProbeOutcome, ProbeResponse, TransportError, TransportErrorKind,
};
use std::error::Error as StdError;
use std::time::Duration;
use tokio::time::{Instant, timeout_at};

/// Header a Coder server (primary or proxy) sets on every response.
pub const BUILD_VERSION_HEADER: &str = "X-Coder-Build-Version";
/// The `User-Agent` of every check.
pub const USER_AGENT: &str = concat!("proxyhealth/", env!("CARGO_PKG_VERSION"));
/// Most redirects followed when following is on.
pub const MAX_REDIRECTS: usize = 10;

/// Sends the checks: the lean plain-HTTP path, or `reqwest` for TLS and for a
/// client the caller supplied.
#[derive(Clone)]
pub struct Prober {
    client: reqwest::Client,
    /// Whether plain-HTTP proxies take the lean path (not when a client was supplied).
    lean_plain_http: bool,
    timeout: Duration,
    body_cap: u64,
    redirects: RedirectPolicy,
}

impl Prober {
    /// A prober with the engine's own client (see [`build_client`]).
    pub fn new(options: &EngineOptions) -> Result<Self, EngineError> {
        Ok(Prober {
            client: build_client(options)?,
            lean_plain_http: true,
            timeout: options.timeout,
            body_cap: options.body_cap,
            redirects: options.redirects,
        })
    }

    /// A prober that sends every check through `client`; the engine's timeout and
    /// body cap still apply.
    pub fn with_client(client: reqwest::Client, options: &EngineOptions) -> Self {
        Prober {
            client,
            lean_plain_http: false,
            timeout: options.timeout,
            body_cap: options.body_cap,
            redirects: options.redirects,
        }
    }

    /// Checks `url` within the timeout; returns what was seen and how long it took.
    pub async fn probe(&self, url: url::Url) -> (ProbeOutcome, Duration) {
        self.probe_reusing(url, &mut Vec::new()).await
    }

    /// As [`Prober::probe`], reading a plain-HTTP answer into the allocation of
    /// `scratch`, which a sweep worker hands to each of its checks in turn (see
    /// [`reclaim_buffer`]): a thousand checks in flight then need no buffer of
    /// their own from the allocator.
    pub(crate) async fn probe_reusing(
        &self,
        url: url::Url,
        scratch: &mut Vec<u8>,
    ) -> (ProbeOutcome, Duration) {
        let started = Instant::now();
        let deadline = started + self.timeout;
        let outcome = if self.lean_plain_http && url.scheme() == "http" {
            plain_http::probe(self, url, deadline, scratch).await
        } else {
            self.probe_with_client(url, deadline).await
        };
        (outcome, started.elapsed())
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn body_cap(&self) -> u64 {
        self.body_cap
    }

    pub(crate) fn redirects(&self) -> RedirectPolicy {
        self.redirects
    }

    /// Probes through `reqwest` until `deadline`.
    pub(crate) async fn probe_with_client(&self, url: url::Url, deadline: Instant) -> ProbeOutcome {
        let request_url = url.to_string();
        let response = match timeout_at(deadline, self.client.get(url).send()).await {
            Err(_elapsed) => return headers_timeout(self.timeout),
            Ok(Err(err)) => return ProbeOutcome::Transport(transport_error(&err)),
            Ok(Ok(response)) => response,
        };
        let final_url = response.url().to_string();
        let mut seen = response_head(
            response.status(),
            response.headers(),
            if final_url == request_url {
                String::new()
            } else {
                final_url
            },
        );
        let declared = response.content_length();
        let mut response = response;
        loop {
            match timeout_at(deadline, response.chunk()).await {
                Err(_elapsed) => {
                    seen.body_error = Some(BodyError::Timeout {
                        after: self.timeout,
                    });
                    break;
                }
                Ok(Err(err)) => {
                    seen.body_error = Some(BodyError::Read(error_chain(&err)));
                    break;
                }
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => {
                    if !append_capped(&mut seen, &chunk, self.body_cap, declared) {
                        break;
                    }
                }
            }
        }
        ProbeOutcome::Response(seen)
    }
}

/// Largest buffer a sweep worker keeps for its next check: a usual report fits
/// many times over, and a worker that met one large body does not hold on to it.
const KEEP_FOR_REUSE: usize = 16 * 1024;

/// Takes back the body buffer of an outcome the caller is done with, as the
/// scratch buffer of the next [`Prober::probe_reusing`], unless it grew large.
pub(crate) fn reclaim_buffer(scratch: &mut Vec<u8>, outcome: ProbeOutcome) {
    if let ProbeOutcome::Response(response) = outcome
        && response.body.capacity() <= KEEP_FOR_REUSE
    {
        *scratch = response.body;
    }
}

/// Builds the HTTP client used for TLS proxies when none is given.
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
        .user_agent(USER_AGENT)
        .tls_danger_accept_invalid_certs(options.tls_insecure)
        .build()
        .map_err(|err| EngineError::Client(error_chain(&err)))
}

/// The outcome of a deadline that passed before the response headers arrived.
pub(crate) fn headers_timeout(timeout: Duration) -> ProbeOutcome {
    ProbeOutcome::Transport(TransportError {
        kind: TransportErrorKind::Timeout,
        message: format!(
            "timed out after {} awaiting response headers",
            humanize(timeout)
        ),
    })
}

/// What the classifier needs from a response's status line and headers.
pub(crate) fn response_head(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    final_url: String,
) -> ProbeResponse {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
    };
    ProbeResponse {
        status: status.as_u16(),
        content_type: header("content-type"),
        build_version: header(BUILD_VERSION_HEADER),
        location: if status.is_redirection() {
            header("location")
        } else {
            None
        },
        final_url,
        body: Vec::new(),
        body_error: None,
    }
}

/// Appends a body chunk, keeping at most `cap` bytes; returns `false` (and records
/// the error) once the cap is passed, so the caller stops reading.
pub(crate) fn append_capped(
    seen: &mut ProbeResponse,
    chunk: &[u8],
    cap: u64,
    declared: Option<u64>,
) -> bool {
    let room = usize::try_from(cap)
        .unwrap_or(usize::MAX)
        .saturating_sub(seen.body.len());
    if chunk.len() > room {
        seen.body.extend_from_slice(&chunk[..room]);
        seen.body_error = Some(BodyError::TooLarge { cap, declared });
        return false;
    }
    seen.body.extend_from_slice(chunk);
    true
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

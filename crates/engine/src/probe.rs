//! One check of one proxy: `GET <url>/healthz-report` under a deadline and a body
//! cap, following redirects by the policy's rules. This is the probe pipeline:
//! the one place that owns the deadline, the redirect loop, the body cap and the
//! building of the [`ProbeResponse`] the classifier judges.
//!
//! Each request of a check goes through a transport (`crate::transport`), which
//! sends exactly one request and follows nothing: the lean HTTP/1 client for
//! `http://` URLs, which a sweep of thousands of proxies spends its time on, the
//! same client over rustls for `https://` URLs, and `reqwest` for every URL
//! when the caller supplied its own client.

use crate::error::EngineError;
use crate::options::{EngineOptions, RedirectPolicy};
use crate::tls_files::TlsFiles;
use crate::transport::{
    Answer, BodyCap, BodyStop, Failure, Head, LookedUp, Resolver, Started, TlsConfig, Transport,
    lookup_timed_out, tls_client_config,
};
use proxyhealth_core::outcome::humanize;
use proxyhealth_core::{
    BodyError, ProbeOutcome, ProbeResponse, TransportError, TransportErrorKind,
};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::time::{Instant, timeout_at};
use url::Url;

/// What one check saw: the outcome the classifier judges, and what the
/// engine keeps beside it.
#[derive(Debug)]
pub(crate) struct Probed {
    /// What came back.
    pub(crate) outcome: ProbeOutcome,
    /// How long the check took.
    pub(crate) latency: Duration,
    /// When the TLS certificate the proxy presented expires (the last one met,
    /// when redirects were followed); `None` for `http://` or when no
    /// certificate was seen.
    pub(crate) tls_not_after: Option<OffsetDateTime>,
}

/// A check whose first request was sent ahead of reading any answer
/// ([`Prober::start`]): when it started, and the request. Its timeout counts
/// from that start, however long it waits to be read.
#[derive(Debug)]
pub(crate) struct StartedCheck {
    at: Instant,
    request: Started,
}

/// Most redirects followed when following is on.
pub(crate) const MAX_REDIRECTS: usize = 10;

/// Sends the checks: the lean transports (plain HTTP, and HTTP over rustls),
/// or `reqwest` for a client the caller supplied.
#[derive(Clone)]
pub(crate) struct Prober {
    /// The engine's own TLS configuration; `None` when a client was supplied
    /// (then every request goes through it).
    tls: Option<Arc<TlsConfig>>,
    /// The caller's client, when one was supplied.
    client: Option<reqwest::Client>,
    /// Looks up host names before each request, within the deadline; `None`
    /// when a client was supplied (it looks names up itself).
    resolver: Option<Resolver>,
    timeout: Duration,
    body_cap: u64,
    redirects: RedirectPolicy,
    /// The local address the lean transports' connections are made from.
    source_address: Option<IpAddr>,
}

impl Prober {
    /// A prober with the engine's own transports.
    pub(crate) fn new(options: &EngineOptions) -> Result<Self, EngineError> {
        let resolver = Resolver::new(options.dns_server, options.timeout)?;
        let config = tls_client_config(options.tls_insecure, TlsFiles::load(options)?)?;
        Ok(Prober {
            tls: Some(config),
            client: None,
            resolver: Some(resolver),
            timeout: options.timeout,
            body_cap: options.body_cap,
            redirects: options.redirects,
            source_address: options.source_address,
        })
    }

    /// A prober that sends every request through `client`; the engine's timeout,
    /// body cap and redirect policy still apply (the source address is the
    /// client's business).
    pub(crate) fn with_client(client: reqwest::Client, options: &EngineOptions) -> Self {
        Prober {
            tls: None,
            client: Some(client),
            resolver: None,
            timeout: options.timeout,
            body_cap: options.body_cap,
            redirects: options.redirects,
            source_address: None,
        }
    }

    /// Starts the check of `url` without waiting for anything: opens its
    /// connection and writes its request, when its first request can be sent
    /// that way (see [`Transport::start`]); `None` when it cannot, and then
    /// [`Prober::probe_reusing`] sends it. A request that failed at once
    /// (refused, say) is started all the same and says so when read.
    pub(crate) fn start(&self, url: &Url) -> Option<StartedCheck> {
        let at = Instant::now();
        let request = self.transport_for(url).start(url)?;
        Some(StartedCheck { at, request })
    }

    /// Checks `url` within the timeout; returns what was seen, how long it
    /// took and when the proxy's TLS certificate expires. `started` is the
    /// check's first request when [`Prober::start`] sent it: the timeout and
    /// the latency then count from that start. The answer is read into the
    /// allocation of `scratch`, which a sweep worker hands to each of its
    /// checks in turn (see [`reclaim_buffer`]): a thousand checks in flight
    /// then need no buffer of their own from the allocator.
    ///
    /// `started` is lent, not given, and taken only where its request is
    /// read: each async function keeps a value it is given in its state for
    /// as long as it runs, so a started check handed down by value took a
    /// place in every level of a sweep worker's task (the worker's largest
    /// state is the body's read, after the request is long gone).
    pub(crate) async fn probe_reusing(
        &self,
        url: Url,
        scratch: &mut Vec<u8>,
        started: &mut Option<StartedCheck>,
    ) -> Probed {
        let at = started
            .as_ref()
            .map_or_else(Instant::now, |started| started.at);
        let deadline = at + self.timeout;
        let (outcome, tls_not_after) = self
            .follow(url, deadline, std::mem::take(scratch), started)
            .await;
        Probed {
            outcome,
            latency: at.elapsed(),
            tls_not_after,
        }
    }

    /// The transport for one request to `url`.
    fn transport_for(&self, url: &Url) -> Transport<'_> {
        let source = self.source_address;
        match (&self.client, &self.tls) {
            (Some(client), _) => Transport::Client(client),
            (None, Some(config)) if url.scheme() == "https" => Transport::Tls { config, source },
            _ => Transport::PlainHttp { source },
        }
    }

    /// Requests `url` (its request already sent when `first` holds it; it is
    /// taken from there), and each same-host redirect target while the
    /// policy says to follow, until `deadline`; reads the last answer's body
    /// into `buf`. Gives the outcome and the expiry of the last TLS
    /// certificate seen.
    async fn follow(
        &self,
        url: Url,
        deadline: Instant,
        buf: Vec<u8>,
        first: &mut Option<StartedCheck>,
    ) -> (ProbeOutcome, Option<OffsetDateTime>) {
        let mut tls_not_after = None;
        let outcome = self
            .follow_noting(url, deadline, buf, first, &mut tls_not_after)
            .await;
        (outcome, tls_not_after)
    }

    /// [`Prober::follow`], noting in `tls_not_after` the expiry of each TLS
    /// certificate met (an answer's, or one refused because it expired).
    async fn follow_noting(
        &self,
        url: Url,
        deadline: Instant,
        mut buf: Vec<u8>,
        first: &mut Option<StartedCheck>,
        tls_not_after: &mut Option<OffsetDateTime>,
    ) -> ProbeOutcome {
        let mut visited: Vec<Url> = Vec::new();
        let mut current = url;
        loop {
            // Matched as it comes, not kept in a variable: a variable would
            // keep its place in the task while the body is read, beside the
            // answer taken out of it.
            let answer = match match first.take() {
                Some(started) => timeout_at(deadline, started.request.send(buf)).await,
                None => {
                    let looked_up = match self.look_up(&current, deadline).await {
                        Ok(looked_up) => looked_up,
                        Err(outcome) => return outcome,
                    };
                    let transport = self.transport_for(&current);
                    timeout_at(deadline, transport.send(&current, looked_up, buf)).await
                }
            } {
                Err(_elapsed) => return headers_timeout(self.timeout),
                Ok(Err(failure)) => {
                    if let Failure::Expired { not_after, .. } = &failure {
                        *tls_not_after = Some(*not_after);
                    }
                    return failed(failure);
                }
                Ok(Ok(answer)) => answer,
            };
            *tls_not_after = answer.head.tls_not_after;
            let first = visited.first().unwrap_or(&current);
            let Some(next) = self.redirect_target(&answer.head, &current, first) else {
                let followed = !visited.is_empty();
                let final_url = if followed {
                    current.into()
                } else {
                    String::new()
                };
                return self.response(answer, deadline, final_url).await;
            };
            visited.push(current);
            if visited.contains(&next) {
                return redirect_error(format!("redirect loop at {next}"));
            }
            if visited.len() > MAX_REDIRECTS {
                return redirect_error(format!("stopped after {MAX_REDIRECTS} redirects"));
            }
            buf = answer.body.discard();
            current = next;
        }
    }

    /// The addresses of the URL's host when it is a name (and the engine
    /// looks names up), within `deadline`: resolving counts inside the
    /// check's timeout, and a lookup that outlives it says so.
    async fn look_up(
        &self,
        url: &Url,
        deadline: Instant,
    ) -> Result<Option<LookedUp>, ProbeOutcome> {
        let (Some(resolver), Some(url::Host::Domain(host))) = (&self.resolver, url.host()) else {
            return Ok(None);
        };
        let port = url.port_or_known_default().unwrap_or(0);
        // Boxed: the resolver's future is large and only checks of host names
        // await it, while every check's task would carry its size inline (a
        // sweep holds one such task per check in flight).
        match timeout_at(deadline, Box::pin(resolver.lookup(host, port))).await {
            Err(_elapsed) => Err(ProbeOutcome::Transport(TransportError {
                kind: TransportErrorKind::Timeout,
                message: lookup_timed_out(host, &humanize(self.timeout)),
            })),
            Ok(Err(failure)) => Err(failed(failure)),
            Ok(Ok(looked_up)) => Ok(Some(looked_up)),
        }
    }

    /// Where an answer redirects to, when the policy says to follow it: a
    /// redirect status (301, 302, 303, 307 or 308, the ones `reqwest` and Go's
    /// client follow) with a `Location` on the first request's host (the scheme
    /// and port may change).
    fn redirect_target(&self, head: &Head, current: &Url, first: &Url) -> Option<Url> {
        if self.redirects != RedirectPolicy::SameHost || !is_followed_redirect(head.status) {
            return None;
        }
        let next = current.join(head.location.as_deref()?).ok()?;
        (next.host_str() == first.host_str()).then_some(next)
    }

    /// Reads the body of the answer that ends the check and builds the response.
    async fn response(&self, answer: Answer, deadline: Instant, final_url: String) -> ProbeOutcome {
        let (body, stop) = answer
            .body
            .read(deadline, BodyCap::new(self.body_cap))
            .await;
        let body_error = stop.map(|stop| self.body_error(stop));
        ProbeOutcome::Response(response(answer.head, body, body_error, final_url))
    }

    /// What a transport's reason for stopping a body means for this check.
    fn body_error(&self, stop: BodyStop) -> BodyError {
        match stop {
            BodyStop::TooLarge { declared } => BodyError::TooLarge {
                cap: self.body_cap,
                declared,
            },
            BodyStop::Deadline => BodyError::Timeout {
                after: self.timeout,
            },
            BodyStop::Read(cause) => BodyError::Read(cause),
        }
    }
}

/// The response the classifier judges: `location` only for a 3xx answer,
/// `final_url` only when a redirect was followed (by the pipeline, or by a
/// client the caller supplied).
fn response(
    head: Head,
    body: Vec<u8>,
    body_error: Option<BodyError>,
    followed_to: String,
) -> ProbeResponse {
    let is_redirection = (300..400).contains(&head.status);
    ProbeResponse {
        status: head.status,
        content_type: head.content_type,
        build_version: head.build_version,
        location: head.location.filter(|_| is_redirection),
        final_url: head.answered_from.unwrap_or(followed_to),
        body,
        body_error,
    }
}

/// A status that redirects to its `Location`.
fn is_followed_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The outcome of a request that got no answer.
fn failed(failure: Failure) -> ProbeOutcome {
    match failure {
        Failure::Transport(error) | Failure::Expired { error, .. } => {
            ProbeOutcome::Transport(error)
        }
        Failure::RequestBuild(message) => ProbeOutcome::RequestBuild(message),
    }
}

fn redirect_error(message: String) -> ProbeOutcome {
    ProbeOutcome::Transport(TransportError {
        kind: TransportErrorKind::Redirect,
        message,
    })
}

/// The outcome of a deadline that passed before the response headers arrived.
fn headers_timeout(timeout: Duration) -> ProbeOutcome {
    ProbeOutcome::Transport(TransportError {
        kind: TransportErrorKind::Timeout,
        message: format!(
            "timed out after {} awaiting response headers",
            humanize(timeout)
        ),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn head(status: u16) -> Head {
        Head {
            status,
            location: Some("/elsewhere".to_owned()),
            ..Head::default()
        }
    }

    #[test]
    fn location_is_kept_only_on_redirects() {
        let redirect = response(head(302), Vec::new(), None, String::new());
        assert_eq!(redirect.location.as_deref(), Some("/elsewhere"));
        let ok = response(head(200), Vec::new(), None, String::new());
        assert_eq!(ok.location, None);
    }

    #[test]
    fn the_final_url_is_the_one_a_supplied_client_reached_or_the_one_followed_to() {
        let followed = response(head(200), Vec::new(), None, "http://a/x".to_owned());
        assert_eq!(followed.final_url, "http://a/x");
        let by_client = Head {
            answered_from: Some("https://a/y".to_owned()),
            ..head(200)
        };
        assert_eq!(
            response(by_client, Vec::new(), None, String::new()).final_url,
            "https://a/y"
        );
    }

    #[test]
    fn only_the_usual_redirect_statuses_are_followed() {
        for status in [301, 302, 303, 307, 308] {
            assert!(is_followed_redirect(status), "{status}");
        }
        for status in [200, 300, 304, 305, 306, 399] {
            assert!(!is_followed_redirect(status), "{status}");
        }
    }
}

//! The lean path for `http://` proxies: one fresh TCP connection, HTTP/1.1 driven
//! in the check's own task, no pool and no background connection task.
//!
//! It sees and reports what the `reqwest` path does (same statuses, same body cap
//! and deadline, same redirect policy); it only costs less per check, which is
//! what a sweep over thousands of proxies spends its time on.

use crate::options::RedirectPolicy;
use crate::probe::{
    MAX_REDIRECTS, Prober, USER_AGENT, append_capped, error_chain, headers_timeout, response_head,
};
use bytes::Bytes;
use futures::future::{Either, select};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::{Request, Response, header};
use hyper_util::rt::TokioIo;
use proxyhealth_core::{BodyError, ProbeOutcome, TransportError, TransportErrorKind};
use std::net::SocketAddr;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use url::{Host, Url};

/// Probes a plain-HTTP URL until `deadline`, following same-host redirects when
/// the policy says so (a redirect to `https` on the same host continues on the
/// TLS path).
pub(crate) async fn probe(prober: &Prober, url: Url, deadline: Instant) -> ProbeOutcome {
    let first_host = url.host_str().map(str::to_owned);
    let mut visited: Vec<Url> = Vec::new();
    let mut current = url;
    loop {
        let exchange = timeout_at(deadline, exchange(&current, prober, deadline)).await;
        let outcome = match exchange {
            Err(_elapsed) => return headers_timeout(prober.timeout()),
            Ok(outcome) => outcome,
        };
        let Some(next) = redirect_target(prober, &outcome, &current, first_host.as_deref()) else {
            return outcome;
        };
        visited.push(current);
        if visited.contains(&next) {
            return redirect_error(format!("redirect loop at {next}"));
        }
        if visited.len() > MAX_REDIRECTS {
            return redirect_error(format!("stopped after {MAX_REDIRECTS} redirects"));
        }
        if next.scheme() != "http" {
            return prober.probe_with_client(next, deadline).await;
        }
        current = next;
    }
}

/// Where a response redirects to, when the policy says to follow it.
fn redirect_target(
    prober: &Prober,
    outcome: &ProbeOutcome,
    current: &Url,
    first_host: Option<&str>,
) -> Option<Url> {
    if prober.redirects() != RedirectPolicy::SameHost {
        return None;
    }
    let ProbeOutcome::Response(response) = outcome else {
        return None;
    };
    let location = response.location.as_deref()?;
    let next = current.join(location).ok()?;
    (next.host_str() == first_host).then_some(next)
}

fn redirect_error(message: String) -> ProbeOutcome {
    ProbeOutcome::Transport(TransportError {
        kind: TransportErrorKind::Redirect,
        message,
    })
}

fn transport(kind: TransportErrorKind, message: String) -> ProbeOutcome {
    ProbeOutcome::Transport(TransportError { kind, message })
}

/// One request and its response on a fresh connection.
async fn exchange(url: &Url, prober: &Prober, deadline: Instant) -> ProbeOutcome {
    let stream = match connect(url).await {
        Ok(stream) => stream,
        Err(outcome) => return outcome,
    };
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(parts) => parts,
            Err(err) => return transport(TransportErrorKind::Protocol, error_chain(&err)),
        };
    let request = match build_request(url) {
        Ok(request) => request,
        Err(message) => return ProbeOutcome::RequestBuild(message),
    };
    let work = Box::pin(async move {
        match sender.send_request(request).await {
            Ok(response) => read_response(response, prober, deadline).await,
            Err(err) => transport(hyper_error_kind(&err), error_chain(&err)),
        }
    });
    match select(work, connection).await {
        Either::Left((outcome, _connection)) => outcome,
        Either::Right((_closed, work)) => work.await,
    }
}

async fn connect(url: &Url) -> Result<TcpStream, ProbeOutcome> {
    let port = url.port_or_known_default().unwrap_or(80);
    let addresses: Vec<SocketAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![SocketAddr::from((ip, port))],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::from((ip, port))],
        Some(Host::Domain(domain)) => match tokio::net::lookup_host((domain, port)).await {
            Ok(found) => found.collect(),
            Err(err) => {
                return Err(transport(
                    TransportErrorKind::Connect,
                    format!("dns error: {domain}: {err}"),
                ));
            }
        },
        None => {
            return Err(ProbeOutcome::RequestBuild(format!(
                "no host in request URL {:?}",
                url.as_str()
            )));
        }
    };
    let mut last_error = None;
    for address in &addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(err) => last_error = Some(format!("tcp connect error: {address}: {err}")),
        }
    }
    Err(transport(
        TransportErrorKind::Connect,
        last_error.unwrap_or_else(|| "dns error: no addresses found".to_owned()),
    ))
}

fn build_request(url: &Url) -> Result<Request<Empty<Bytes>>, String> {
    let host = url.host_str().unwrap_or_default();
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    Request::get(target)
        .header(header::HOST, authority)
        .header(header::USER_AGENT, USER_AGENT)
        .header(header::CONNECTION, "close")
        .body(Empty::new())
        .map_err(|err| err.to_string())
}

async fn read_response(
    response: Response<Incoming>,
    prober: &Prober,
    deadline: Instant,
) -> ProbeOutcome {
    let mut seen = response_head(response.status(), response.headers(), String::new());
    let declared = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let mut body = response.into_body();
    loop {
        match timeout_at(deadline, body.frame()).await {
            Err(_elapsed) => {
                seen.body_error = Some(BodyError::Timeout {
                    after: prober.timeout(),
                });
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(err))) => {
                seen.body_error = Some(BodyError::Read(error_chain(&err)));
                break;
            }
            Ok(Some(Ok(frame))) => {
                if let Some(chunk) = frame.data_ref()
                    && !append_capped(&mut seen, chunk, prober.body_cap(), declared)
                {
                    break;
                }
            }
        }
    }
    ProbeOutcome::Response(seen)
}

fn hyper_error_kind(err: &hyper::Error) -> TransportErrorKind {
    if err.is_timeout() {
        TransportErrorKind::Timeout
    } else {
        TransportErrorKind::Protocol
    }
}

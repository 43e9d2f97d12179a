//! One request, no redirects: a transport sends `GET <url>` on a fresh
//! connection, reads the response head, and then, if the pipeline wants it,
//! the body into the buffer it was given, under a cap and until a deadline.
//!
//! Three transports, chosen per request by the pipeline (`probe`), with static
//! dispatch so the lean paths pay for no indirection:
//! - [`plain_http`]: the lean HTTP/1 client for `http://` URLs, driven in the
//!   check's own task.
//! - [`lean_tls`]: the same client over a rustls handshake for `https://`
//!   URLs, with the rustls configuration built once per engine
//!   ([`tls_client_config`]).
//! - [`client`]: `reqwest`, for every URL when the caller supplied its own
//!   client.
//!
//! [`resolve`] looks up host names for the lean transports (the system's
//! resolver, or a given DNS server). [`exchange`] holds what all give back,
//! [`refusal`] tells a TLS failure in words, [`certificate`] reads the
//! certificate's expiry. Nothing here knows of redirects, the deadline's
//! length or the cap's size: the pipeline owns those.

mod certificate;
mod client;
mod exchange;
mod lean_tls;
mod plain_http;
mod refusal;
mod resolve;

pub(crate) use exchange::{BodyCap, BodyStop, Failure, Head};
pub(crate) use lean_tls::client_config as tls_client_config;
pub(crate) use resolve::{LookedUp, Resolver, timed_out as lookup_timed_out};
pub(crate) use rustls::ClientConfig as TlsConfig;
use std::sync::Arc;
use tokio::time::Instant;
use url::Url;

/// The client that sends one request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Transport<'a> {
    /// The lean HTTP/1 client (`http://` only), its connections made from
    /// `source` when given.
    PlainHttp {
        /// The local address to connect from.
        source: Option<std::net::IpAddr>,
    },
    /// The lean client over rustls (`https://` only), its connections made
    /// from `source` when given.
    Tls {
        /// The engine's TLS configuration.
        config: &'a Arc<TlsConfig>,
        /// The local address to connect from.
        source: Option<std::net::IpAddr>,
    },
    /// The caller's `reqwest` client.
    Client(&'a reqwest::Client),
}

/// A response whose head has been read and whose body has not.
#[derive(Debug)]
pub(crate) struct Answer {
    /// What the pipeline keeps of the head.
    pub(crate) head: Head,
    /// The body, still to be read.
    pub(crate) body: Body,
}

/// The unread body of an [`Answer`], holding the connection and the buffer.
#[derive(Debug)]
pub(crate) enum Body {
    /// A body on the lean path.
    PlainHttp(plain_http::Body),
    /// A body over TLS (boxed: a TLS connection is large, and the plain
    /// path should not carry its size in every check's task).
    Tls(Box<lean_tls::Body>),
    /// A body read through `reqwest` (boxed, for the same reason).
    Client(Box<client::Body>),
}

/// The first request of a check on the lean `http://` path, its connection
/// opened and its bytes written without waiting ([`Transport::start`]), its
/// answer still to be read ([`Started::send`]). It holds a socket and little
/// else, so a sweep can start thousands of checks before reading any answer.
#[derive(Debug)]
pub(crate) struct Started(plain_http::Started);

impl Started {
    /// Reads the response head, as [`Transport::send`] does for a request it
    /// sends itself. Has no deadline of its own: the caller bounds it.
    pub(crate) async fn send(self, buf: Vec<u8>) -> Result<Answer, Failure> {
        let (head, body) = plain_http::send_started(self.0, buf).await?;
        Ok(Answer {
            head,
            body: Body::PlainHttp(body),
        })
    }
}

impl Transport<'_> {
    /// Opens the connection of `GET url` and writes the request without
    /// waiting for anything, when this transport can: the lean `http://`
    /// client, to a host given as an address (a name's lookup waits). `None`
    /// otherwise: then the request goes through [`Transport::send`].
    pub(crate) fn start(self, url: &Url) -> Option<Started> {
        match self {
            Transport::PlainHttp { source } => plain_http::start(url, source).map(Started),
            Transport::Tls { .. } | Transport::Client(_) => None,
        }
    }

    /// Sends `GET url` and reads the response head, reading into `buf`'s
    /// allocation; connects to the addresses in `looked_up` when the URL's
    /// host is a name the pipeline looked up. Has no deadline of its own: the
    /// caller bounds it.
    pub(crate) async fn send(
        self,
        url: &Url,
        looked_up: Option<LookedUp>,
        buf: Vec<u8>,
    ) -> Result<Answer, Failure> {
        match self {
            Transport::PlainHttp { source } => {
                let (head, body) = plain_http::send(url, looked_up, buf, source).await?;
                Ok(Answer {
                    head,
                    body: Body::PlainHttp(body),
                })
            }
            Transport::Tls { config, source } => {
                // Boxed, like the body's read below: a handshake's future is
                // several times the plain path's, and a check's task is as large
                // as the largest future it may await, whichever transport it uses.
                let sent = Box::pin(lean_tls::send(config, url, looked_up, buf, source));
                let (head, body) = sent.await?;
                Ok(Answer {
                    head,
                    body: Body::Tls(Box::new(body)),
                })
            }
            Transport::Client(client) => {
                // Boxed, as above. The caller's client looks names up itself.
                let (head, body) = Box::pin(client::send(client, url, buf)).await?;
                Ok(Answer {
                    head,
                    body: Body::Client(Box::new(body)),
                })
            }
        }
    }
}

impl Body {
    /// Reads the body until it ends, the cap is passed or `deadline` comes: the
    /// bytes read (at most the cap) and what stopped them early, if anything.
    pub(crate) async fn read(self, deadline: Instant, cap: BodyCap) -> (Vec<u8>, Option<BodyStop>) {
        match self {
            Body::PlainHttp(body) => body.read(deadline, cap).await,
            Body::Tls(body) => Box::pin(body.read(deadline, cap)).await,
            Body::Client(body) => Box::pin(body.read(deadline, cap)).await,
        }
    }

    /// Drops the connection unread and gives back the buffer, for the next request.
    pub(crate) fn discard(self) -> Vec<u8> {
        match self {
            Body::PlainHttp(body) => body.into_buffer(),
            Body::Tls(body) => body.into_buffer(),
            Body::Client(body) => body.into_buffer(),
        }
    }
}

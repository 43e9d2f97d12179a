//! One request, no redirects: a transport sends `GET <url>` on a fresh
//! connection, reads the response head, and then, if the pipeline wants it,
//! the body into the buffer it was given, under a cap and until a deadline.
//!
//! Two transports, chosen per request by the pipeline (`probe`), with static
//! dispatch so the lean path pays for no indirection:
//! - [`plain_http`]: the lean HTTP/1 client for `http://` URLs, driven in the
//!   check's own task.
//! - [`tls`]: `reqwest` with rustls for `https://` URLs, and for every URL
//!   when the caller supplied its own client.
//!
//! [`resolve`] looks up host names for both (the system's resolver, or a
//! given DNS server). [`exchange`] holds what both give back. Nothing here knows of redirects,
//! the deadline's length or the cap's size: the pipeline owns those.

mod exchange;
mod plain_http;
mod resolve;
mod tls;

pub(crate) use exchange::{BodyCap, BodyStop, Failure, Head};
pub(crate) use resolve::{ClientResolver, LookedUp, Resolver, timed_out as lookup_timed_out};
pub(crate) use tls::build_client;
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
    /// A `reqwest` client: the engine's own for TLS, or the caller's.
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
    /// A body read through `reqwest` (boxed: a response is large, and the
    /// lean path should not carry its size in every check's task).
    Client(Box<tls::Body>),
}

impl Transport<'_> {
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
            Transport::Client(client) => {
                // Boxed, like the body's read below: `reqwest`'s futures are
                // several times the lean path's, and a check's task is as large
                // as the largest future it may await, whichever transport it uses.
                let sent = Box::pin(resolve::with_looked_up(
                    looked_up,
                    tls::send(client, url, buf),
                ));
                let (head, body) = sent.await?;
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
            Body::Client(body) => Box::pin(body.read(deadline, cap)).await,
        }
    }

    /// Drops the connection unread and gives back the buffer, for the next request.
    pub(crate) fn discard(self) -> Vec<u8> {
        match self {
            Body::PlainHttp(body) => body.into_buffer(),
            Body::Client(body) => body.into_buffer(),
        }
    }
}

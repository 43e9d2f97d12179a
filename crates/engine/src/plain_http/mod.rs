//! The lean path for `http://` proxies: one fresh TCP connection, one request
//! written at once, the answer read in the check's own task, no pool, no
//! background connection task and no header map.
//!
//! A sweep over thousands of healthy proxies spends its time here, so this path
//! does only what a check needs: `httparse` reads the response head (the parser
//! hyper uses), [`head`] keeps the three headers the classifier looks at and the
//! body's framing, [`chunked`] decodes chunked bodies. It sees and reports what
//! the `reqwest` path does: the same statuses, body cap, deadline and redirect
//! policy.

mod chunked;
mod connect;
mod head;
mod request;

use crate::options::RedirectPolicy;
use crate::probe::{MAX_REDIRECTS, Prober, headers_timeout};
use chunked::ChunkedDecoder;
use head::{Framing, Head, HeadError};
use proxyhealth_core::{
    BodyError, ProbeOutcome, ProbeResponse, TransportError, TransportErrorKind,
};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use url::Url;

/// Bytes reserved for the first read: a health report and its head usually fit,
/// and a block this small comes from the allocator's per-thread cache.
const FIRST_READ: usize = 1024;
/// Bytes reserved for each later read of a body of unknown length.
const LATER_READ: usize = 16 * 1024;

/// Probes a plain-HTTP URL until `deadline`, following same-host redirects when
/// the policy says so (a redirect to `https` on the same host continues on the
/// TLS path). The answer is read into `scratch`'s allocation.
pub(crate) async fn probe(
    prober: &Prober,
    url: Url,
    deadline: Instant,
    scratch: &mut Vec<u8>,
) -> ProbeOutcome {
    let first_host = url.host_str().map(str::to_owned);
    let mut visited: Vec<Url> = Vec::new();
    let mut current = url;
    loop {
        let outcome = exchange(&current, prober, deadline, scratch).await;
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
    transport(TransportErrorKind::Redirect, message)
}

fn transport(kind: TransportErrorKind, message: String) -> ProbeOutcome {
    ProbeOutcome::Transport(TransportError { kind, message })
}

/// One request and its response on a fresh connection: the head within the
/// deadline (else a transport timeout), then the body within what is left of it
/// (else a body timeout). The head and body are read into `scratch`'s
/// allocation, which becomes the response's body.
async fn exchange(
    url: &Url,
    prober: &Prober,
    deadline: Instant,
    scratch: &mut Vec<u8>,
) -> ProbeOutcome {
    let request = match request::encode(url) {
        Ok(request) => request,
        Err(message) => return ProbeOutcome::RequestBuild(message),
    };
    let mut buf = std::mem::take(scratch);
    buf.clear();
    make_room(&mut buf, FIRST_READ);
    let sent = timeout_at(deadline, async {
        let mut stream = connect::open(url, &request).await?;
        let head = read_head(&mut stream, &mut buf).await?;
        Ok::<_, ProbeOutcome>((stream, head))
    })
    .await;
    let (mut stream, head) = match sent {
        Err(_elapsed) => return headers_timeout(prober.timeout()),
        Ok(Err(outcome)) => return outcome,
        Ok(Ok(answered)) => answered,
    };
    buf.drain(..head.len);
    let mut seen = ProbeResponse {
        status: head.status,
        content_type: head.content_type,
        build_version: head.build_version,
        location: head.location,
        final_url: String::new(),
        body: Vec::new(),
        body_error: None,
    };
    let reading = BodyReader {
        stream: &mut stream,
        deadline,
        prober,
    };
    let (body, body_error) = reading.read(head.framing, buf).await;
    seen.body = body;
    seen.body_error = body_error;
    ProbeOutcome::Response(seen)
}

/// Reads until `buf` starts with a complete final response head (skipping
/// interim 1xx answers). The head is parsed after the first read, so garbage is
/// refused at once, and after that only once a blank line has arrived, so a head
/// trickled in byte by byte costs a scan per byte, not a parse per read.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Head, ProbeOutcome> {
    let protocol = |message: String| transport(TransportErrorKind::Protocol, message);
    let mut worth_parsing = false;
    loop {
        if worth_parsing {
            match head::parse(buf) {
                Err(err) => return Err(protocol(err.to_string())),
                Ok(Some(head)) if is_interim(head.status) => {
                    buf.drain(..head.len);
                    worth_parsing = !buf.is_empty();
                    continue;
                }
                Ok(Some(head)) => return Ok(head),
                Ok(None) => {}
            }
        }
        if buf.len() > head::MAX_HEAD_BYTES {
            return Err(protocol(HeadError::TooLarge.to_string()));
        }
        let before = buf.len();
        make_room(buf, FIRST_READ / 2);
        let read = stream
            .read_buf(buf)
            .await
            .map_err(|err| protocol(format!("error reading the response head: {err}")))?;
        if read == 0 {
            return Err(match head::parse(buf) {
                Err(err) => protocol(err.to_string()),
                Ok(_) => protocol("connection closed before message completed".to_owned()),
            });
        }
        worth_parsing = before == 0 || head::has_blank_line(buf, before);
    }
}

/// An interim answer (`100 Continue`, `103 Early Hints`): the final one follows.
fn is_interim(status: u16) -> bool {
    (100..200).contains(&status) && status != 101
}

/// Makes sure the next read has room for at least `room` bytes.
fn make_room(buf: &mut Vec<u8>, room: usize) {
    if buf.capacity() - buf.len() < room {
        buf.reserve(room);
    }
}

/// Reads a body after its head, within the check's deadline and body cap.
struct BodyReader<'a> {
    stream: &'a mut TcpStream,
    deadline: Instant,
    prober: &'a Prober,
}

impl BodyReader<'_> {
    /// The body (at most the cap) and what stopped it early, if anything.
    /// `buf` holds the bytes that came after the head.
    async fn read(mut self, framing: Framing, buf: Vec<u8>) -> (Vec<u8>, Option<BodyError>) {
        match framing {
            Framing::Empty => (Vec::new(), None),
            Framing::Length(length) => self.read_length(length, buf).await,
            Framing::UntilClose => self.read_until_close(buf).await,
            Framing::Chunked => self.read_chunked(buf).await,
        }
    }

    fn cap(&self) -> usize {
        usize::try_from(self.prober.body_cap()).unwrap_or(usize::MAX)
    }

    /// Cuts a body of unknown length back to the cap; `true` when it was over it.
    fn cut_at_cap(&self, body: &mut Vec<u8>) -> bool {
        let over = body.len() > self.cap();
        if over {
            body.truncate(self.cap());
        }
        over
    }

    fn too_large(&self, declared: Option<u64>) -> Option<BodyError> {
        Some(BodyError::TooLarge {
            cap: self.prober.body_cap(),
            declared,
        })
    }

    /// A `Content-Length` body. A declared length over the cap is refused before
    /// anything more is read.
    async fn read_length(&mut self, length: u64, mut buf: Vec<u8>) -> (Vec<u8>, Option<BodyError>) {
        let cap = self.cap();
        let Some(length) = usize::try_from(length).ok().filter(|&length| length <= cap) else {
            buf.truncate(cap);
            return (buf, self.too_large(Some(length)));
        };
        while buf.len() < length {
            let missing = length - buf.len();
            match self.fill(&mut buf, missing).await {
                Ok(0) => {
                    let message = format!(
                        "the proxy closed the connection after {} of the {length} bytes it declared",
                        buf.len()
                    );
                    return (buf, Some(BodyError::Read(message)));
                }
                Ok(_) => {}
                Err(err) => return (buf, Some(err)),
            }
        }
        buf.truncate(length);
        (buf, None)
    }

    /// A body without a length: everything until the proxy closes.
    async fn read_until_close(&mut self, mut buf: Vec<u8>) -> (Vec<u8>, Option<BodyError>) {
        loop {
            if self.cut_at_cap(&mut buf) {
                return (buf, self.too_large(None));
            }
            match self.fill(&mut buf, LATER_READ).await {
                Ok(0) => return (buf, None),
                Ok(_) => {}
                Err(err) => return (buf, Some(err)),
            }
        }
    }

    /// A chunked body, decoded as it arrives.
    async fn read_chunked(&mut self, mut raw: Vec<u8>) -> (Vec<u8>, Option<BodyError>) {
        let mut decoder = ChunkedDecoder::new();
        let mut body = Vec::new();
        loop {
            match decoder.decode(&raw, &mut body) {
                Ok(used) => drop(raw.drain(..used)),
                Err(err) => return (body, Some(BodyError::Read(err.to_string()))),
            }
            if self.cut_at_cap(&mut body) {
                return (body, self.too_large(None));
            }
            if decoder.is_done() {
                return (body, None);
            }
            match self.fill(&mut raw, LATER_READ).await {
                Ok(0) => {
                    let message = "the proxy closed the connection before the last chunk";
                    return (body, Some(BodyError::Read(message.to_owned())));
                }
                Ok(_) => {}
                Err(err) => return (body, Some(err)),
            }
        }
    }

    /// One read of at most what fits in `room` more bytes, within the deadline;
    /// `Ok(0)` when the proxy closed the connection.
    async fn fill(&mut self, buf: &mut Vec<u8>, room: usize) -> Result<usize, BodyError> {
        make_room(buf, room.min(LATER_READ));
        match timeout_at(self.deadline, self.stream.read_buf(buf)).await {
            Err(_elapsed) => Err(BodyError::Timeout {
                after: self.prober.timeout(),
            }),
            Ok(Err(err)) => Err(BodyError::Read(err.to_string())),
            Ok(Ok(read)) => Ok(read),
        }
    }
}

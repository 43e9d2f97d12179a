//! The lean transport for `http://` URLs: one fresh TCP connection, one request
//! written at once, the answer read in the check's own task, no pool, no
//! background connection task and no header map.
//!
//! A sweep over thousands of healthy proxies spends its time here, so this path
//! does only what a check needs: [`crate::http1::head`] reads the response head
//! and keeps the three headers the classifier looks at and the body's framing,
//! [`crate::http1::chunked`] decodes chunked bodies. The head and the body are
//! read into the buffer the caller lent, which becomes the body.
//!
//! The TLS transport (`lean_tls`) opens its connections, encodes its
//! request and reads its answer with the same parts: [`open`],
//! [`encode_request`] and [`answer`], generic over the stream.

mod connect;
mod request;

pub(super) use connect::open;
use connect::{Begun, begin, finish};
pub(super) use request::encode as encode_request;

use super::exchange::{BodyCap, BodyStop, Failure, Head};
use super::resolve::LookedUp;
use crate::http1::chunked::ChunkedDecoder;
use crate::http1::head::{self, Framing, HeadError};
use proxyhealth_core::TransportErrorKind;
use std::io;
use std::net::IpAddr;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use url::Url;

/// Bytes reserved for the first read: a health report and its head usually fit,
/// and a block this small comes from the allocator's per-thread cache.
const FIRST_READ: usize = 1024;
/// Bytes reserved for each later read of a body of unknown length.
const LATER_READ: usize = 16 * 1024;

/// Sends `GET url` on a fresh connection (to the addresses `looked_up` gives
/// for a host name, from the local address `source` when given) and reads
/// the final response head into `buf`'s allocation; the bytes after the head
/// stay in the returned body.
pub(super) async fn send(
    url: &Url,
    looked_up: Option<LookedUp>,
    buf: Vec<u8>,
    source: Option<IpAddr>,
) -> Result<(Head, Body), Failure> {
    let request = request::encode(url).map_err(Failure::RequestBuild)?;
    let stream = connect::open(url, looked_up, &request, source).await?;
    let mut buf = buf;
    buf.clear();
    answer(stream, buf, head_read_failure).await
}

/// A request whose connection was opened and whose bytes were written
/// without waiting ([`start`]), its answer not read yet; or why that failed.
#[derive(Debug)]
pub(crate) struct Started(Result<Begun, Failure>);

/// Opens a connection to the URL's host and writes `GET url` on it without
/// waiting for anything, from `source` when given. `None` when the host is a
/// name (its lookup waits) or the URL cannot make a request: such a check
/// takes [`send`], which says why.
pub(super) fn start(url: &Url, source: Option<IpAddr>) -> Option<Started> {
    let address = match url.host()? {
        url::Host::Ipv4(ip) => IpAddr::V4(ip),
        url::Host::Ipv6(ip) => IpAddr::V6(ip),
        url::Host::Domain(_) => return None,
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let request = request::encode(url).ok()?;
    let begun = begin((address, port).into(), &request, source);
    Some(Started(begun.map_err(connect::OpenError::into_failure)))
}

/// Reads the final response head of a [`start`]ed request into `buf`'s
/// allocation, as [`send`] does; first, before the socket joins the
/// reactor, whatever already arrived: an answer that came while the check
/// waited to be read is read however late that is.
pub(super) async fn send_started(
    started: Started,
    mut buf: Vec<u8>,
) -> Result<(Head, Body), Failure> {
    let begun = started.0?;
    buf.clear();
    if begun.is_sent() {
        read_arrived(begun.socket(), &mut buf).map_err(head_read_failure)?;
    }
    let stream = finish(begun)
        .await
        .map_err(connect::OpenError::into_failure)?;
    answer(stream, buf, head_read_failure).await
}

/// One read, without waiting, of what already arrived on a non-blocking
/// socket, appended to `buf`.
fn read_arrived(socket: &std::net::TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    use std::io::Read;
    let filled = buf.len();
    buf.resize(filled + FIRST_READ, 0);
    let read = match (&mut &*socket).read(&mut buf[filled..]) {
        Ok(read) => read,
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => 0,
        Err(err) => {
            buf.truncate(filled);
            return Err(err);
        }
    };
    buf.truncate(filled + read);
    Ok(())
}

/// Reads the final response head from `stream`, whose request was sent, into
/// `buf`'s allocation, after the bytes of the answer `buf` already holds
/// (none, unless the caller read some); the bytes after the head stay in the
/// returned body. `read_failure` says why a read of the head failed.
pub(super) async fn answer<S: AsyncRead + Unpin>(
    mut stream: S,
    mut buf: Vec<u8>,
    read_failure: fn(io::Error) -> Failure,
) -> Result<(Head, Body<S>), Failure> {
    // What already arrived counts toward the first read's room: an answer
    // read before the socket joined the reactor fills the buffer's first
    // read, and asking for a whole first read after it would double a buffer
    // that holds the answer already (every sweep worker keeps its buffer).
    let first_read_left = FIRST_READ.saturating_sub(buf.len());
    make_room(&mut buf, first_read_left);
    let parsed = read_head(&mut stream, &mut buf, read_failure).await?;
    buf.drain(..parsed.len);
    let head = Head {
        status: parsed.status,
        content_type: parsed.content_type,
        build_version: parsed.build_version,
        location: parsed.location,
        answered_from: None,
        tls_not_after: None,
    };
    let body = Body {
        stream,
        framing: parsed.framing,
        buf,
    };
    Ok((head, body))
}

/// Why a read of the response head failed, on a plain connection.
pub(super) fn head_read_failure(err: io::Error) -> Failure {
    protocol(format!("error reading the response head: {err}"))
}

/// One read into `buf`; `Ok(0)` when the peer closed. A TLS peer that
/// closes without `close_notify` closed all the same: what was read stands,
/// and a head or body cut short says so as on a plain connection.
async fn read_some<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> io::Result<usize> {
    match stream.read_buf(buf).await {
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
        read => read,
    }
}

fn protocol(message: String) -> Failure {
    Failure::transport(TransportErrorKind::Protocol, message)
}

/// Reads until `buf` starts with a complete final response head (skipping
/// interim 1xx answers). The head is parsed after the first read, so garbage is
/// refused at once, and after that only once a blank line has arrived, so a head
/// trickled in byte by byte costs a scan per byte, not a parse per read.
async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    read_failure: fn(io::Error) -> Failure,
) -> Result<head::Head, Failure> {
    let mut worth_parsing = !buf.is_empty();
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
        let read = read_some(stream, buf).await.map_err(read_failure)?;
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

/// A body after its head: the connection, how the body ends, and the bytes
/// that came after the head.
#[derive(Debug)]
pub(crate) struct Body<S = TcpStream> {
    stream: S,
    framing: Framing,
    buf: Vec<u8>,
}

impl<S: AsyncRead + Unpin> Body<S> {
    /// The body (at most the cap) and what stopped it early, if anything.
    pub(super) async fn read(self, deadline: Instant, cap: BodyCap) -> (Vec<u8>, Option<BodyStop>) {
        let Body {
            mut stream,
            framing,
            buf,
        } = self;
        let mut reader = BodyReader {
            stream: &mut stream,
            deadline,
            cap,
        };
        match framing {
            Framing::Empty => (Vec::new(), None),
            Framing::Length(length) => reader.read_length(length, buf).await,
            Framing::UntilClose => reader.read_until_close(buf).await,
            Framing::Chunked => reader.read_chunked(buf).await,
        }
    }

    /// The buffer, with the connection closed unread.
    pub(super) fn into_buffer(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads a body within the check's deadline and body cap.
struct BodyReader<'a, S> {
    stream: &'a mut S,
    deadline: Instant,
    cap: BodyCap,
}

impl<S: AsyncRead + Unpin> BodyReader<'_, S> {
    /// A `Content-Length` body. A declared length over the cap is refused before
    /// anything more is read.
    async fn read_length(&mut self, length: u64, mut buf: Vec<u8>) -> (Vec<u8>, Option<BodyStop>) {
        let cap = self.cap.bytes();
        let Some(length) = usize::try_from(length).ok().filter(|&length| length <= cap) else {
            buf.truncate(cap);
            let declared = Some(length);
            return (buf, Some(BodyStop::TooLarge { declared }));
        };
        while buf.len() < length {
            let missing = length - buf.len();
            match self.fill(&mut buf, missing).await {
                Ok(0) => {
                    let message = format!(
                        "the proxy closed the connection after {} of the {length} bytes it declared",
                        buf.len()
                    );
                    return (buf, Some(BodyStop::Read(message)));
                }
                Ok(_) => {}
                Err(stop) => return (buf, Some(stop)),
            }
        }
        buf.truncate(length);
        (buf, None)
    }

    /// A body without a length: everything until the proxy closes.
    async fn read_until_close(&mut self, mut buf: Vec<u8>) -> (Vec<u8>, Option<BodyStop>) {
        loop {
            if self.cap.cut(&mut buf) {
                return (buf, Some(BodyStop::TooLarge { declared: None }));
            }
            match self.fill(&mut buf, LATER_READ).await {
                Ok(0) => return (buf, None),
                Ok(_) => {}
                Err(stop) => return (buf, Some(stop)),
            }
        }
    }

    /// A chunked body, decoded as it arrives.
    async fn read_chunked(&mut self, mut raw: Vec<u8>) -> (Vec<u8>, Option<BodyStop>) {
        let mut decoder = ChunkedDecoder::new();
        let mut body = Vec::new();
        loop {
            match decoder.decode(&raw, &mut body) {
                Ok(used) => drop(raw.drain(..used)),
                Err(err) => return (body, Some(BodyStop::Read(err.to_string()))),
            }
            if self.cap.cut(&mut body) {
                return (body, Some(BodyStop::TooLarge { declared: None }));
            }
            if decoder.is_done() {
                return (body, None);
            }
            match self.fill(&mut raw, LATER_READ).await {
                Ok(0) => {
                    let message = "the proxy closed the connection before the last chunk";
                    return (body, Some(BodyStop::Read(message.to_owned())));
                }
                Ok(_) => {}
                Err(stop) => return (body, Some(stop)),
            }
        }
    }

    /// One read of at most what fits in `room` more bytes, within the deadline;
    /// `Ok(0)` when the proxy closed the connection.
    async fn fill(&mut self, buf: &mut Vec<u8>, room: usize) -> Result<usize, BodyStop> {
        make_room(buf, room.min(LATER_READ));
        match timeout_at(self.deadline, read_some(self.stream, buf)).await {
            Err(_elapsed) => Err(BodyStop::Deadline),
            Ok(Err(err)) => Err(BodyStop::Read(err.to_string())),
            Ok(Ok(read)) => Ok(read),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    const OK_ANSWER: &[u8] =
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 13\r\n\r\n{\"errors\":[]}";

    #[tokio::test]
    async fn an_answer_that_arrived_before_its_check_was_read_keeps_one_first_reads_buffer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a listener");
        let address = listener.local_addr().expect("the listener's address");
        let url = Url::parse(&format!("http://{address}/health")).expect("a URL");
        let proxy = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept the check");
            let mut request = Vec::new();
            let mut byte = [0_u8; 1];
            while !request.ends_with(b"\r\n\r\n")
                && stream.read(&mut byte).expect("read the request") == 1
            {
                request.push(byte[0]);
            }
            stream.write_all(OK_ANSWER).expect("answer");
            stream
        });
        let started = start(&url, None).expect("an address's check starts");
        let _proxy_side = proxy.join().expect("the proxy answered");
        // The answer waits in the socket, as for a check a worker reaches late.
        let begun = started.0.as_ref().expect("the connection was made");
        let waiting_since = Instant::now();
        while begun.socket().peek(&mut [0_u8; 1]).map_or(0, |n| n) == 0 {
            assert!(
                waiting_since.elapsed() < Duration::from_secs(5),
                "the answer never arrived"
            );
            std::thread::yield_now();
        }
        let (head, body) = send_started(started, Vec::new())
            .await
            .expect("the answer is read");
        assert_eq!(head.status, 200);
        // A sweep worker keeps this buffer for its next check: it must not
        // have grown for a read the answer did not need.
        assert!(
            body.buf.capacity() <= FIRST_READ,
            "capacity {}",
            body.buf.capacity()
        );
    }
}

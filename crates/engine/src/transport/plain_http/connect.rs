//! Opening a check's connection with its request already sent.
//!
//! On a LAN, and always on loopback, a fresh TCP connection is complete by the
//! time `connect(2)` returns, even on a non-blocking socket. So the request is
//! written at once, before the socket joins the reactor: the check skips a wait
//! for writability, the task wake-up that comes with it and the `SO_ERROR`
//! query. Only a connection still in progress takes the usual path: wait until
//! it is writable, ask the socket whether connecting failed, then write.

use crate::transport::exchange::Failure;
use crate::transport::resolve::LookedUp;
use proxyhealth_core::TransportErrorKind;
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use url::{Host, Url};

/// Why opening a connection to one address failed.
pub(crate) enum OpenError {
    /// The connection could not be made: the next address may do better.
    Connect(Failure),
    /// The connection was made but the request could not be written.
    Write(Failure),
}

impl OpenError {
    pub(super) fn into_failure(self) -> Failure {
        match self {
            OpenError::Connect(failure) | OpenError::Write(failure) => failure,
        }
    }
}

/// Opens a fresh connection to the URL's host from `source` (when given) and
/// writes `request` on it, trying each address the host name was looked up
/// to (`looked_up`, which the pipeline gives for a host name) until one
/// connects.
///
/// An empty `request` opens the connection only, for TLS, whose handshake
/// speaks first: then Nagle's algorithm is off, so the handshake's small
/// writes and the request after them never wait for an acknowledgement.
pub(crate) async fn open(
    url: &Url,
    looked_up: Option<LookedUp>,
    request: &[u8],
    source: Option<IpAddr>,
) -> Result<TcpStream, Failure> {
    let port = url.port_or_known_default().unwrap_or(80);
    let opened = match url.host() {
        Some(Host::Ipv4(ip)) => open_to(SocketAddr::from((ip, port)), request, source).await,
        Some(Host::Ipv6(ip)) => open_to(SocketAddr::from((ip, port)), request, source).await,
        Some(Host::Domain(_)) => {
            let addresses = looked_up.map(|looked_up| looked_up.addresses);
            let mut last = Err(OpenError::Connect(Failure::transport(
                TransportErrorKind::Connect,
                "dns error: no addresses found".to_owned(),
            )));
            for address in addresses.into_iter().flatten() {
                last = open_to(address, request, source).await;
                if !matches!(last, Err(OpenError::Connect(_))) {
                    break;
                }
            }
            last
        }
        None => {
            return Err(Failure::RequestBuild(format!(
                "no host in request URL {:?}",
                url.as_str()
            )));
        }
    };
    opened.map_err(OpenError::into_failure)
}

/// Binds `socket` to `source` (any port) before it connects, so the
/// connection comes from that address.
fn bind_source(socket: &Socket, source: Option<IpAddr>) -> io::Result<()> {
    match source {
        Some(ip) => socket
            .bind(&SocketAddr::new(ip, 0).into())
            .map_err(|err| io::Error::new(err.kind(), format!("binding to {ip}: {err}"))),
        None => Ok(()),
    }
}

/// Connects to one address (from `source` when given) and writes `request`.
async fn open_to(
    address: SocketAddr,
    request: &[u8],
    source: Option<IpAddr>,
) -> Result<TcpStream, OpenError> {
    finish(begin(address, request, source)?).await
}

/// A connection opened without waiting: the socket made, `connect(2)` called
/// and as much of the request written as the socket took at once. What is
/// left ([`finish`]) needs the reactor; this part needs none, so a sweep's
/// starter can open connections on a thread of its own.
#[derive(Debug)]
pub(crate) struct Begun {
    socket: std::net::TcpStream,
    address: SocketAddr,
    /// Whether the connection's outcome is still to be waited for.
    connecting: bool,
    /// The part of the request the socket did not take at once.
    unsent: Vec<u8>,
}

impl Begun {
    /// Whether the connection is made and the whole request written, so
    /// that only the answer is left to read.
    pub(super) fn is_sent(&self) -> bool {
        !self.connecting && self.unsent.is_empty()
    }

    /// The socket, to read what already arrived before it joins the reactor.
    pub(super) fn socket(&self) -> &std::net::TcpStream {
        &self.socket
    }
}

/// The part of opening a connection that never waits (see [`Begun`]).
pub(crate) fn begin(
    address: SocketAddr,
    request: &[u8],
    source: Option<IpAddr>,
) -> Result<Begun, OpenError> {
    let connect_error = |err: io::Error| connect_failure(address, err);
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )
    .map_err(connect_error)?;
    // Closed with a reset, not a FIN: a check reads its whole answer (or gives
    // up on the proxy) before closing, so nothing is lost, and the checker
    // leaves no TIME_WAIT socket behind, nor a connection-tracking entry held
    // for minutes by every firewall on the way (HAProxy closes its health
    // checks the same way). A sweep of 10,000 proxies every 10 s would
    // otherwise keep some 60,000 sockets in TIME_WAIT.
    socket
        .set_linger(Some(Duration::ZERO))
        .map_err(connect_error)?;
    bind_source(&socket, source).map_err(connect_error)?;
    let connected = match socket.connect(&address.into()) {
        Ok(()) => true,
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => false,
        Err(err) => return Err(connect_error(err)),
    };
    let socket = std::net::TcpStream::from(socket);
    if request.is_empty() {
        socket.set_nodelay(true).map_err(connect_error)?;
        return Ok(Begun {
            socket,
            address,
            connecting: !connected,
            unsent: Vec::new(),
        });
    }
    // A refused or reset connection reports its error here, before a
    // byte was sent: it is the connection that failed, not the request.
    let written = match (&socket).write(request) {
        Ok(written) => written,
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => 0,
        Err(err) => return Err(connect_error(err)),
    };
    Ok(Begun {
        socket,
        address,
        // Nothing written: still connecting, or the socket's buffer is full.
        connecting: written == 0,
        unsent: request.get(written..).unwrap_or_default().to_vec(),
    })
}

/// The part of opening a connection that may wait: for the connection's
/// outcome when it was still in progress, and for room to write the rest
/// of the request.
pub(crate) async fn finish(begun: Begun) -> Result<TcpStream, OpenError> {
    let Begun {
        socket,
        address,
        connecting,
        unsent,
    } = begun;
    let connect_error = |err: io::Error| connect_failure(address, err);
    let mut stream = TcpStream::from_std(socket).map_err(connect_error)?;
    if connecting {
        // Wait for the outcome and ask the socket for it.
        stream.writable().await.map_err(connect_error)?;
        if let Some(err) = stream.take_error().map_err(connect_error)? {
            return Err(connect_error(err));
        }
    }
    if !unsent.is_empty() {
        stream.write_all(&unsent).await.map_err(|err| {
            OpenError::Write(Failure::transport(
                TransportErrorKind::Protocol,
                format!("error writing the request: {err}"),
            ))
        })?;
    }
    Ok(stream)
}

fn connect_failure(address: SocketAddr, err: io::Error) -> OpenError {
    OpenError::Connect(Failure::transport(
        TransportErrorKind::Connect,
        format!("tcp connect error: {address}: {err}"),
    ))
}

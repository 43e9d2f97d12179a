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
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use url::{Host, Url};

/// Why opening a connection to one address failed.
pub(super) enum OpenError {
    /// The connection could not be made: the next address may do better.
    Connect(Failure),
    /// The connection was made but the request could not be written.
    Write(Failure),
}

impl OpenError {
    fn into_failure(self) -> Failure {
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
    let connect_error = |err: io::Error| {
        OpenError::Connect(Failure::transport(
            TransportErrorKind::Connect,
            format!("tcp connect error: {address}: {err}"),
        ))
    };
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )
    .map_err(connect_error)?;
    bind_source(&socket, source).map_err(connect_error)?;
    let connected = match socket.connect(&address.into()) {
        Ok(()) => true,
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => false,
        Err(err) => return Err(connect_error(err)),
    };
    let socket = std::net::TcpStream::from(socket);
    let written = if request.is_empty() {
        socket.set_nodelay(true).map_err(connect_error)?;
        if connected {
            return TcpStream::from_std(socket).map_err(connect_error);
        }
        0
    } else {
        // A refused or reset connection reports its error here, before a
        // byte was sent: it is the connection that failed, not the request.
        match (&socket).write(request) {
            Ok(written) => written,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => 0,
            Err(err) => return Err(connect_error(err)),
        }
    };
    let mut stream = TcpStream::from_std(socket).map_err(connect_error)?;
    if written == 0 {
        // Still connecting: wait for the outcome and ask the socket for it.
        stream.writable().await.map_err(connect_error)?;
        if let Some(err) = stream.take_error().map_err(connect_error)? {
            return Err(connect_error(err));
        }
    }
    if written < request.len() {
        stream.write_all(&request[written..]).await.map_err(|err| {
            OpenError::Write(Failure::transport(
                TransportErrorKind::Protocol,
                format!("error writing the request: {err}"),
            ))
        })?;
    }
    Ok(stream)
}

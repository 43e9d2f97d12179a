//! The lean transport for `https://` URLs: the plain transport's fresh TCP
//! connection (same lookup, source address and connect errors), a full
//! rustls handshake on it, then the plain transport's request and answer
//! reading over the encrypted stream, all in the check's own task.
//!
//! The certificate the proxy presented goes with every answer (its expiry,
//! see [`crate::transport::certificate`]). A failed handshake, or a TLS
//! alert met while the answer is read, is told as the `reqwest` client
//! tells it (`client error (Connect): ...`, `client error (SendRequest):
//! connection error: ...`, with the refusal in words before it, see
//! `transport::refusal`): alerts and dashboards match on these texts.

mod config;

pub(crate) use config::client_config;

use super::certificate::not_after;
use super::exchange::{Failure, Head};
use super::plain_http::{self, encode_request, head_read_failure, open};
use super::refusal::{self, looks_like_tls, tls_cause};
use super::resolve::LookedUp;
use proxyhealth_core::{TransportError, TransportErrorKind};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use url::{Host, Url};

/// A body on the TLS transport.
pub(crate) type Body = plain_http::Body<TlsStream<TcpStream>>;

/// Sends `GET url` over a fresh connection and handshake (to the addresses
/// `looked_up` gives for a host name, from `source` when given) and reads the
/// final response head into `buf`'s allocation; the head carries the expiry
/// of the proxy's certificate.
pub(crate) async fn send(
    config: &Arc<ClientConfig>,
    url: &Url,
    looked_up: Option<LookedUp>,
    mut buf: Vec<u8>,
    source: Option<IpAddr>,
) -> Result<(Head, Body), Failure> {
    let request = encode_request(url).map_err(Failure::RequestBuild)?;
    let name = server_name(url)?;
    let stream = open(url, looked_up, &[], source).await?;
    let mut stream = TlsConnector::from(Arc::clone(config))
        .connect(name, stream)
        .await
        .map_err(handshake_failure)?;
    let tls_not_after = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| not_after(leaf));
    write_request(&mut stream, &request).await?;
    buf.clear();
    let (mut head, body) = plain_http::answer(stream, buf, read_failure).await?;
    head.tls_not_after = tls_not_after;
    Ok((head, body))
}

/// The name the proxy's certificate must be for: the URL's host.
fn server_name(url: &Url) -> Result<ServerName<'static>, Failure> {
    match url.host() {
        Some(Host::Ipv4(ip)) => Ok(ServerName::IpAddress(IpAddr::V4(ip).into())),
        Some(Host::Ipv6(ip)) => Ok(ServerName::IpAddress(IpAddr::V6(ip).into())),
        Some(Host::Domain(name)) => ServerName::try_from(name.to_owned()).map_err(|err| {
            Failure::transport(
                TransportErrorKind::Connect,
                format!("client error (Connect): {err}"),
            )
        }),
        None => Err(Failure::RequestBuild(format!(
            "no host in request URL {:?}",
            url.as_str()
        ))),
    }
}

async fn write_request(stream: &mut TlsStream<TcpStream>, request: &[u8]) -> Result<(), Failure> {
    let written = match stream.write_all(request).await {
        Ok(()) => stream.flush().await,
        Err(err) => Err(err),
    };
    written.map_err(|err| match tls_cause(&err) {
        Some(_) => after_handshake(&err),
        None => Failure::transport(
            TransportErrorKind::Protocol,
            format!("error writing the request: {err}"),
        ),
    })
}

/// Why the handshake failed: a certificate refusal or alert in words, anything
/// else (a reset, a peer that does not speak TLS) as the library says it.
fn handshake_failure(err: io::Error) -> Failure {
    let message = format!("client error (Connect): {err}");
    let kind = if looks_like_tls(&message) {
        TransportErrorKind::Tls
    } else {
        TransportErrorKind::Connect
    };
    refusal::failure(TransportError { kind, message }, tls_cause(&err))
}

/// Why a read of the head failed: a TLS alert (the proxy refusing the client
/// certificate after the handshake, in TLS 1.3) in words, anything else as
/// on a plain connection.
fn read_failure(err: io::Error) -> Failure {
    match tls_cause(&err) {
        Some(_) => after_handshake(&err),
        None => head_read_failure(err),
    }
}

/// A TLS error met after the handshake.
fn after_handshake(err: &io::Error) -> Failure {
    let message = format!("client error (SendRequest): connection error: {err}");
    let kind = if looks_like_tls(&message) {
        TransportErrorKind::Tls
    } else {
        TransportErrorKind::Protocol
    };
    refusal::failure(TransportError { kind, message }, tls_cause(err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::{AlertDescription, CertificateError, InvalidMessage};

    fn tls_io(err: rustls::Error) -> io::Error {
        // How tokio-rustls hands a rustls error over.
        io::Error::new(io::ErrorKind::InvalidData, err)
    }

    fn transport(failure: Failure) -> TransportError {
        match failure {
            Failure::Transport(error) | Failure::Expired { error, .. } => error,
            Failure::RequestBuild(message) => panic!("not a transport failure: {message}"),
        }
    }

    #[test]
    fn a_certificate_refused_in_the_handshake_is_a_tls_failure_in_words() {
        let error = transport(handshake_failure(tls_io(
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        )));
        assert_eq!(error.kind, TransportErrorKind::Tls);
        assert!(
            error
                .message
                .ends_with(" (client error (Connect): invalid peer certificate: UnknownIssuer)"),
            "{}",
            error.message
        );
    }

    #[test]
    fn a_handshake_with_something_not_speaking_tls_is_a_connect_failure() {
        let error = transport(handshake_failure(tls_io(rustls::Error::InvalidMessage(
            InvalidMessage::InvalidContentType,
        ))));
        assert_eq!(error.kind, TransportErrorKind::Connect);
        assert_eq!(
            error.message,
            "client error (Connect): received corrupt message of type InvalidContentType"
        );
    }

    #[test]
    fn a_handshake_reset_is_a_connect_failure_and_an_eof_speaking_of_tls_a_tls_one() {
        let reset = transport(handshake_failure(io::Error::from(
            io::ErrorKind::ConnectionReset,
        )));
        assert_eq!(reset.kind, TransportErrorKind::Connect);
        let eof = transport(handshake_failure(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "tls handshake eof",
        )));
        assert_eq!(eof.kind, TransportErrorKind::Tls);
        assert_eq!(eof.message, "client error (Connect): tls handshake eof");
    }

    #[test]
    fn an_alert_while_reading_the_head_is_a_tls_failure_in_words() {
        let error = transport(read_failure(tls_io(rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired,
        ))));
        assert_eq!(error.kind, TransportErrorKind::Tls);
        assert!(
            error.message.ends_with(
                " (client error (SendRequest): connection error: received fatal alert: CertificateRequired)"
            ),
            "{}",
            error.message
        );
    }

    #[test]
    fn an_alert_without_words_keeps_the_librarys_text_and_its_kind() {
        let error = transport(read_failure(tls_io(rustls::Error::AlertReceived(
            AlertDescription::InternalError,
        ))));
        assert_eq!(error.kind, TransportErrorKind::Protocol);
        assert_eq!(
            error.message,
            "client error (SendRequest): connection error: received fatal alert: InternalError"
        );
    }

    #[test]
    fn a_reset_while_reading_the_head_is_told_as_on_plain_http() {
        let error = transport(read_failure(io::Error::from(
            io::ErrorKind::ConnectionReset,
        )));
        assert_eq!(error.kind, TransportErrorKind::Protocol);
        assert!(
            error
                .message
                .starts_with("error reading the response head: "),
            "{}",
            error.message
        );
    }

    #[test]
    fn the_server_name_is_the_urls_host_name_or_address() {
        let name = |url: &str| server_name(&Url::parse(url).expect("a URL")).ok();
        assert_eq!(
            name("https://proxy.example:8443/x"),
            ServerName::try_from("proxy.example").ok()
        );
        assert_eq!(
            name("https://10.0.0.1/"),
            Some(ServerName::IpAddress(IpAddr::from([10, 0, 0, 1]).into()))
        );
        assert_eq!(
            name("https://[::1]/"),
            Some(ServerName::IpAddress(
                IpAddr::from(std::net::Ipv6Addr::LOCALHOST).into()
            ))
        );
    }
}

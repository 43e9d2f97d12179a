//! A TLS failure as the operator reads it, whichever transport met it: the
//! certificate refusals and the alerts about the client certificate in words
//! an operator acts on, with the library's own text after them in
//! parentheses; any other failure as the library says it. An expired
//! certificate also gives its expiry, which the status keeps.

use super::exchange::Failure;
use proxyhealth_core::advice;
use proxyhealth_core::{TransportError, TransportErrorKind};
use rustls::pki_types::UnixTime;
use rustls::{AlertDescription, CertificateError};
use std::error::Error as StdError;
use time::OffsetDateTime;

/// The failure for `error`, whose cause was `tls` when a rustls error was
/// behind it: in words when the refusal has words (then of kind
/// [`TransportErrorKind::Tls`]), `error` as it is otherwise.
pub(super) fn failure(error: TransportError, tls: Option<&rustls::Error>) -> Failure {
    let Some(tls) = tls else {
        return Failure::Transport(error);
    };
    let Some(words) = tls_words(tls) else {
        return Failure::Transport(error);
    };
    let error = TransportError {
        kind: TransportErrorKind::Tls,
        message: format!("{words} ({})", error.message),
    };
    match tls {
        rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            not_after, ..
        }) => Failure::Expired {
            error,
            not_after: date(*not_after),
        },
        _ => Failure::Transport(error),
    }
}

/// The rustls error behind a failure, if one is: it sits in the chain itself
/// or inside an `io::Error` of it (whose `source` skips the error it wraps).
pub(super) fn tls_cause<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(link) = current {
        if let Some(tls) = link.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(io) = link.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(tls) = tls_cause(inner)
        {
            return Some(tls);
        }
        current = link.source();
    }
    None
}

/// A TLS refusal in words an operator acts on, for the refusals that have
/// such words; `None` leaves the library's text alone.
fn tls_words(err: &rustls::Error) -> Option<String> {
    let words = match err {
        rustls::Error::InvalidCertificate(refusal) => match refusal {
            CertificateError::ExpiredContext { time, not_after } => {
                advice::expired(date(*not_after), date(*time))
            }
            CertificateError::Expired => "the proxy's TLS certificate has expired".to_owned(),
            CertificateError::NotValidYetContext { time, not_before } => {
                advice::not_yet_valid(date(*not_before), date(*time))
            }
            CertificateError::NotValidYet => {
                "the proxy's TLS certificate is not valid yet (check its dates and this machine's clock)"
                    .to_owned()
            }
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => {
                let names = if presented.is_empty() {
                    "it names no host".to_owned()
                } else {
                    let names: Vec<&str> = presented.iter().map(|name| plain_name(name)).collect();
                    format!("it is for {}", names.join(", "))
                };
                format!(
                    "the proxy's TLS certificate is not valid for the name {:?} the proxy URL uses: {names}",
                    expected.to_str()
                )
            }
            CertificateError::NotValidForName => {
                "the proxy's TLS certificate is not valid for the name the proxy URL uses".to_owned()
            }
            CertificateError::UnknownIssuer => {
                "the proxy's TLS certificate is not signed by a certificate authority this checker trusts \
                 (a private CA is trusted with --tls-ca-file)"
                    .to_owned()
            }
            CertificateError::BadSignature => {
                "the proxy's TLS certificate has a signature that does not verify".to_owned()
            }
            CertificateError::Revoked => "the proxy's TLS certificate has been revoked".to_owned(),
            _ => return None,
        },
        rustls::Error::AlertReceived(AlertDescription::CertificateRequired) => {
            "the proxy requires a TLS client certificate (mutual TLS) and this checker sent none \
             (set --tls-client-cert and --tls-client-key)"
                .to_owned()
        }
        rustls::Error::AlertReceived(
            alert @ (AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::UnsupportedCertificate),
        ) => format!(
            "the proxy refused this checker's TLS client certificate (it answered {alert:?})"
        ),
        _ => return None,
    };
    Some(words)
}

/// A name a certificate presents, without the wrapper rustls writes around
/// it (`DnsName("a.example")` is `a.example`, `IpAddress(10.0.0.1)` is `10.0.0.1`).
fn plain_name(presented: &str) -> &str {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|rest| rest.strip_suffix("\")"))
        .or_else(|| {
            presented
                .strip_prefix("IpAddress(")
                .and_then(|rest| rest.strip_suffix(')'))
        })
        .unwrap_or(presented)
}

/// A time of a TLS error as a date.
fn date(at: UnixTime) -> OffsetDateTime {
    i64::try_from(at.as_secs())
        .ok()
        .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Whether a library's error text speaks of TLS (a failure it gives no type for).
pub(super) fn looks_like_tls(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_names_lose_the_wrapper_rustls_writes() {
        assert_eq!(plain_name("DnsName(\"a.example\")"), "a.example");
        assert_eq!(plain_name("IpAddress(10.0.0.1)"), "10.0.0.1");
        assert_eq!(plain_name("something else"), "something else");
    }
}

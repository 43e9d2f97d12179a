//! What one request gives the probe pipeline, whichever transport sent it: the
//! head it keeps, why a body stopped early, why no answer came; and the body
//! cap as transports apply it while reading.
//!
//! The deadline's and the cap's values, and the texts that name them, belong
//! to the pipeline (`probe`): a transport only says that the deadline passed
//! or the cap was reached.

use proxyhealth_core::{TransportError, TransportErrorKind};
use time::OffsetDateTime;

/// The `User-Agent` of every check.
pub(crate) const USER_AGENT: &str = concat!("proxyhealth/", env!("CARGO_PKG_VERSION"));

/// What the pipeline keeps of a response head.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Head {
    /// The status code.
    pub(crate) status: u16,
    /// `Content-Type`, when sent.
    pub(crate) content_type: Option<String>,
    /// `X-Coder-Build-Version`, when sent.
    pub(crate) build_version: Option<String>,
    /// `Location`, when sent, whatever the status.
    pub(crate) location: Option<String>,
    /// The URL that answered, when the client followed redirects of its own
    /// accord (only a client the caller supplied may); `None` otherwise.
    pub(crate) answered_from: Option<String>,
    /// When the TLS certificate the proxy presented expires (`https://`
    /// only, when the certificate parses); `None` otherwise.
    pub(crate) tls_not_after: Option<OffsetDateTime>,
}

/// Why a body was not read to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyStop {
    /// The body passed the cap; `declared` is its `Content-Length`, if sent.
    TooLarge {
        /// The length the proxy declared, if it did.
        declared: Option<u64>,
    },
    /// The deadline passed while the body was being read.
    Deadline,
    /// The connection failed while the body was being read; says how.
    Read(String),
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The connection, TLS or the protocol failed.
    Transport(TransportError),
    /// The handshake refused the proxy's certificate because it expired at
    /// `not_after`, which the status keeps.
    Expired {
        /// The refusal, in words.
        error: TransportError,
        /// When the certificate expired.
        not_after: OffsetDateTime,
    },
    /// The request could not be built from the URL.
    RequestBuild(String),
}

impl Failure {
    /// A transport failure of `kind`.
    pub(crate) fn transport(kind: TransportErrorKind, message: String) -> Self {
        Failure::Transport(TransportError { kind, message })
    }
}

/// The most body bytes a check keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyCap(usize);

impl BodyCap {
    /// A cap of `bytes` (beyond the address space it is no cap at all).
    pub(crate) fn new(bytes: u64) -> Self {
        BodyCap(usize::try_from(bytes).unwrap_or(usize::MAX))
    }

    /// The cap in bytes.
    pub(crate) fn bytes(self) -> usize {
        self.0
    }

    /// Cuts `body` back to the cap; `true` when it was over it.
    pub(crate) fn cut(self, body: &mut Vec<u8>) -> bool {
        let over = body.len() > self.0;
        if over {
            body.truncate(self.0);
        }
        over
    }

    /// Appends `chunk` to `body`, keeping at most the cap; `false` when the
    /// chunk did not fit (what fitted was kept), so the reader stops.
    pub(crate) fn append(self, body: &mut Vec<u8>, chunk: &[u8]) -> bool {
        let room = self.0.saturating_sub(body.len());
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return false;
        }
        body.extend_from_slice(chunk);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_over_the_cap_is_cut_back_to_it() {
        let cap = BodyCap::new(3);
        let mut body = b"abcd".to_vec();
        assert!(cap.cut(&mut body));
        assert_eq!(body, b"abc");
        assert!(!cap.cut(&mut body));
    }

    #[test]
    fn appending_keeps_what_fits_and_says_when_it_did_not() {
        let cap = BodyCap::new(3);
        let mut body = Vec::new();
        assert!(cap.append(&mut body, b"ab"));
        assert!(!cap.append(&mut body, b"cd"));
        assert_eq!(body, b"abc");
    }
}

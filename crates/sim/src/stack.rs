//! How a simulated proxy serves: which HTTP server stack, over plain TCP or TLS.
//!
//! - [`Stack::Lean`]: one hyper HTTP/1 connection per accepted socket and the
//!   answer from static bytes: as little CPU per request as a server can spend,
//!   so the checker is what a benchmark measures.
//! - [`Stack::Costly`]: what a real server spends: a general-purpose stack
//!   (hyper-util's auto HTTP/1 + HTTP/2 connection, an axum router, a middleware
//!   chain that canonicalises every header, makes a request id, sets the
//!   security headers and formats an access-log line) and a handler that
//!   builds the JSON report per request and hashes it for an `ETag`, plus
//!   `work` more rounds of SHA-256 over 1 KiB to calibrate the
//!   CPU per request against a real server (the bench shows the figure).
//!
//! [`SimTls`] puts TLS in front of either stack with a self-made certificate.

use crate::error::SimError;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// The default extra SHA-256 rounds of [`Stack::Costly`] (about 1 µs each).
///
/// Calibrated with `scripts/bench` (bench/RESULTS.md, section 6): a request then
/// costs the fleet about 2.5 times the lean stack's CPU, the ratio that makes a
/// 10,000-proxy bad-day sweep take as much longer than on the lean stack as the
/// fleet of real Go `net/http` servers did when it was measured (6.1–6.4 s
/// against 5.5 s).
pub const DEFAULT_COSTLY_WORK: u32 = 100;

/// Which HTTP server answers a simulated proxy's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stack {
    /// Bare hyper HTTP/1 and static answers: the least CPU per request.
    #[default]
    Lean,
    /// A general-purpose stack and real work per request (see the module docs).
    Costly {
        /// Extra rounds of SHA-256 over 1 KiB per request.
        work: u32,
    },
}

impl Stack {
    /// The name in tables and on the command line (`lean`, `costly`).
    pub fn name(self) -> &'static str {
        match self {
            Stack::Lean => "lean",
            Stack::Costly { .. } => "costly",
        }
    }
}

/// A TLS identity for simulated proxies: a self-signed certificate made at
/// start (ECDSA P-256, valid for `localhost` and 127.0.0.1) and the acceptor
/// that serves it. Checkers must trust it explicitly (or not verify).
#[derive(Clone)]
pub struct SimTls {
    acceptor: TlsAcceptor,
    cert_pem: String,
}

impl std::fmt::Debug for SimTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimTls").finish_non_exhaustive()
    }
}

impl PartialEq for SimTls {
    /// The same identity: the same certificate.
    fn eq(&self, other: &Self) -> bool {
        self.cert_pem == other.cert_pem
    }
}

impl SimTls {
    /// Makes a fresh self-signed certificate and a TLS 1.2/1.3 server config
    /// (ALPN `http/1.1`, no session tickets) around it.
    pub fn self_signed() -> Result<SimTls, SimError> {
        let tls_error = |what: &str, err: &dyn std::fmt::Display| {
            SimError::InvalidSpec(format!("cannot make the TLS identity: {what}: {err}"))
        };
        let certified = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .map_err(|e| tls_error("certificate", &e))?;
        let cert_pem = certified.cert.pem();
        let cert = certified.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der())
            .map_err(|e| tls_error("key", &e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error("protocol versions", &e))?
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .map_err(|e| tls_error("certificate", &e))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.send_tls13_tickets = 0;
        Ok(SimTls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            cert_pem,
        })
    }

    /// The certificate in PEM, for a client that wants to trust it.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The acceptor that wraps an accepted socket.
    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

/// How every proxy of a fleet serves: the stack, and TLS or not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Serving {
    /// The HTTP server stack.
    pub stack: Stack,
    /// TLS in front of it, or plain TCP.
    pub tls: Option<SimTls>,
}

impl Serving {
    /// The URL scheme the proxies answer on.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }
}

//! The TLS files of the engine's options, read and checked: the CA bundle
//! trusted for proxies and the client certificate and key for mutual TLS.
//!
//! Read once, when the engine (or a one-shot sweep) is built, and checked
//! there, so a missing or wrong file fails at start-up with a message that
//! names the file and what is wrong with it, never at the first check. The
//! binary also calls [`TlsFiles::load`] while resolving its configuration, so
//! `check` and `serve` refuse a bad file as a configuration error.

use crate::options::{CaMode, EngineOptions};
use rustls::pki_types::pem::{self, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;

/// The TLS material the options name, read and checked.
#[derive(Clone, Default)]
pub struct TlsFiles {
    /// The CA bundle's certificates (empty without a bundle).
    pub(crate) roots: Vec<CertificateDer<'static>>,
    /// Whether only the bundle is trusted (not the system's roots).
    pub(crate) replace_roots: bool,
    /// The client certificate and key, for proxies that ask for one.
    pub(crate) identity: Option<ClientIdentity>,
}

/// A client certificate chain and its private key, checked to match.
pub(crate) struct ClientIdentity {
    /// The certificate first, then the chain up to (not always including) its CA.
    pub(crate) chain: Vec<CertificateDer<'static>>,
    /// The certificate's private key.
    pub(crate) key: PrivateKeyDer<'static>,
}

impl Clone for ClientIdentity {
    fn clone(&self) -> Self {
        ClientIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("roots", &self.roots.len())
            .field("replace_roots", &self.replace_roots)
            .field("identity", &self.identity.is_some())
            .finish()
    }
}

/// Why a TLS file of the options cannot be used. Every text names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsFileError {
    /// The file does not exist.
    #[error("{role} {path}: the file does not exist")]
    NotFound {
        /// Which file (`TLS CA file`, `TLS client certificate`, `TLS client key`).
        role: &'static str,
        /// Its path, as given.
        path: String,
    },
    /// The file could not be read.
    #[error("{role} {path}: cannot read the file: {reason}")]
    Unreadable {
        /// Which file.
        role: &'static str,
        /// Its path, as given.
        path: String,
        /// The system's reason.
        reason: String,
    },
    /// The file holds no PEM block at all, or a broken one.
    #[error("{role} {path}: not a PEM file ({reason})")]
    NotPem {
        /// Which file.
        role: &'static str,
        /// Its path, as given.
        path: String,
        /// What was expected, or what is broken.
        reason: String,
    },
    /// The file is PEM but holds no certificate.
    #[error("{role} {path}: holds no certificate (no -----BEGIN CERTIFICATE----- block)")]
    NoCertificate {
        /// Which file.
        role: &'static str,
        /// Its path, as given.
        path: String,
    },
    /// A certificate block does not hold an X.509 certificate.
    #[error("{role} {path}: certificate {number} is not a valid X.509 certificate: {reason}")]
    BadCertificate {
        /// Which file.
        role: &'static str,
        /// Its path, as given.
        path: String,
        /// Which certificate of the file, from 1.
        number: usize,
        /// What the parser said.
        reason: String,
    },
    /// The key file is PEM but holds no private key.
    #[error(
        "TLS client key {path}: holds no private key (no -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY block)"
    )]
    NoKey {
        /// Its path, as given.
        path: String,
    },
    /// The private key cannot be used.
    #[error("TLS client key {path}: the key cannot be used: {reason}")]
    BadKey {
        /// Its path, as given.
        path: String,
        /// What the TLS library said.
        reason: String,
    },
    /// The key is not the certificate's.
    #[error("TLS client key {key} does not match the certificate in {cert}")]
    KeyMismatch {
        /// The key file.
        key: String,
        /// The certificate file.
        cert: String,
    },
    /// A client certificate without its key.
    #[error(
        "TLS client certificate {path} is given without its key (set tls_client_key, --tls-client-key)"
    )]
    CertWithoutKey {
        /// The certificate file.
        path: String,
    },
    /// A client key without its certificate.
    #[error(
        "TLS client key {path} is given without its certificate (set tls_client_cert, --tls-client-cert)"
    )]
    KeyWithoutCert {
        /// The key file.
        path: String,
    },
    /// `replace` without a bundle would trust nothing.
    #[error(
        "TLS CA mode replace needs a CA file (set tls_ca_file, --tls-ca-file): without one no proxy certificate could be trusted"
    )]
    ReplaceWithoutCa,
}

const CA_FILE: &str = "TLS CA file";
const CLIENT_CERT: &str = "TLS client certificate";
const CLIENT_KEY: &str = "TLS client key";

impl TlsFiles {
    /// Reads and checks the files `options` names: the CA bundle (one or more
    /// certificates), and the client certificate with its key (both or
    /// neither; the key must be the certificate's).
    pub fn load(options: &EngineOptions) -> Result<TlsFiles, TlsFileError> {
        let roots = match &options.tls_ca_file {
            Some(path) => certificates(CA_FILE, path)?,
            None if options.tls_ca_mode == CaMode::Replace => {
                return Err(TlsFileError::ReplaceWithoutCa);
            }
            None => Vec::new(),
        };
        let identity = match (&options.tls_client_cert, &options.tls_client_key) {
            (None, None) => None,
            (Some(cert), None) => return Err(TlsFileError::CertWithoutKey { path: shown(cert) }),
            (None, Some(key)) => return Err(TlsFileError::KeyWithoutCert { path: shown(key) }),
            (Some(cert), Some(key)) => Some(identity(cert, key)?),
        };
        Ok(TlsFiles {
            roots,
            replace_roots: options.tls_ca_mode == CaMode::Replace,
            identity,
        })
    }
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

fn read(role: &'static str, path: &Path) -> Result<Vec<u8>, TlsFileError> {
    std::fs::read(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => TlsFileError::NotFound {
            role,
            path: shown(path),
        },
        _ => TlsFileError::Unreadable {
            role,
            path: shown(path),
            reason: err.to_string(),
        },
    })
}

/// Every PEM section of a file, in order; a file without any is not PEM.
fn sections(
    role: &'static str,
    path: &Path,
    bytes: &[u8],
    expected: &str,
) -> Result<Vec<(SectionKind, Vec<u8>)>, TlsFileError> {
    let not_pem = |reason: String| TlsFileError::NotPem {
        role,
        path: shown(path),
        reason,
    };
    let mut reader = bytes;
    let mut found = Vec::new();
    loop {
        match pem::from_buf(&mut reader) {
            Ok(Some(section)) => found.push(section),
            Ok(None) => break,
            Err(err) => return Err(not_pem(err.to_string())),
        }
    }
    if found.is_empty() {
        return Err(not_pem(format!("expected {expected}")));
    }
    Ok(found)
}

/// The certificates of a PEM file, each checked to be X.509; at least one.
fn certificates(
    role: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let bytes = read(role, path)?;
    let certificates: Vec<CertificateDer<'static>> = sections(
        role,
        path,
        &bytes,
        "one or more -----BEGIN CERTIFICATE----- blocks",
    )?
    .into_iter()
    .filter(|(kind, _)| *kind == SectionKind::Certificate)
    .map(|(_, der)| CertificateDer::from(der))
    .collect();
    if certificates.is_empty() {
        return Err(TlsFileError::NoCertificate {
            role,
            path: shown(path),
        });
    }
    for (index, der) in certificates.iter().enumerate() {
        if let Err(err) = crate::x509::read(der) {
            return Err(TlsFileError::BadCertificate {
                role,
                path: shown(path),
                number: index + 1,
                reason: err.to_string(),
            });
        }
    }
    Ok(certificates)
}

/// The private key of a PEM file (the last one, if there are several).
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    let bytes = read(CLIENT_KEY, path)?;
    let key = sections(
        CLIENT_KEY,
        path,
        &bytes,
        "a -----BEGIN PRIVATE KEY----- block",
    )?
    .into_iter()
    .filter_map(|(kind, der)| match kind {
        SectionKind::PrivateKey => Some(PrivateKeyDer::Pkcs8(der.into())),
        SectionKind::RsaPrivateKey => Some(PrivateKeyDer::Pkcs1(der.into())),
        SectionKind::EcPrivateKey => Some(PrivateKeyDer::Sec1(der.into())),
        _ => None,
    })
    .next_back()
    .ok_or_else(|| TlsFileError::NoKey { path: shown(path) })?;
    Ok(key)
}

/// The client identity: the certificate chain and its key, checked to match.
fn identity(cert: &Path, key: &Path) -> Result<ClientIdentity, TlsFileError> {
    let chain = certificates(CLIENT_CERT, cert)?;
    let key_der = private_key(key)?;
    let provider = rustls::crypto::ring::default_provider();
    match rustls::sign::CertifiedKey::from_der(chain.clone(), key_der.clone_key(), &provider) {
        Ok(_) => Ok(ClientIdentity {
            chain,
            key: key_der,
        }),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsFileError::KeyMismatch {
                key: shown(key),
                cert: shown(cert),
            })
        }
        Err(err) => Err(TlsFileError::BadKey {
            path: shown(key),
            reason: err.to_string(),
        }),
    }
}

//! The rustls client configuration of the engine's TLS checks, built once per
//! engine from its options.
//!
//! Trust is decided as `reqwest` with rustls decides it, so a proxy is
//! trusted or refused, in the same words, whichever client checks it: the
//! system's roots through the platform verifier, with the CA bundle added, or
//! the CA bundle only. `tls_insecure` accepts any certificate (the handshake
//! still gives it, so its expiry is still kept). The client identity is offered
//! to proxies that ask for one.
//!
//! Every check pays for a full handshake: there is no session cache and no
//! ticket, so a check meets what a new client would meet (a changed
//! certificate, a proxy that lost its keys) and costs what it will cost. ALPN
//! offers HTTP/1.1 only, the protocol the check speaks.

use crate::error::EngineError;
use crate::tls_files::TlsFiles;
use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// The engine's TLS client configuration: see the module's documentation.
pub(crate) fn client_config(
    tls_insecure: bool,
    files: TlsFiles,
) -> Result<Arc<ClientConfig>, EngineError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let refused = |what: &str, err: rustls::Error| EngineError::Client(format!("{what}: {err}"));
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|err| refused("TLS protocol versions", err))?;
    let builder = if tls_insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
    } else if files.replace_roots {
        let mut roots = RootCertStore::empty();
        for root in files.roots {
            roots
                .add(root)
                .map_err(|err| refused("the TLS CA file's certificate", err))?;
        }
        builder.with_root_certificates(roots)
    } else {
        let verifier = if files.roots.is_empty() {
            rustls_platform_verifier::Verifier::new(provider)
        } else {
            rustls_platform_verifier::Verifier::new_with_extra_roots(files.roots, provider)
        }
        .map_err(|err| refused("the system's TLS roots", err))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    };
    let mut config = match files.identity {
        Some(identity) => builder
            .with_client_auth_cert(identity.chain, identity.key)
            .map_err(|err| refused("the TLS client certificate", err))?,
        None => builder.with_no_client_auth(),
    };
    config.resumption = Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts every certificate and handshake signature (`tls_insecure`).
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

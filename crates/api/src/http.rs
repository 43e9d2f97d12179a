//! HTTP clients for this build: rustls's cryptography is ring, installed as
//! the process's provider before a client is made.
//!
//! reqwest's rustls takes the process's provider and, without one, panics
//! when a client is built (it bundles only aws-lc-rs, a second cryptography
//! library this project does not compile). Every `reqwest` client in the
//! workspace is made through [`client_builder`] or [`client`], so whichever
//! comes first in a process installs it.

use std::sync::Once;

/// Installs ring as rustls's process-wide cryptography provider; every call
/// after the first does nothing.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // An error means a provider is already installed: rustls itself
        // installs ring, the only one built, when a config is made first.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// `reqwest::Client::builder()`, with the cryptography provider installed.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
}

/// `reqwest::Client::new()`, with the cryptography provider installed.
pub fn client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::new()
}

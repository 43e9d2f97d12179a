//! The engine's errors.

use crate::tls_files::TlsFileError;
use proxyhealth_core::SourceError;

/// Why the engine could not be built or a sweep could not run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The engine was built without a store to read proxies from.
    #[error("store is required")]
    MissingStore,
    /// A setting is out of range; names the setting and the value.
    #[error("invalid engine option {option}: {detail}")]
    InvalidOption {
        /// The option's name.
        option: &'static str,
        /// What is wrong with its value.
        detail: String,
    },
    /// A TLS file of the options (CA bundle, client certificate or key) is
    /// missing or wrong; the text names the file and what is wrong.
    #[error("{0}")]
    TlsFile(#[from] TlsFileError),
    /// The HTTP client could not be built.
    #[error("build http client: {0}")]
    Client(String),
    /// The metrics could not be registered (for example, registered twice on one registry).
    #[error("register metrics: {0}")]
    Metrics(String),
    /// The store failed to list the proxies; the previous snapshot is kept.
    #[error("get workspace proxies: {0}")]
    Store(#[from] SourceError),
    /// The engine is shutting down.
    #[error("the engine is shutting down")]
    ShuttingDown,
    /// A re-check was asked for a proxy that does not exist or is deleted.
    #[error("proxy {0} not found")]
    ProxyNotFound(uuid::Uuid),
}

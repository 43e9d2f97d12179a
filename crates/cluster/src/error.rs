//! The replica runtime's errors.

use proxyhealth_store::StoreError;

/// Why a replica could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Registering the replica failed.
    #[error("registering this replica: {0}")]
    Register(#[source] StoreError),
    /// The notification listener could not be opened.
    #[error("opening the notification listener: {0}")]
    Listen(#[source] StoreError),
    /// The first load of the shared view failed.
    #[error("loading the shared view: {0}")]
    Load(#[source] StoreError),
    /// The metrics could not be registered (twice on one registry, say).
    #[error("registering the replica metrics: {0}")]
    Metrics(#[source] prometheus::Error),
}

//! How a store is opened ([`OpenOptions`]) and how the URL it is opened
//! with is shown ([`redact`]): a leaf read by `open` and by the backend it
//! opens (`postgres`), so neither imports the other for them.

use std::time::Duration;

/// How to open a store; `OpenOptions::default()` suits the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    /// Attach read-only to an existing Coder database (PostgreSQL only): no
    /// migrations, read-only sessions, every write refused with
    /// [`StoreError::ReadOnly`](crate::StoreError::ReadOnly).
    pub coder_attach: bool,
    /// With `coder_attach`: a schema of the Coder database where proxyhealth
    /// keeps its own coordination state, so attached replicas coordinate
    /// instead of each probing alone; Coder's tables are still only read.
    pub coordination_schema: Option<String>,
    /// Most PostgreSQL connections the pool opens.
    pub max_connections: u32,
    /// How long a PostgreSQL call waits for a connection (including
    /// connecting) before failing with
    /// [`StoreError::Unavailable`](crate::StoreError::Unavailable); keeps a
    /// dead database from hanging a sweep.
    pub acquire_timeout: Duration,
    /// The notification targets and damping the store's journal writes
    /// outbox rows by: part of opening, so no status change is recorded
    /// before the store knows whom to notify. Empty: no rows are written.
    pub outbox_policy: crate::OutboxPolicy,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            coder_attach: false,
            coordination_schema: None,
            max_connections: 8,
            acquire_timeout: Duration::from_secs(3),
            outbox_policy: crate::OutboxPolicy::default(),
        }
    }
}

/// A database URL with its password hidden, for error messages and logs: the
/// one form everything shown uses ([`proxyhealth_core::redact_url`]), the URL
/// otherwise as it was given.
pub fn redact(url: &str) -> String {
    proxyhealth_core::redact_url(url).into_owned()
}

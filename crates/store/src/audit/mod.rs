//! The audit log: what people did through the API (and what they were
//! refused for their role), who, when, from where, and how it ended.
//!
//! An entry holds the route's template and the ids or names in its path,
//! never a query, a body or a header: no token, password or secret can end
//! up in it. Entries older than the retention are pruned in the background
//! ([`retention`]).
//!
//! # Layout
//! - `memory`, `sqlite`, `postgres`: [`AuditLog`] on each backend (the
//!   `audit` migration on the databases).
//! - [`retention`]: the background pruning.

pub(crate) mod memory;
pub(crate) mod postgres;
pub mod retention;
pub(crate) mod sqlite;

use proxyhealth_core::access::Role;
use time::OffsetDateTime;

use crate::StoreError;

/// An entry to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// When it was answered.
    pub at: OffsetDateTime,
    /// Who (`Principal::display_name`).
    pub actor: String,
    /// How they proved it: `admin_token`, `personal_token`, `oidc`.
    pub credential: String,
    /// A signed-in user's subject.
    pub subject: Option<String>,
    /// A signed-in user's email.
    pub email: Option<String>,
    /// The role they acted in.
    pub role: Role,
    /// What (`proxy.create`, or the method and route).
    pub action: String,
    /// The HTTP method.
    pub method: String,
    /// The route's template.
    pub route: String,
    /// What it was done to (an id or name), if anything in particular.
    pub object: Option<String>,
    /// The client's address.
    pub client: Option<String>,
    /// The answer's status code.
    pub status: u16,
}

/// A recorded entry: its id (larger is newer) and what was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Its id.
    pub id: i64,
    /// What was recorded.
    pub entry: NewAuditEntry,
}

/// Which entries to read, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this actor's.
    pub actor: Option<String>,
    /// Only this action's.
    pub action: Option<String>,
    /// Only those at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Only those with a smaller id (paging).
    pub before: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

impl Default for AuditFilter {
    fn default() -> Self {
        AuditFilter {
            actor: None,
            action: None,
            since: None,
            before: None,
            limit: 100,
        }
    }
}

/// The audit log, on one backend.
#[async_trait::async_trait]
pub trait AuditLog: Send + Sync + std::fmt::Debug {
    /// Records an entry and returns its id.
    async fn record(&self, entry: NewAuditEntry) -> Result<i64, StoreError>;

    /// The entries `filter` selects, newest (largest id) first.
    async fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError>;

    /// Deletes at most `chunk` entries older than `before`; how many it did.
    async fn prune(&self, before: OffsetDateTime, chunk: u32) -> Result<u64, StoreError>;
}

/// A stored role read back; an unknown one is the store's fault.
fn stored_role(role: &str) -> Result<Role, StoreError> {
    role.parse()
        .map_err(|err| StoreError::Internal(format!("stored audit role: {err}")))
}

/// A stored status read back.
fn stored_status(status: i64) -> Result<u16, StoreError> {
    u16::try_from(status).map_err(|_| StoreError::Internal(format!("stored audit status {status}")))
}

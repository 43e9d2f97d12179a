//! Maintenance windows as stored: shared by every replica through the
//! database, each of which reads them at each sweep (and after a change it
//! made itself) to compile its [`proxyhealth_core::maintenance::MaintenanceBook`].
//!
//! # Layout
//! - `memory`, `sqlite`, `postgres`: [`MaintenanceStore`] on each backend (the
//!   `maintenance` migration on the databases).

pub(crate) mod memory;
pub(crate) mod postgres;
pub(crate) mod sqlite;

use proxyhealth_core::maintenance::{MaintenanceScope, MaintenanceWindow, NewMaintenance};
use proxyhealth_core::validate::FieldError;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

/// Why a window could not be created or ended.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    /// A field breaks a rule.
    #[error("{0}")]
    Invalid(#[from] FieldError),
    /// No window has this id.
    #[error("no maintenance window has the id {0}")]
    NotFound(Uuid),
    /// The window is already over (ended, or past its end and not weekly).
    #[error("the maintenance window {0} is already over")]
    AlreadyOver(Uuid),
    /// The store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The maintenance windows, on one backend.
#[async_trait::async_trait]
pub trait MaintenanceStore: Send + Sync + std::fmt::Debug {
    /// Checks `new` against the rules and keeps it, created at `now`.
    async fn create(
        &self,
        new: &NewMaintenance,
        now: OffsetDateTime,
    ) -> Result<MaintenanceWindow, MaintenanceError>;

    /// Every window, by start then id.
    async fn list(&self) -> Result<Vec<MaintenanceWindow>, MaintenanceError>;

    /// Ends the window `id` at `now`: an occurrence under way stops now, a
    /// window not yet started is cancelled. [`MaintenanceError::AlreadyOver`]
    /// when nothing of it is left to end.
    async fn end(
        &self,
        id: Uuid,
        now: OffsetDateTime,
    ) -> Result<MaintenanceWindow, MaintenanceError>;
}

/// `new` with its reason trimmed, once checked against the rules.
fn checked(new: &NewMaintenance) -> Result<NewMaintenance, MaintenanceError> {
    new.validate()?;
    Ok(NewMaintenance {
        reason: new.reason.trim().to_owned(),
        ..new.clone()
    })
}

/// Whether `window` can be ended at `now`, or the error saying it cannot.
fn check_endable(window: &MaintenanceWindow, now: OffsetDateTime) -> Result<(), MaintenanceError> {
    if window.is_over(now) {
        Err(MaintenanceError::AlreadyOver(window.id))
    } else {
        Ok(())
    }
}

/// The proxy column's value of a scope (`None`: every proxy).
fn proxy_of(scope: MaintenanceScope) -> Option<Uuid> {
    match scope {
        MaintenanceScope::Proxy(id) => Some(id),
        MaintenanceScope::All => None,
    }
}

/// The scope the proxy column's value says.
fn scope_of(proxy: Option<Uuid>) -> MaintenanceScope {
    proxy.map_or(MaintenanceScope::All, MaintenanceScope::Proxy)
}

/// `windows` by start then id, as [`MaintenanceStore::list`] returns them.
fn sorted(mut windows: Vec<MaintenanceWindow>) -> Vec<MaintenanceWindow> {
    windows.sort_by_key(|w| (w.starts_at, w.id));
    windows
}

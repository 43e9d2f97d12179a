//! [`super::MaintenanceStore`] in memory, for the memory store.

use parking_lot::Mutex;
use proxyhealth_core::maintenance::{MaintenanceWindow, NewMaintenance};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{MaintenanceError, MaintenanceStore, check_endable, checked, sorted};

/// The memory store's windows.
#[derive(Debug, Default)]
pub(crate) struct MemoryMaintenance {
    windows: Mutex<Vec<MaintenanceWindow>>,
}

#[async_trait::async_trait]
impl MaintenanceStore for MemoryMaintenance {
    async fn create(
        &self,
        new: &NewMaintenance,
        now: OffsetDateTime,
    ) -> Result<MaintenanceWindow, MaintenanceError> {
        let new = checked(new)?;
        let window = MaintenanceWindow {
            id: Uuid::new_v4(),
            scope: new.scope,
            starts_at: new.starts_at,
            ends_at: new.ends_at,
            weekly: new.weekly,
            reason: new.reason,
            created_at: now,
            ended_at: None,
        };
        self.windows.lock().push(window.clone());
        Ok(window)
    }

    async fn list(&self) -> Result<Vec<MaintenanceWindow>, MaintenanceError> {
        Ok(sorted(self.windows.lock().clone()))
    }

    async fn end(
        &self,
        id: Uuid,
        now: OffsetDateTime,
    ) -> Result<MaintenanceWindow, MaintenanceError> {
        let mut windows = self.windows.lock();
        let window = windows
            .iter_mut()
            .find(|w| w.id == id)
            .ok_or(MaintenanceError::NotFound(id))?;
        check_endable(window, now)?;
        window.ended_at = Some(now);
        Ok(window.clone())
    }
}

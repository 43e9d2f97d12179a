//! [`super::AuditLog`] in memory, for the memory store.

use parking_lot::Mutex;
use time::OffsetDateTime;

use super::{AuditFilter, AuditLog, AuditRecord, NewAuditEntry};
use crate::StoreError;

/// The memory store's audit log, oldest first.
#[derive(Debug, Default)]
pub(crate) struct MemoryAudit {
    entries: Mutex<Vec<AuditRecord>>,
}

#[async_trait::async_trait]
impl AuditLog for MemoryAudit {
    async fn record(&self, entry: NewAuditEntry) -> Result<i64, StoreError> {
        let mut entries = self.entries.lock();
        let id = entries.last().map_or(1, |last| last.id + 1);
        entries.push(AuditRecord { id, entry });
        Ok(id)
    }

    async fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let entries = self.entries.lock();
        Ok(entries
            .iter()
            .rev()
            .filter(|r| filter.before.is_none_or(|before| r.id < before))
            .filter(|r| filter.actor.as_ref().is_none_or(|a| *a == r.entry.actor))
            .filter(|r| filter.action.as_ref().is_none_or(|a| *a == r.entry.action))
            .filter(|r| filter.since.is_none_or(|since| r.entry.at >= since))
            .take(filter.limit as usize)
            .cloned()
            .collect())
    }

    async fn prune(&self, before: OffsetDateTime, chunk: u32) -> Result<u64, StoreError> {
        let mut entries = self.entries.lock();
        let old = entries
            .iter()
            .filter(|r| r.entry.at < before)
            .take(chunk as usize)
            .count();
        let mut left = old;
        entries.retain(|r| {
            if left > 0 && r.entry.at < before {
                left -= 1;
                false
            } else {
                true
            }
        });
        Ok(old as u64)
    }
}

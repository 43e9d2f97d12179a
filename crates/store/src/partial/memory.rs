//! Partial outages in memory, for the memory store's history.

use std::collections::HashMap;

use parking_lot::Mutex;
use proxyhealth_core::{PartialChange, Transition};
use time::OffsetDateTime;

use super::{Open, PartialOutage, plan};

/// The memory store's partial outages.
#[derive(Debug, Default)]
pub(crate) struct MemoryPartial {
    rows: Mutex<Vec<PartialOutage>>,
}

impl MemoryPartial {
    /// Applies `changes`; returns the outbox rows' transitions to write.
    pub(crate) fn record(&self, changes: Vec<PartialChange>, notify: bool) -> Vec<Transition> {
        let mut rows = self.rows.lock();
        let mut open: HashMap<uuid::Uuid, Open> = rows
            .iter()
            .enumerate()
            .filter(|(_, row)| row.ended_at.is_none())
            .map(|(index, row)| {
                (
                    row.proxy_id,
                    Open {
                        id: i64::try_from(index).unwrap_or(i64::MAX),
                        started_at: row.started_at,
                        vantages: row.vantages.clone(),
                    },
                )
            })
            .collect();
        let plan = plan(changes, &mut open, notify);
        for (id, vantages) in plan.grown {
            if let Some(row) = usize::try_from(id).ok().and_then(|i| rows.get_mut(i)) {
                row.vantages = vantages;
            }
        }
        for (id, at) in plan.ends {
            if let Some(row) = usize::try_from(id).ok().and_then(|i| rows.get_mut(i)) {
                row.ended_at = Some(at);
            }
        }
        for opening in plan.opens {
            rows.push(PartialOutage {
                proxy_id: opening.change.proxy_id,
                proxy_name: opening.change.proxy_name,
                started_at: opening.change.at,
                ended_at: opening.ended_at,
                vantages: opening.change.vantages,
                first_warning: opening.change.warning,
            });
        }
        plan.notices
    }

    /// The outages open at or after `since`, oldest start first.
    pub(crate) fn since(&self, since: OffsetDateTime) -> Vec<PartialOutage> {
        self.rows
            .lock()
            .iter()
            .filter(|row| row.ended_at.is_none_or(|ended| ended >= since))
            .cloned()
            .collect()
    }

    /// Deletes at most `limit` outages that ended before `before`.
    pub(crate) fn prune(&self, before: OffsetDateTime, limit: usize) -> u64 {
        let mut rows = self.rows.lock();
        let mut removed = 0usize;
        rows.retain(|row| {
            let old = row.ended_at.is_some_and(|ended| ended < before) && removed < limit;
            removed += usize::from(old);
            !old
        });
        u64::try_from(removed).unwrap_or(u64::MAX)
    }
}

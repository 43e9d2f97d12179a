//! Partial outages kept as incidents of their own kind (the `vantage_history`
//! migration's `proxyhealth_partial_outages`): one row per outage, opened by
//! the first change with failing vantages, its vantages grown while it lasts,
//! ended by a change without. The rule is the store's, from its open rows,
//! so a restarted engine (which first sees every proxy without knowing what
//! was open) neither opens an outage twice nor leaves one open forever.
//!
//! With `notify` (`serve --notify-partial`), a start and an end also write an
//! outbox row per target, in the same transaction: a [`Transition`] from
//! `ok` to `ok` whose report's warning names the vantages, which the
//! notifier sends as a `partial_outage` event. Damping applies as to any
//! row: a partial outage over within the damping time sends nothing.
//!
//! - `memory`, `sqlite`, `postgres`: the statements of each backend.

pub(crate) mod memory;
pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::collections::HashMap;
use std::time::Duration;

use proxyhealth_core::{HealthReport, PartialChange, Status, Transition, VantageName};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

/// A partial outage as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialOutage {
    /// The proxy.
    pub proxy_id: Uuid,
    /// Its name when the outage started.
    pub proxy_name: String,
    /// When it started.
    pub started_at: OffsetDateTime,
    /// When it ended; `None` while open.
    pub ended_at: Option<OffsetDateTime>,
    /// Every vantage it failed from while it lasted, by name.
    pub vantages: Vec<VantageName>,
    /// The warning of its start (`partial outage: failing from …`).
    pub first_warning: String,
}

/// An open outage as a write finds it.
#[derive(Debug, Clone)]
pub(crate) struct Open {
    pub id: i64,
    pub started_at: OffsetDateTime,
    pub vantages: Vec<VantageName>,
}

/// An outage to write as new.
#[derive(Debug, Clone)]
pub(crate) struct Opening {
    /// The change that opened it.
    pub change: PartialChange,
    /// When it ended, if that was in the same batch.
    pub ended_at: Option<OffsetDateTime>,
}

/// What to write for a batch of changes, given the open outages.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Outages to open.
    pub opens: Vec<Opening>,
    /// Open outages whose vantages grew: (id, all vantages).
    pub grown: Vec<(i64, Vec<VantageName>)>,
    /// Open outages to end: (id, when).
    pub ends: Vec<(i64, OffsetDateTime)>,
    /// The outbox rows' transitions (starts and ends), when notifying.
    pub notices: Vec<Transition>,
}

/// The writes `changes` make against `open` (by proxy); `open` follows
/// the batch as it goes.
pub(crate) fn plan(
    changes: Vec<PartialChange>,
    open: &mut HashMap<Uuid, Open>,
    notify: bool,
) -> Plan {
    let mut plan = Plan::default();
    for change in changes {
        match (open.get_mut(&change.proxy_id), change.is_partial()) {
            (None, false) => {}
            (None, true) => {
                if notify {
                    plan.notices
                        .push(notice(&change, change.warning.clone(), None));
                }
                open.insert(
                    change.proxy_id,
                    Open {
                        // opened in this batch: written before any later change of it
                        id: -1,
                        started_at: change.at,
                        vantages: change.vantages.clone(),
                    },
                );
                plan.opens.push(Opening {
                    change,
                    ended_at: None,
                });
            }
            (Some(outage), true) => {
                let mut grew = false;
                for vantage in &change.vantages {
                    if !outage.vantages.contains(vantage) {
                        outage.vantages.push(vantage.clone());
                        grew = true;
                    }
                }
                outage.vantages.sort();
                if grew && outage.id >= 0 {
                    plan.grown.retain(|(id, _)| *id != outage.id);
                    plan.grown.push((outage.id, outage.vantages.clone()));
                } else if grew && let Some(opened) = opening(&mut plan.opens, change.proxy_id) {
                    opened.change.vantages = outage.vantages.clone();
                }
            }
            (Some(_), false) => {
                let Some(outage) = open.remove(&change.proxy_id) else {
                    continue;
                };
                if notify {
                    let names: Vec<&str> =
                        outage.vantages.iter().map(VantageName::as_str).collect();
                    let lasted =
                        Duration::try_from(change.at - outage.started_at).unwrap_or_default();
                    plan.notices.push(notice(
                        &change,
                        format!("partial outage over: was failing from {}", names.join(", ")),
                        Some(lasted),
                    ));
                }
                if outage.id >= 0 {
                    plan.ends.push((outage.id, change.at));
                } else if let Some(opened) = opening(&mut plan.opens, change.proxy_id) {
                    // opened and over within one batch: kept, ended
                    opened.ended_at = Some(change.at);
                }
            }
        }
    }
    plan
}

/// The last outage of `proxy` opened in this batch.
fn opening(opens: &mut [Opening], proxy: Uuid) -> Option<&mut Opening> {
    opens.iter_mut().rev().find(|o| o.change.proxy_id == proxy)
}

/// The outbox's transition for a start or an end: `ok` to `ok`, the warning
/// naming the vantages.
fn notice(change: &PartialChange, warning: String, lasted: Option<Duration>) -> Transition {
    Transition {
        proxy_id: change.proxy_id,
        proxy_name: change.proxy_name.clone(),
        proxy_url: change.proxy_url.clone(),
        at: change.at,
        from: Some(Status::Ok),
        to: Status::Ok,
        report: HealthReport {
            errors: Vec::new(),
            warnings: vec![warning],
        },
        replica: None,
        previous_lasted: lasted,
    }
}

/// Vantage names as stored (a JSON array).
pub(crate) fn names_json(names: &[VantageName]) -> Result<String, StoreError> {
    serde_json::to_string(names)
        .map_err(|err| StoreError::Internal(format!("cannot encode vantage names: {err}")))
}

/// Vantage names read back.
pub(crate) fn names_from_json(json: &str) -> Result<Vec<VantageName>, StoreError> {
    serde_json::from_str(json)
        .map_err(|err| StoreError::Internal(format!("bad stored vantage names: {err}")))
}

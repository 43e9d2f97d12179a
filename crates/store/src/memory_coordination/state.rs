//! The rows of [`super::MemoryCoordination`].

use std::collections::{BTreeMap, HashMap};

use proxyhealth_core::{ProxyStatus, Status};
use tokio::time::Instant;
use uuid::Uuid;

use crate::coordination::{ReplicaId, ReplicaInfo};

/// Every row, under one lock.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) replicas: HashMap<ReplicaId, ReplicaEntry>,
    pub(super) checks: HashMap<Uuid, CheckEntry>,
    /// By proxy, then replica: the order every read wants.
    pub(super) observations: BTreeMap<(Uuid, ReplicaId), ObservationEntry>,
    /// The newest generation handed out.
    pub(super) generation: i64,
}

/// A replica row.
#[derive(Debug)]
pub(super) struct ReplicaEntry {
    pub(super) info: ReplicaInfo,
    pub(super) started: Instant,
    pub(super) heartbeat: Instant,
    pub(super) stopped: Option<Instant>,
    pub(super) view_generation: i64,
}

/// A proxy's check row: when it is due, its lease, and its newest result.
#[derive(Debug)]
pub(super) struct CheckEntry {
    pub(super) created: Instant,
    pub(super) due: Instant,
    pub(super) lease_owner: Option<ReplicaId>,
    pub(super) lease_until: Option<Instant>,
    pub(super) attempt: i64,
    pub(super) requests: i64,
    pub(super) claimed_requests: i64,
    pub(super) confirm_for: Option<ReplicaId>,
    pub(super) confirm_until: Option<Instant>,
    pub(super) result: Option<StoredResult>,
}

impl CheckEntry {
    /// A row due now, never claimed.
    pub(super) fn new(now: Instant) -> Self {
        CheckEntry {
            created: now,
            due: now,
            lease_owner: None,
            lease_until: None,
            attempt: 0,
            requests: 0,
            claimed_requests: 0,
            confirm_for: None,
            confirm_until: None,
            result: None,
        }
    }

    /// Whether a write or deferral under this owner and attempt is fenced in.
    pub(super) fn held_by(&self, owner: ReplicaId, attempt: i64) -> bool {
        self.lease_owner == Some(owner) && self.attempt == attempt
    }

    /// Releases the lease.
    pub(super) fn release(&mut self) {
        self.lease_owner = None;
        self.lease_until = None;
    }
}

/// An accepted result.
#[derive(Debug)]
pub(super) struct StoredResult {
    pub(super) result: ProxyStatus,
    pub(super) generation: i64,
    pub(super) checked: Instant,
    pub(super) checked_by: ReplicaId,
}

/// What one replica last saw of one proxy.
#[derive(Debug)]
pub(super) struct ObservationEntry {
    pub(super) status: Status,
    pub(super) message: String,
    pub(super) observed: Instant,
}

impl State {
    /// Records what `replica` saw of `proxy_id` now.
    pub(super) fn observe(
        &mut self,
        proxy_id: Uuid,
        replica: ReplicaId,
        status: Status,
        message: &str,
        now: Instant,
    ) {
        self.observations.insert(
            (proxy_id, replica),
            ObservationEntry {
                status,
                message: message.to_owned(),
                observed: now,
            },
        );
    }
}

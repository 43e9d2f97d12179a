//! The concerns of coordination, one trait each, and [`Coordination`], their
//! sum. Code that needs one concern takes only that trait (the cluster's
//! re-check requests take [`Claims`]); the replica runtime, which needs them
//! all, holds an `Arc<dyn Coordination>`.
//!
//! Every time is the backend's clock (the database's `now()` on PostgreSQL);
//! callers pass durations, never instants, rounded to milliseconds.

use std::time::Duration;

use proxyhealth_core::{Status, Transition};
use time::OffsetDateTime;
use uuid::Uuid;

use super::notice::NoticeSource;
use super::types::{
    Claim, Disagreement, KeptReadings, Observation, ReplicaId, ReplicaInfo, ReplicaRow,
    ResultBatch, ResultWrite, WriteOutcome,
};
use crate::StoreError;

/// Membership and heartbeats: who the replicas are and which are live.
#[async_trait::async_trait]
pub trait Membership: Send + Sync + std::fmt::Debug {
    /// Registers a replica (started and heartbeat now) and returns its new id.
    async fn register(&self, info: ReplicaInfo) -> Result<ReplicaId, StoreError>;

    /// Refreshes the replica's heartbeat and records the view generation it
    /// serves. Returns the backend's time, or `None` when the replica's row is
    /// gone (pruned after a long pause) or stopped: register again.
    async fn heartbeat(
        &self,
        id: ReplicaId,
        view_generation: i64,
    ) -> Result<Option<OffsetDateTime>, StoreError>;

    /// Marks the replica stopped now and releases its leases, so its proxies
    /// are claimable at once (and wakes the others with a due notice).
    async fn stop(&self, id: ReplicaId) -> Result<(), StoreError>;

    /// Every known replica, with `live` meaning a heartbeat within
    /// `live_window` and not stopped; ordered by start time, then id.
    async fn replicas(&self, live_window: Duration) -> Result<Vec<ReplicaRow>, StoreError>;
}

/// Leased claims and fenced writes: who checks which proxy, and whose
/// result counts.
#[async_trait::async_trait]
pub trait Claims: Send + Sync + std::fmt::Debug {
    /// Claims up to `limit` due proxies for `owner` with a lease of `lease`,
    /// oldest due first, of the vantage `owner` registered with (each
    /// vantage has its own row of every proxy, shared by the replicas naming
    /// it). Two concurrent claimers get disjoint sets. A proxy
    /// whose lease ran out is due again and its claim says whom it was taken
    /// over from. A proxy deferred by `owner` for a second opinion is not
    /// claimable by `owner` until the deferral's window ends.
    async fn claim_due(
        &self,
        owner: ReplicaId,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Claim>, StoreError>;

    /// Writes one result, fenced; see [`Claims::write_results`].
    async fn write_result(&self, write: ResultWrite) -> Result<WriteOutcome, StoreError> {
        let mut outcomes = self.write_results(vec![write]).await?;
        outcomes
            .pop()
            .ok_or_else(|| StoreError::Internal("a write of one result returned no outcome".into()))
    }

    /// Writes results in one transaction, each fenced by its claim's owner and
    /// attempt: an accepted write stores the result, releases the lease, sets
    /// the next due time (now, when a re-check was requested during the check),
    /// stamps `checked_at`/`checked_by`, takes a new generation, records the
    /// writer's observation, and records its history as told (the check, and
    /// the [`ResultWrite::transition`] the writer decided) with the
    /// notification outbox rows of that transition, all in the same
    /// transaction. The backend then notifies once, with its newest result
    /// ([`crate::Notice::Result`]): readers catch up with `results_since`, so
    /// one wake-up per batch is enough. A rejected write changes nothing.
    /// Outcomes are in the order of `writes`. Generations increase but are not
    /// dense (a batch reserves one per write, rejected or not).
    async fn write_results(
        &self,
        writes: Vec<ResultWrite>,
    ) -> Result<Vec<WriteOutcome>, StoreError>;

    /// Records changes of the overall status that a replica's judgement made
    /// without a check of its own (another vantage's reading arrived, or went
    /// stale), through the same journal as [`Claims::write_results`]: in one
    /// transaction holding the view's lock as a result write does, the
    /// maintenance windows of that transaction left out, a change to the
    /// status already recorded dropped, with the outbox rows of those
    /// recorded. So every replica may offer the change its own judgement
    /// made, and the cluster records (and notifies) it once, as soon as the
    /// first offer commits. Returns the transitions recorded.
    async fn record_judged(
        &self,
        transitions: Vec<Transition>,
    ) -> Result<Vec<Transition>, StoreError>;

    /// Asks for a second opinion instead of writing a failing result for an
    /// `ok` proxy: fenced like a write; records the observation, releases the
    /// lease, makes the proxy due now but not claimable by `claim.owner` for
    /// `within` (after that, anyone may claim it again), and sends a due
    /// notice. The result and generation do not change. `true` when the claim
    /// was still ours.
    async fn defer_for_confirmation(
        &self,
        claim: &Claim,
        status: Status,
        message: &str,
        within: Duration,
    ) -> Result<bool, StoreError>;

    /// Makes a proxy due now (creating its row if needed) and sends a due
    /// notice: one check per vantage of the cluster follows, however many
    /// replicas hear it (the claim decides). A request made while the proxy is being checked
    /// makes it due again right after that check's write.
    /// [`StoreError::NotFound`] for an unknown or deleted proxy.
    async fn request_check(&self, proxy_id: Uuid) -> Result<(), StoreError>;
}

/// The shared view and its generations: every replica serves the stored
/// results, read after a notice or on a safety period.
#[async_trait::async_trait]
pub trait SharedView: Send + Sync + std::fmt::Debug {
    /// Results newer than `generation`, ordered by generation, with the
    /// generation the reader is then complete up to. Results commit in
    /// generation order, so this never skips one: read it after a notice, and
    /// on a short safety period (cheap when nothing is new), and a lost
    /// notification costs only that period. Deleted proxies' results are left
    /// out.
    async fn results_since(&self, generation: i64) -> Result<ResultBatch, StoreError>;

    /// Every non-deleted proxy's newest result, for a full reload (at start
    /// and after [`crate::Notice::Reconnected`]).
    async fn all_results(&self) -> Result<ResultBatch, StoreError>;

    /// The newest committed generation.
    async fn newest_generation(&self) -> Result<i64, StoreError>;

    /// Opens a notice listener. Open it before the first full load, so
    /// nothing written in between is missed.
    async fn listen(&self) -> Result<Box<dyn NoticeSource>, StoreError>;

    /// The agents' readings any replica kept at or after `since` (backend
    /// clock; `None` for all of them), so every replica judges with the
    /// results of agents that reach another one. A backend without kept
    /// readings has none.
    async fn readings_since(
        &self,
        since: Option<OffsetDateTime>,
    ) -> Result<KeptReadings, StoreError> {
        let _ = since;
        Ok(KeptReadings::default())
    }
}

/// Observations and the consistency report: what each replica saw, where
/// they disagree, and which proxies have no recent result.
#[async_trait::async_trait]
pub trait Observations: Send + Sync + std::fmt::Debug {
    /// Records what `replica` saw of `proxy_id` (upsert; `write_results` does
    /// this for every accepted result). [`StoreError::NotFound`] for a proxy
    /// that has no row.
    async fn record_observation(
        &self,
        proxy_id: Uuid,
        replica: ReplicaId,
        status: Status,
        message: &str,
    ) -> Result<(), StoreError>;

    /// Every replica's observation of one proxy, ordered by replica id.
    async fn observations(&self, proxy_id: Uuid) -> Result<Vec<Observation>, StoreError>;

    /// Non-deleted proxies whose observations from replicas live within
    /// `live_window`, made within `within`, have more than one status.
    async fn disagreements(
        &self,
        live_window: Duration,
        within: Duration,
    ) -> Result<Vec<Disagreement>, StoreError>;

    /// Non-deleted proxies whose newest result is older than `older_than` (or
    /// that were never checked and have had a row for that long), by id.
    async fn stale(&self, older_than: Duration) -> Result<Vec<Uuid>, StoreError>;
}

/// How replicas on one backend coordinate: every concern at once.
///
/// Object-safe: the replica runtime holds an `Arc<dyn Coordination>` (and
/// hands an `Arc<dyn Claims>` to whatever needs only claims). Implemented for
/// everything that implements the four concerns.
pub trait Coordination: Membership + Claims + SharedView + Observations {}

impl<T: Membership + Claims + SharedView + Observations + ?Sized> Coordination for T {}

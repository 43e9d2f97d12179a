//! Coordination: how several replicas on one backend act as one system,
//! with no other server and no consensus protocol of their own.
//!
//! - **Membership** ([`Membership`]): each `serve` registers a replica row and
//!   heartbeats it; liveness is computed by the backend on its own clock.
//! - **Leased claims and fenced writes** ([`Claims`]): replicas
//!   [`claim_due`](Claims::claim_due) proxies with a lease, check them, and
//!   write the result back fenced by the lease owner and the claim's attempt
//!   number, so a replica that stalled past its lease changes nothing when it
//!   wakes. The writer decides what its result means (the transition, from
//!   the claim's previous status); the backend records what it is told.
//! - **One view** ([`SharedView`]): results are stored with a cluster-wide,
//!   gap-tolerant but commit-ordered generation; a [`Notice`] tells every
//!   replica to read [`results_since`](SharedView::results_since) its own
//!   generation.
//! - **Observations** ([`Observations`]): every accepted result is also its
//!   writer's observation; a failing check of an `ok` proxy is handed to a
//!   different replica ([`Claims::defer_for_confirmation`]), and the
//!   consistency report lists disagreements and stale proxies.
//!
//! [`Coordination`] is the sum of the four. Two backends implement it and
//! pass one conformance suite: [`crate::PgCoordination`] (rows, leases on the
//! database clock, `FOR UPDATE SKIP LOCKED`, `LISTEN/NOTIFY`) and
//! [`crate::MemoryCoordination`] (one process, on tokio's clock).
//!
//! # Layout
//! - `types`: the values passed (claims, writes, results, observations).
//! - `notice`: [`Notice`], [`NoticeSource`] and [`ListenerStats`].
//! - `traits`: the four concerns and their sum.

mod notice;
mod traits;
mod types;

pub use notice::{ListenerStats, Notice, NoticeSource};
pub use traits::{Claims, Coordination, Membership, Observations, SharedView};
pub use types::{
    Claim, Disagreement, KeptReadings, Observation, ReplicaId, ReplicaInfo, ReplicaRow,
    ResultBatch, ResultRow, ResultWrite, WriteOutcome,
};
pub(crate) use types::{disagreements_of, history_through};

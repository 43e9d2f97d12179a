//! The `Coordination` seam: how several replicas on one database act as one
//! system, with no other server and no consensus protocol of their
//! own: rows, leases on the database clock, `FOR UPDATE SKIP LOCKED` and
//! `LISTEN/NOTIFY`.
//!
//! - **Membership**: each `serve` registers a replica row and heartbeats it;
//!   liveness is computed by the database (`heartbeat_at > now() - window`).
//! - **Shared probing**: replicas [`claim_due`](Coordination::claim_due) proxies
//!   with a lease, check them, and write the result back with a write fenced by
//!   the lease owner and the claim's attempt number, so a replica that stalled
//!   past its lease changes nothing when it wakes.
//! - **One view**: results live in the database with a cluster-wide, gap-tolerant
//!   but commit-ordered generation; a tiny `NOTIFY` tells every replica to read
//!   [`results_since`](Coordination::results_since) its own generation.
//! - **Second opinion**: every accepted result is also its writer's observation;
//!   [`defer_for_confirmation`](Coordination::defer_for_confirmation) hands a
//!   failing check of an `ok` proxy to a different replica.
//!
//! Every time is the database's `now()`; callers pass durations, never instants.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::StoreError;

/// A replica's id (one per `serve` process, minted at registration).
pub type ReplicaId = Uuid;

/// What a replica says about itself when it registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaInfo {
    /// The machine's host name.
    pub hostname: String,
    /// The proxyhealth version it runs.
    pub version: String,
    /// The address its HTTP server listens on.
    pub listen_addr: String,
    /// Its process id.
    pub pid: u32,
}

/// One replica row as the consistency report shows it; ages and liveness are
/// computed by the database, on its clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaRow {
    /// The replica's id.
    pub id: ReplicaId,
    /// Its host name.
    pub hostname: String,
    /// Its version.
    pub version: String,
    /// Its listen address.
    pub listen_addr: String,
    /// Its process id.
    pub pid: u32,
    /// When it registered (database clock).
    pub started_at: OffsetDateTime,
    /// Its last heartbeat (database clock).
    pub heartbeat_at: OffsetDateTime,
    /// When it stopped cleanly, if it did.
    pub stopped_at: Option<OffsetDateTime>,
    /// Heartbeat fresh within the window asked for, and not stopped.
    pub live: bool,
    /// How old its heartbeat is, by the database clock.
    pub heartbeat_age: Duration,
    /// The view generation it reported at its last heartbeat.
    pub view_generation: i64,
    /// How far behind the newest result it is: the newest generation minus
    /// `view_generation` (0 when it has everything).
    pub generation_lag: i64,
    /// How long the oldest result it has not reported seeing has existed
    /// (zero when it has everything). Includes up to one heartbeat period of
    /// reporting delay.
    pub lag: Duration,
}

/// A proxy claimed for one check: the holder must write its result (or defer
/// it) with this claim before the lease runs out, or the write is rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The proxy to check.
    pub proxy_id: Uuid,
    /// Who claimed it.
    pub owner: ReplicaId,
    /// The claim's attempt number; with `owner`, the fence of the write.
    pub attempt: i64,
    /// The lease asked for. The holder should treat the claim as lost after
    /// this long on its own monotonic clock, measured from before the claim
    /// was sent (a write after that is still safe: it is rejected).
    pub lease: Duration,
    /// The previous owner whose lease ran out without a write or a release:
    /// this claim is a take-over (count it).
    pub taken_over_from: Option<ReplicaId>,
    /// The status of the proxy's newest accepted result, if any.
    pub previous_status: Option<String>,
    /// A different replica saw this proxy fail and asked for a second opinion
    /// ([`Coordination::defer_for_confirmation`]); this check is it.
    pub confirming: Option<ReplicaId>,
}

/// A result to write for a claim.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultWrite {
    /// The claim the check was made under.
    pub claim: Claim,
    /// The status in one word, for queries (`ok`, `unhealthy`, …).
    pub status: String,
    /// A short human text; kept as the writer's observation.
    pub message: String,
    /// The full per-proxy status as the engine serializes it.
    pub result: serde_json::Value,
    /// When the proxy is due again, from now (database clock).
    pub next_due_in: Duration,
}

/// What became of a fenced write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Stored, with the generation it got.
    Accepted {
        /// The result's view generation.
        generation: i64,
    },
    /// The claim was no longer the row's (lease taken over, or released):
    /// nothing changed. Count it.
    Rejected,
}

/// One proxy's newest result as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRow {
    /// The proxy.
    pub proxy_id: Uuid,
    /// The result's view generation.
    pub generation: i64,
    /// The status word.
    pub status: String,
    /// The full result the writer passed.
    pub result: serde_json::Value,
    /// When it was written (database clock).
    pub checked_at: OffsetDateTime,
    /// Which replica wrote it.
    pub checked_by: ReplicaId,
}

/// Results read in one snapshot, with the generation that snapshot is complete
/// up to: after applying `rows`, the reader's view is at `generation`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResultBatch {
    /// Every result committed up to this generation is in the snapshot.
    pub generation: i64,
    /// The rows (for `results_since`, those newer than the asked generation),
    /// ordered by generation.
    pub rows: Vec<ResultRow>,
}

/// What one replica last saw of one proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The proxy.
    pub proxy_id: Uuid,
    /// The replica that saw it.
    pub replica_id: ReplicaId,
    /// The status word it saw.
    pub status: String,
    /// Its message.
    pub message: String,
    /// When (database clock).
    pub observed_at: OffsetDateTime,
}

/// A proxy whose recent observations from live replicas have different statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    /// The proxy.
    pub proxy_id: Uuid,
    /// The observations that disagree, ordered by replica id.
    pub observations: Vec<Observation>,
}

/// A notification from the database, or the news that some may have been lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// A result was written; read [`Coordination::results_since`] the view's
    /// generation (the payload is a hint; the rows are the truth).
    Result {
        /// The result's generation.
        generation: i64,
        /// Its proxy.
        proxy_id: Uuid,
    },
    /// A proxy became due before its time (a re-check request, a deferral, a
    /// stopped replica's released leases): claim now.
    Due {
        /// The proxy, when one is named.
        proxy_id: Option<Uuid>,
    },
    /// The notification connection was lost and is back: notifications sent
    /// meanwhile are gone, so reload everything ([`Coordination::all_results`]).
    Reconnected,
}

/// The listener's state, shared with whoever exports metrics.
#[derive(Debug, Default)]
pub struct ListenerStats {
    connected: AtomicBool,
    reconnects: AtomicU64,
    pings_lost: AtomicU64,
}

impl ListenerStats {
    /// Whether the notification connection is up right now.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// How many times it was lost and re-established.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// How many times a self-ping went unanswered (a half-open connection).
    pub fn pings_lost(&self) -> u64 {
        self.pings_lost.load(Ordering::Relaxed)
    }

    pub(crate) fn set_connected(&self, up: bool) {
        self.connected.store(up, Ordering::Relaxed);
    }

    pub(crate) fn count_reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_ping_lost(&self) {
        self.pings_lost.fetch_add(1, Ordering::Relaxed);
    }
}

/// A source of [`Notice`]s that reconnects by itself.
#[async_trait::async_trait]
pub trait NoticeSource: Send {
    /// The next notice. Never fails: while the database is away it waits,
    /// reconnecting with a back-off, and yields [`Notice::Reconnected`] once
    /// back. Cancel-safe (use it in `select!`).
    async fn recv(&mut self) -> Notice;

    /// The connection state and counters.
    fn stats(&self) -> Arc<ListenerStats>;
}

/// How replicas on one database coordinate; see the module docs.
///
/// Object-safe: the engine holds an `Arc<dyn Coordination>`. Every time is the
/// database's clock; durations are rounded to milliseconds.
#[async_trait::async_trait]
pub trait Coordination: Send + Sync + std::fmt::Debug {
    /// Registers a replica (started and heartbeat now) and returns its new id.
    async fn register(&self, info: ReplicaInfo) -> Result<ReplicaId, StoreError>;

    /// Refreshes the replica's heartbeat and records the view generation it
    /// serves. Returns the database time, or `None` when the replica's row is
    /// gone (pruned after a long pause) or stopped: register again.
    async fn heartbeat(
        &self,
        id: ReplicaId,
        view_generation: i64,
    ) -> Result<Option<OffsetDateTime>, StoreError>;

    /// Marks the replica stopped now and releases its leases, so its proxies
    /// are claimable at once (and wakes the others).
    async fn stop(&self, id: ReplicaId) -> Result<(), StoreError>;

    /// Every known replica, with `live` meaning a heartbeat within
    /// `live_window` and not stopped; ordered by start time.
    async fn replicas(&self, live_window: Duration) -> Result<Vec<ReplicaRow>, StoreError>;

    /// Claims up to `limit` due proxies for `owner` with a lease of `lease`,
    /// oldest due first. Rows locked by a concurrent claimer are skipped, so two
    /// claimers get disjoint sets. A proxy whose lease ran out is due again and
    /// its claim says whom it was taken over from.
    async fn claim_due(
        &self,
        owner: ReplicaId,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Claim>, StoreError>;

    /// Writes one result, fenced; see [`Coordination::write_results`].
    async fn write_result(&self, write: ResultWrite) -> Result<WriteOutcome, StoreError> {
        let mut outcomes = self.write_results(vec![write]).await?;
        outcomes
            .pop()
            .ok_or_else(|| StoreError::Internal("a write of one result returned no outcome".into()))
    }

    /// Writes results in one transaction, each fenced by its claim's owner and
    /// attempt: an accepted write stores the result, releases the lease, sets
    /// the next due time (now, when a re-check was requested during the check),
    /// stamps `checked_at`/`checked_by`, takes a new generation, and records
    /// the writer's observation; the statement notifies `proxyhealth_results`
    /// once, with its newest result (`<generation>:<proxy id>`): readers catch
    /// up with `results_since`, so one wake-up per batch is enough. A rejected
    /// write changes nothing. Outcomes are in the order of `writes`.
    /// Generations increase but are not dense (a batch reserves one per write,
    /// rejected or not).
    async fn write_results(
        &self,
        writes: Vec<ResultWrite>,
    ) -> Result<Vec<WriteOutcome>, StoreError>;

    /// Asks for a second opinion instead of writing a failing result for an
    /// `ok` proxy: fenced like a write; records the observation, releases the
    /// lease, makes the proxy due now but not claimable by `claim.owner` for
    /// `within` (after that, anyone may claim it again), and notifies
    /// `proxyhealth_due`. The result and generation do not change. `true` when
    /// the claim was still ours.
    async fn defer_for_confirmation(
        &self,
        claim: &Claim,
        status: &str,
        message: &str,
        within: Duration,
    ) -> Result<bool, StoreError>;

    /// Records what `replica` saw of `proxy_id` (upsert; write_results does this
    /// for every accepted result).
    async fn record_observation(
        &self,
        proxy_id: Uuid,
        replica: ReplicaId,
        status: &str,
        message: &str,
    ) -> Result<(), StoreError>;

    /// Every replica's observation of one proxy, ordered by replica id.
    async fn observations(&self, proxy_id: Uuid) -> Result<Vec<Observation>, StoreError>;

    /// Proxies whose observations from replicas live within `live_window`,
    /// made within `within`, have more than one status.
    async fn disagreements(
        &self,
        live_window: Duration,
        within: Duration,
    ) -> Result<Vec<Disagreement>, StoreError>;

    /// Makes a proxy due now (creating its row if needed) and notifies
    /// `proxyhealth_due`: one check in the cluster follows, however many
    /// replicas hear it (the claim decides). A request made while the proxy is
    /// being checked makes it due again right after that check's write.
    /// [`StoreError::NotFound`] for an unknown or deleted proxy.
    async fn request_check(&self, proxy_id: Uuid) -> Result<(), StoreError>;

    /// Results newer than `generation`, ordered by generation, with the
    /// generation the reader is then complete up to. Results commit in
    /// generation order, so this never skips one: read it after a notice, and
    /// on a short safety period (cheap when nothing is new), and a lost
    /// notification costs only that period.
    async fn results_since(&self, generation: i64) -> Result<ResultBatch, StoreError>;

    /// Every non-deleted proxy's newest result, for a full reload (at start
    /// and after [`Notice::Reconnected`]).
    async fn all_results(&self) -> Result<ResultBatch, StoreError>;

    /// The newest committed generation.
    async fn newest_generation(&self) -> Result<i64, StoreError>;

    /// Non-deleted proxies whose newest result is older than `older_than` (or
    /// that were never checked and have had a row for that long).
    async fn stale(&self, older_than: Duration) -> Result<Vec<Uuid>, StoreError>;

    /// Opens a notification listener (one dedicated connection). Open it
    /// before the first full load, so nothing written in between is missed.
    async fn listen(&self) -> Result<Box<dyn NoticeSource>, StoreError>;
}

/// A duration as whole milliseconds for SQL (`$n * interval '1 millisecond'`).
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Milliseconds from SQL as a duration (negative is zero).
pub(crate) fn from_millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

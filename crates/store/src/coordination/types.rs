//! The values coordination passes: replicas, claims, writes and their
//! outcomes, stored results, observations.

use std::time::Duration;

use proxyhealth_core::{CheckRecord, HistoryBatch, ProxyStatus, Status, Transition};
use time::OffsetDateTime;
use uuid::Uuid;

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
    /// The vantage it probes from (`serve --vantage`): it claims only that
    /// vantage's check rows, shared with the other replicas naming it.
    pub vantage: String,
}

/// One replica row as the consistency report shows it; ages and liveness are
/// computed by the backend, on its clock.
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
    /// The vantage it probes from.
    pub vantage: String,
    /// When it registered (backend clock).
    pub started_at: OffsetDateTime,
    /// Its last heartbeat (backend clock).
    pub heartbeat_at: OffsetDateTime,
    /// When it stopped cleanly, if it did.
    pub stopped_at: Option<OffsetDateTime>,
    /// Heartbeat fresh within the window asked for, and not stopped.
    pub live: bool,
    /// How old its heartbeat is, by the backend clock.
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
    /// The status of the proxy's newest accepted result, if any. While the
    /// claim holds, no other write can change it, so it is the status an
    /// accepted write of this claim changes from: what the writer decides
    /// its transition against.
    pub previous_status: Option<Status>,
    /// A different replica saw this proxy fail and asked for a second opinion
    /// ([`crate::Claims::defer_for_confirmation`]); this check is it.
    pub confirming: Option<ReplicaId>,
}

/// A result to write for a claim.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultWrite {
    /// The claim the check was made under.
    pub claim: Claim,
    /// The proxy's status after the check, as every view will show it; its
    /// `status` is the one queries and observations use, and it is one check
    /// in the history's rollups.
    pub result: ProxyStatus,
    /// A short human text; kept as the writer's observation.
    pub message: String,
    /// When the proxy is due again, from now (backend clock).
    pub next_due_in: Duration,
    /// The transition this result makes, decided by the writer from
    /// [`Claim::previous_status`] ([`Transition::between`]); recorded with
    /// the result when the write is accepted, never when it is rejected.
    pub transition: Option<Transition>,
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
    /// The vantage whose replicas checked it: each vantage of the cluster
    /// keeps its own newest result of every proxy.
    pub vantage: String,
    /// The result's view generation.
    pub generation: i64,
    /// The status the writer passed (its `check_seq` is local to a process
    /// and not stored: read it as 0).
    pub result: ProxyStatus,
    /// When it was written (backend clock).
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
    /// The status it saw.
    pub status: Status,
    /// Its message.
    pub message: String,
    /// When (backend clock).
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

/// The history of accepted writes as their writers told it: one check each,
/// and the transitions they decided. Every backend records this with the
/// results, in the same transaction.
pub(crate) fn history_of<'a>(accepted: impl IntoIterator<Item = &'a ResultWrite>) -> HistoryBatch {
    let mut batch = HistoryBatch::default();
    for write in accepted {
        batch.checks.push(CheckRecord::of(&write.result));
        if let Some(transition) = &write.transition {
            batch.transitions.push(transition.clone());
        }
    }
    batch
}

/// The history `accepted` writes record with maintenance windows in force
/// ([`MaintenanceFilter`](proxyhealth_core::maintenance_filter::MaintenanceFilter)):
/// what every backend's fenced write records, so a cluster keeps windows as
/// a single service does.
pub(crate) fn history_through<'a>(
    filter: &proxyhealth_core::maintenance_filter::MaintenanceFilter,
    accepted: impl IntoIterator<Item = &'a ResultWrite>,
) -> HistoryBatch {
    if filter.is_idle() {
        return history_of(accepted);
    }
    filter.apply(accepted.into_iter().map(|write| {
        proxyhealth_core::maintenance_filter::FilterInput {
            check: CheckRecord::of(&write.result),
            transition: write.transition.clone(),
            current: Transition::of(&write.result, None, Some(write.claim.owner)),
        }
    }))
}

/// Observations ordered by proxy, then replica, as one [`Disagreement`] per proxy.
pub(crate) fn disagreements_of(observations: Vec<Observation>) -> Vec<Disagreement> {
    let mut out: Vec<Disagreement> = Vec::new();
    for seen in observations {
        match out.last_mut() {
            Some(last) if last.proxy_id == seen.proxy_id => last.observations.push(seen),
            _ => out.push(Disagreement {
                proxy_id: seen.proxy_id,
                observations: vec![seen],
            }),
        }
    }
    out
}

/// Readings of other vantages kept by any replica since a time, read in one
/// statement: what a replica that did not receive them needs to judge with
/// them too.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeptReadings {
    /// The backend's clock when they were read: the next read asks for those
    /// kept since a little before it (a write that began before the read and
    /// committed after it is stamped earlier than the read).
    pub read_at: Option<OffsetDateTime>,
    /// (proxy id, reading), each reading's `vantage` its vantage's name.
    pub readings: Vec<(Uuid, proxyhealth_core::VantageReading)>,
}

//! `PgCoordination`: [`Coordination`](crate::Coordination) on PostgreSQL, in
//! the tables of the `replicas` migration (`proxyhealth_replicas`,
//! `proxyhealth_view`, `proxyhealth_checks`, `proxyhealth_observations`).
//!
//! Every statement is one round trip and its own transaction (data-modifying
//! CTEs where several rows change together), so no transaction stays open
//! across a probe, and nothing needs a session (no session advisory lock): a
//! pooled connection works, and a killed session loses nothing but its statement.
//!
//! # Ordering of results
//! A result write first bumps the single `proxyhealth_view` row, whose lock it
//! holds until commit; writes therefore commit in generation order, and a
//! snapshot that sees generation G sees every result up to G. That is what makes
//! `results_since(G)` exact (a sequence would hand out G+1 before G commits).
//! Claims, requests and deferrals never take that row, and every statement that
//! takes it takes it before any check row, so no two statements wait on each
//! other in a cycle.
//!
//! # Layout
//! - `chores`: the periodic chores (missing check rows, pruning), one replica
//!   per period cluster-wide.
//! - `membership`: [`Membership`](crate::Membership): replica rows and heartbeats.
//! - `claims`: [`Claims`](crate::Claims): leases, fenced writes (with their
//!   history and outbox rows in the same transaction), deferrals, requests.
//! - `maintenance`: the history a fenced write records, through the
//!   maintenance windows read in its transaction.
//! - `view`: [`SharedView`](crate::SharedView): generations, results, the listener.
//! - `observations`: [`Observations`](crate::Observations): observations,
//!   disagreements, stale proxies.

mod chores;
mod claims;
mod maintenance;
mod membership;
mod observations;
mod view;

use std::time::Duration;

use parking_lot::Mutex;
use sqlx::postgres::PgPool;
use tokio::time::Instant;

use crate::journal::Journal;
use crate::pg_listener::ListenerSettings;

/// Tunables of [`PgCoordination`]; the defaults suit the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoordinationSettings {
    /// How often, cluster-wide, `claim_due` first inserts the missing check
    /// rows of proxies created without a `request_check` (an anti-join over
    /// all proxies, so not at every claim, and by one replica per period).
    pub ensure_period: Duration,
    /// How often, cluster-wide, `register`/`heartbeat` prune old rows.
    pub prune_period: Duration,
    /// A replica row dead or stopped for this long is deleted.
    pub replica_ttl: Duration,
    /// An observation older than this is deleted.
    pub observation_ttl: Duration,
    /// The notification listener's self-ping.
    pub listener: ListenerSettings,
}

impl Default for CoordinationSettings {
    fn default() -> Self {
        CoordinationSettings {
            ensure_period: Duration::from_secs(30),
            prune_period: Duration::from_secs(60),
            replica_ttl: Duration::from_secs(3600),
            observation_ttl: Duration::from_secs(900),
            listener: ListenerSettings::default(),
        }
    }
}

/// [`Coordination`](crate::Coordination) on the PostgreSQL database of a
/// [`crate::PgStore`]; made by [`crate::PgStore::coordination_with`] (or
/// [`crate::ProxyStore::coordination`]), sharing the store's pool.
#[derive(Debug)]
pub struct PgCoordination {
    pool: PgPool,
    settings: CoordinationSettings,
    last_ensure: Mutex<Option<Instant>>,
    last_prune: Mutex<Option<Instant>>,
    /// This replica's history journal: its accepted results' checks and
    /// transitions are recorded in the same transaction as the write.
    journal: Journal,
}

impl PgCoordination {
    pub(crate) fn new(pool: PgPool, settings: CoordinationSettings) -> Self {
        PgCoordination {
            pool,
            settings,
            last_ensure: Mutex::new(None),
            last_prune: Mutex::new(None),
            journal: Journal::new(),
        }
    }

    /// This coordination with its journal writing notification rows by the
    /// store's outbox policy, so a transition recorded by a replica's fenced
    /// write gets its notification in the same transaction.
    pub(crate) fn with_outbox(mut self, outbox: crate::outbox::PolicyHandle) -> Self {
        self.journal.outbox = outbox;
        self
    }
}

/// A CTE `vantages(vantage)`: the vantages whose replicas have not stopped
/// (dead ones included: their rows wait for them), or the default vantage
/// when no replica has registered. Every such vantage has a check row of
/// every proxy. A macro, so statements `concat!` it into one static text.
macro_rules! vantages_cte {
    () => {
        "v0 AS (SELECT DISTINCT vantage FROM proxyhealth_replicas \
           WHERE stopped_at IS NULL), \
         vantages AS (SELECT vantage FROM v0 \
           UNION ALL SELECT 'local' WHERE NOT EXISTS (SELECT 1 FROM v0))"
    };
}
use vantages_cte;

/// A duration as whole milliseconds for SQL (`$n * interval '1 millisecond'`).
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Milliseconds from SQL as a duration (negative is zero).
fn from_millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// A status word read from a row as a [`proxyhealth_core::Status`], with an
/// error naming the column and the word when it is none of the five.
fn status_of(column: &str, word: &str) -> Result<proxyhealth_core::Status, crate::StoreError> {
    word.parse().map_err(|err| {
        crate::StoreError::Internal(format!("the stored {column} is not a status: {err}"))
    })
}

//! The replica runtime: several `proxyhealth serve` processes on one
//! PostgreSQL act as one checker, coordinated through the store's
//! [`Coordination`](proxyhealth_store::Coordination) alone.
//!
//! A [`Replica`] runs three loops instead of the engine's own sweep loop:
//! - **membership**: a heartbeat every 2 s on the database's clock, with the
//!   view generation it serves; live means a heartbeat within 3 periods;
//! - **probing**: claims due proxies with a lease (2 × timeout + 5 s), never
//!   more than its free check slots, checks them with the engine and writes
//!   the results in batches of 250 ms, fenced by the claim (a rejected write
//!   is counted); an `ok` proxy that now fails is confirmed by another replica
//!   first when two or more are live (the second opinion);
//! - **view**: reads new results when notified (coalesced), every 3 s
//!   anyway, and everything after the notification connection was lost and
//!   every 60 s, and publishes them into the engine's snapshot.
//!
//! Bounds (defaults: 5 s timeout): a dead replica's claimed proxies are
//! checked again within lease + 1.5 × poll + timeout + batch (3 × timeout + 6.75 s,
//! 21.75 s); a stopped one's at once. A view lags a result by a notification
//! (milliseconds), by at most the 3 s safety period when a notification is
//! lost, and by at most about 10 s (the listener's self-ping) plus a reload
//! when its connection dies silently. `/healthz` calls a view stale once it
//! was not read for two intervals.
//!
//! # Layout
//! - [`settings`]: the periods and bounds, derived from the engine's options.
//! - [`error`]: why a replica could not start.
//! - [`metrics`]: the replica's metrics on the engine's registry.
//! - [`rechecks`]: [`ClusterRechecks`], the engine's re-check seam asking the
//!   cluster for one check.
//! - `quiet`: one log line per outage of a recurring statement.
//! - `shared`: what the loops share (this replica's id, the view generation,
//!   the live count, the claim loop's wake-up).
//! - `membership`: the heartbeat loop.
//! - `view`: the view loop and the full load.
//! - `writer`: batched, fenced writes and second-opinion hand-offs.
//! - `probing`: the claim and check loop.
//! - `peers`: agents' readings kept by any replica, read back; the fleet
//!   judged again every interval.
//! - `partials`: partial outages' changes offered to the store's recorder.
//! - `judged`: the overall changes a replica's judgement makes between its
//!   checks (another vantage's reading), offered to the cluster's journal.
//! - [`replica_engine`]: [`ReplicaEngine`], the engine a replica runs on,
//!   built with the cluster's re-checks installed (the only way to get one).
//! - [`runtime`]: [`Replica`]: start, run, stop.
//!
//! Who uses whom (`use crate::` edges; `settings`, `metrics`, `quiet` and
//! `error` are leaves):
//! ```text
//! runtime    → shared, membership, view, probing, peers, settings, metrics,
//!              error, replica_engine
//! peers      → shared, quiet, partials
//! partials   → shared
//! replica_engine → rechecks, judged
//! probing    → shared, writer, settings, quiet
//! writer     → shared, settings
//! view       → shared, quiet, partials
//! membership → shared, quiet
//! shared     → settings, metrics, replica_engine
//! rechecks   → nothing of this crate
//! judged     → nothing of this crate
//! ```

pub mod error;
mod judged;
mod membership;
pub mod metrics;
mod partials;
mod peers;
mod probing;
mod quiet;
pub mod rechecks;
pub mod replica_engine;
pub mod runtime;
pub mod settings;
mod shared;
mod view;
mod writer;

pub use error::ClusterError;
pub use rechecks::ClusterRechecks;
pub use replica_engine::ReplicaEngine;
pub use runtime::{Replica, ReplicaIdHandle};
pub use settings::ClusterSettings;

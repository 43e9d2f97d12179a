//! Several `proxyhealth serve` replicas on one PostgreSQL: real
//! processes, each test on a database of its own on the server `scripts/test`
//! starts (`PROXYHEALTH_TEST_PG_URL`; the restart test starts a server of its
//! own), a fleet of fake proxies on loopback that count and time the requests
//! they get, a 1 s interval. Each test is one behaviour; it prints the numbers
//! it saw (`--nocapture`) and asserts them against the bounds of
//! docs/replicas.md, computed from the runtime's own settings
//! (`proxyhealth_cluster::ClusterSettings`).
//!
//! - `harness`: databases, fake proxies, replicas, waiting with a bound.
//! - `sharing`: one check per proxy per interval; one view everywhere.
//! - `failover`: a killed replica taken over; a paused one fenced.
//! - `faults`: a killed listener session; a PostgreSQL restart.
//! - `second_opinion`: a failure seen by one replica only.
//! - `attach`: replicas attached to a Coder database, coordinating in a
//!   schema of their own.
//! - `notify`: three replicas, one notification per change.
//! - `maintenance`: two replicas, nothing delivered inside a window, a
//!   change still true at its end delivered once.
//! - `vantages`: replicas naming two vantages and an agent of a third, one
//!   quorum on every replica, an outage notified once.

mod attach;
mod failover;
mod faults;
mod harness;
mod maintenance;
mod notify;
mod second_opinion;
mod sharing;
mod vantages;

//! A simulated fleet of Coder workspace proxies on loopback, shared by the tests, the demo
//! and the benchmarks of proxyhealth.
//!
//! Each fake proxy answers `GET /healthz-report` as its [`Kind`] says: a healthy report,
//! one with warnings or errors, an error envelope, an HTML page, plain text, a hang, a
//! slow answer or body, a refused connection, or a flapping health. [`spawn`] starts one
//! on `127.0.0.1:0`; [`Fleet::start`] starts thousands on distinct addresses
//! (127.1.0.1, 127.1.0.2, …) sharing one port, optionally split into shards over several
//! processes. [`run_sim`] is what `proxyhealth sim` runs.
//!
//! A fleet serves with the lean stack (bare hyper, static answers) unless its spec
//! says otherwise ([`FleetSpec::serving`]): [`Stack::Costly`] spends per request
//! what a real server does (`costly`), and [`SimTls`] serves over TLS with a
//! self-made certificate (`stack`).
//!
//! Addresses other than 127.0.0.1 rely on Linux routing all of 127.0.0.0/8 to loopback.

pub mod addr;
pub mod bodies;
mod costly;
mod error;
pub mod fds;
mod fleet;
mod kind;
mod proxy;
mod respond;
mod run;
mod serve;
mod shared;
mod spec;
mod stack;
mod stats;

pub use addr::{MAX_FLEET, fleet_ip};
pub use error::SimError;
pub use fds::{FD_RESERVE, fd_limit, fds_needed, raise_fd_limit};
pub use fleet::{Fleet, FleetProxy, TARGETS_HEADER};
pub use kind::{DEFAULT_FLAP_PERIOD, DEFAULT_SLOW, DEFAULT_SLOW_BODY_STEP, Kind, ParseKindError};
pub use proxy::{SimProxy, spawn};
pub use respond::HEALTH_REPORT_PATH;
pub use run::{SimArgs, run_sim};
pub use spec::{DEFAULT_MAX_CONNECTIONS, DEFAULT_SEED, FleetSpec, Mix, Planned, Shard};
pub use stack::{DEFAULT_COSTLY_WORK, Serving, SimTls, Stack};

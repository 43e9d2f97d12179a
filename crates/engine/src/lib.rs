//! The proxyhealth engine: checks every proxy of a store on an interval and keeps
//! the results in memory for lock-free reads.
//!
//! # Layout
//! - [`options`]: the engine's settings and their defaults, with the reasoning.
//! - [`probe`]: one `GET <url>/healthz-report` under a whole-request deadline and a body
//!   cap; plain HTTP on a lean path of its own (`plain_http`), TLS through `reqwest`.
//! - [`sweep`]: one pass over all proxies with bounded parallelism.
//! - [`snapshot`]: the immutable snapshot readers see, and how new results merge into it.
//! - [`metrics`]: the Prometheus metrics (Coder's names), computed from the snapshot.
//! - [`engine`]: the engine itself: the loop, on-demand sweeps shared by concurrent
//!   callers, single-proxy re-checks (awaited, or in the background with at most
//!   one in flight per proxy), and the readers.
//! - [`error`]: the engine's errors.

pub mod engine;
pub mod error;
pub mod metrics;
pub mod options;
mod plain_http;
pub mod probe;
pub mod snapshot;
pub mod sweep;

pub use engine::{Engine, EngineBuilder, SweepState};
pub use error::EngineError;
pub use options::{EngineOptions, RedirectPolicy};
pub use snapshot::{Snapshot, SweepInfo};

//! Load against the real `proxyhealth serve`, on loopback: what `scripts/load`
//! runs (`proxyhealth-load`, closed-loop readers and re-registering proxies)
//! and what `scripts/bench`'s registration row runs (`proxyhealth-bench
//! registration`, re-registration at a fixed arrival rate), in one place.
//! Every call goes through the typed client of `proxyhealth-api`.
//!
//! # Layout
//! - [`serve`]: [`Server`](serve::Server), a `proxyhealth serve` child started
//!   from a [`ServeSpec`](serve::ServeSpec) (SQLite or PostgreSQL), and its RSS.
//! - [`setup`]: proxies created and registered through the API, each with its
//!   own token ([`Member`](setup::Member)), and the wait until all are `ok`.
//! - [`open_loop`]: re-registration at a fixed rate, latency from the planned
//!   send time ([`Pace`](open_loop::Pace), [`OpenLoop`](open_loop::OpenLoop)).
//! - [`memory`]: the server's RSS at the start and at each quarter of a run.
//! - [`stats`]: latency samples, failures and percentiles.
//! - [`error`]: [`LoadError`](error::LoadError), why a run could not go on.

pub mod error;
pub mod memory;
pub mod open_loop;
pub mod serve;
pub mod setup;
pub mod stats;

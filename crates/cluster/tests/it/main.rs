//! The replica runtime: two or three replicas in one process, each with its
//! own engine, probing loopback fake proxies that count their requests.
//!
//! Most scenarios run on one `MemoryCoordination` with tokio's clock paused
//! (leases, intervals and heartbeats pass without waiting; the fake proxies
//! still answer on real sockets). What only PostgreSQL shows (a killed
//! notification session, a database restart, a row deleted behind the
//! store's back) runs on a real PostgreSQL, each replica with its own pool;
//! without `PROXYHEALTH_TEST_PG_URL` those tests skip loudly, except under
//! `CI=true`, where they fail.

mod fencing;
mod history;
mod listener;
mod maintenance;
mod second_opinion;
mod sharing;
mod support;
mod vantages;

//! End-to-end tests of the `proxyhealth` binary: a real server on a temp SQLite
//! file, real fake proxies on loopback, and the CLI driving both; and
//! (`cluster`) three `serve` replicas on one PostgreSQL.

mod check;
mod cluster;
mod config;
mod crash;
mod fleet;
mod metrics;
mod notify;
mod replicas;
mod shutdown;
mod support;

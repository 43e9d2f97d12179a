//! End-to-end tests of the `proxyhealth` binary: a real server on a temp SQLite
//! file, real fake proxies on loopback, and the CLI driving both; and
//! (`cluster`) three `serve` replicas on one PostgreSQL; (`tls`) HTTPS
//! proxies with certificates the test makes; and (`alerting`) the shipped
//! alert rules and dashboard on the real Prometheus and Alertmanager.

mod agent;
mod alerting;
mod check;
mod cluster;
mod config;
mod crash;
mod docs;
mod fleet;
mod healthcheck;
mod host_names;
mod metrics;
mod notify;
mod public_reads;
mod quiet;
mod readiness;
mod replicas;
mod secrets;
mod server_json;
mod shutdown;
mod support;
mod tls;
mod tokens;
mod vantages;

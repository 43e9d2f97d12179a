//! The store integration tests: one conformance suite run on every backend, plus
//! backend-specific tests (SQLite crash safety, PostgreSQL migrations, Coder attach),
//! and the replicas' coordination: its own conformance suite, run in memory and
//! on PostgreSQL.

mod access;
mod attach;
mod conformance;
mod coordination;
mod history;
mod maintenance;
mod memory;
mod outbox;
mod postgres;
mod sessions;
mod sqlite;
mod sqlite_crash;
mod support;
mod vantages;

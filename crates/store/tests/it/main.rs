//! The store integration tests: one conformance suite run on every backend, plus
//! backend-specific tests (SQLite crash safety, PostgreSQL migrations, Coder attach).

mod attach;
mod conformance;
mod memory;
mod pg;
mod postgres;
mod sqlite;
mod sqlite_crash;
mod support;

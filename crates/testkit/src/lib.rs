//! Test support shared by proxyhealth's test binaries (a dev-dependency only,
//! never published): what used to be copied between them or included as files
//! from another crate's directory.
//!
//! Servers a test cannot get make it skip loudly, except with `CI=true`: then
//! the test fails, so CI never passes without having run it.
//!
//! # Layout
//! - [`postgres`]: [`OwnPostgres`], a PostgreSQL server of the test's own, for
//!   tests that stop and restart it.
//! - [`fake_proxy`]: [`FakeProxy`], a proxy on loopback whose answers the test
//!   decides, and the responses it gives.
//! - [`api`]: a client of a test server and the registration a test proxy sends.
//! - [`in_ci`]: whether skipping is forbidden.

pub mod api;
pub mod fake_proxy;
pub mod postgres;

pub use fake_proxy::FakeProxy;
pub use postgres::OwnPostgres;

/// Whether the tests run in CI (`CI=true`): then a test that cannot get its
/// server or privilege fails instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

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
//! - [`database`]: [`TestDatabase`], a database of the test's own on a
//!   PostgreSQL server (the shared one, or a test's own).
//! - [`fake_proxy`]: [`FakeProxy`], a proxy on loopback whose answers the test
//!   decides, and the responses it gives.
//! - [`per_client`]: [`per_client::PerClientProxy`], a healthy proxy that
//!   treats each client address as the test says (cut off, delayed), for
//!   several vantages on one machine.
//! - [`tls_server`]: [`TlsProxy`], an HTTPS proxy on loopback with
//!   certificates the test makes ([`TestCa`]: a private CA and its leaves),
//!   optionally requiring a client certificate.
//! - [`tls_front`]: [`TlsFront`], HTTPS on loopback in front of a plain
//!   HTTP server (a TLS-terminating load balancer), with a leaf of a
//!   [`TestCa`].
//! - [`receiver`]: [`Receiver`], a notification receiver on loopback that
//!   records each request, checks its signature, and fails when told to.
//! - [`api`]: a client of a test server and the registration a test proxy sends.
//! - [`coder_db`]: Coder's `workspace_proxies` table without our migrations,
//!   for the tests of the read-only attach.
//! - [`dns_server`]: [`DnsServer`], a real DNS server on loopback (UDP and
//!   TCP) answering a small zone: an address, `NXDOMAIN`, or never.
//! - [`eventually`](mod@eventually): waiting for something that happens on
//!   its own time.
//! - [`oidc_provider`]: [`OidcProvider`], a real OpenID Connect provider
//!   (`oidc-provider-mock`, run by Python) on loopback.
//! - [`program`]: [`Program`], the real binary run as a child process
//!   (`serve`, `demo`), its banner read and its output kept: the one harness
//!   every test binary starts it with.
//! - [`in_ci`]: whether skipping is forbidden.
//! - [`shared_postgres_url`]: the PostgreSQL server `scripts/test` starts for
//!   every test, when there is one.

pub mod api;
pub mod coder_db;
pub mod database;
pub mod dns_server;
pub mod eventually;
pub mod fake_proxy;
pub mod oidc_provider;
pub mod per_client;
pub mod postgres;
pub mod program;
pub mod receiver;
pub mod tls_front;
pub mod tls_server;

pub use database::TestDatabase;
pub use dns_server::{DnsAnswer, DnsServer};
pub use eventually::eventually;
pub use fake_proxy::FakeProxy;
pub use oidc_provider::OidcProvider;
pub use postgres::OwnPostgres;
pub use program::{Banner, Program};
pub use receiver::Receiver;
pub use tls_front::TlsFront;
pub use tls_server::{TestCa, TlsProxy};

/// Whether the tests run in CI (`CI=true`): then a test that cannot get its
/// server or privilege fails instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// The variable `scripts/test` sets to the URL of the PostgreSQL server it
/// starts for the tests.
pub const SHARED_POSTGRES_ENV: &str = "PROXYHEALTH_TEST_PG_URL";

/// The URL of the PostgreSQL server `scripts/test` started, or `None` after
/// saying loudly that the test is skipped; with `CI=true` its absence fails
/// the test instead.
pub fn shared_postgres_url() -> Option<String> {
    match std::env::var(SHARED_POSTGRES_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if in_ci() => panic!(
            "{SHARED_POSTGRES_ENV} is not set and CI=true: the PostgreSQL tests must run in CI \
             (start a server with scripts/lib/postgres.sh: pg_start)"
        ),
        _ => {
            // written to the real stderr, past the test harness's capture, so
            // a skip is seen even when the test passes
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "!!! skipped: {SHARED_POSTGRES_ENV} not set (PostgreSQL tests did not run) !!!"
            );
            None
        }
    }
}

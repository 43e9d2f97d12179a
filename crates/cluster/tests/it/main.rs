//! The replica runtime on a real PostgreSQL: two or three replicas in one
//! process, each with its own engine and store pool over one database, probing
//! loopback fake proxies that count their requests.
//!
//! Without `PROXYHEALTH_TEST_PG_URL` the tests skip loudly, except under
//! `CI=true`, where they fail.

mod fencing;
mod history;
mod listener;
mod second_opinion;
mod sharing;
mod support;

//! `proxyhealth-bench history`: the cost of persisted history on
//! one backend, each figure beside a baseline measured in the same run:
//! - **write**: one sweep's history (10,000 checks and the transitions 1 % of
//!   the proxies make) through the store's journal, against a plain
//!   multi-row `INSERT` of the same 10,000 checks as raw rows in one
//!   transaction (what keeping every check would cost at the least);
//!   statements per sweep (PostgreSQL: counted by `pg_stat_statements` when
//!   the server has it; SQLite: the journal's statement plan);
//! - **size**: the database after 90 simulated days of 1,000 proxies checked
//!   every minute (24 rollup rows a day per proxy, 60 checks each, and two
//!   transitions a day per proxy), filled with generated rows by SQL;
//! - **read**: a 30-day window of one proxy (`history::view::window`:
//!   buckets, transitions, the status at the start, incidents) with 10,000
//!   proxies × 30 days stored, against a plain `SELECT` of that proxy's
//!   rollup rows.
//!
//! # Layout
//! - `common`: the options, the report, the generated rows, and the timing
//!   of writes and reads both backends share.
//! - `sqlite`, `postgres`: the three measurements on each backend.

mod common;
mod postgres;
mod sqlite;

pub use common::{HistoryArgs, HistoryReport};

use anyhow::bail;

/// Runs the three measurements and prints the report.
pub async fn run(args: HistoryArgs) -> anyhow::Result<()> {
    let report = if args.db.starts_with("postgres://") || args.db.starts_with("postgresql://") {
        postgres::run(&args).await?
    } else if args.db == "sqlite" {
        sqlite::run(&args).await?
    } else {
        bail!("--db must be sqlite or postgres://…");
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

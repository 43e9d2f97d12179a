//! What the database did in a window, from PostgreSQL's own counters:
//! statements (`pg_stat_statements`, when the server preloads it) and
//! transactions (`pg_stat_database`, always there) of one database.
//!
//! `pg_stat_statements` counts every statement when it finishes, in shared
//! memory, so a window's difference is exact; `pg_stat_database` is flushed by
//! each backend at most once a second (an idle one within ten), so its window
//! difference is good to about a second's worth of transactions.

use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};
use std::collections::HashMap;
use std::time::Instant;

/// One statement's share of a window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatementRow {
    /// The statement's text as `pg_stat_statements` normalised it (shortened).
    pub query: String,
    /// Calls per second in the window.
    pub calls_per_s: f64,
    /// Mean execution time of one call, ms.
    pub mean_ms: f64,
    /// Execution time per second of window, ms (the share of one core).
    pub ms_per_s: f64,
}

/// The database's work in one window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DbWindow {
    /// Statements per second (`pg_stat_statements`), when available.
    pub statements_per_s: Option<f64>,
    /// Mean execution time of one statement, ms, when available.
    pub mean_ms: Option<f64>,
    /// Execution time per second of window, ms, when available.
    pub exec_ms_per_s: Option<f64>,
    /// Committed and rolled-back transactions per second (`pg_stat_database`).
    pub transactions_per_s: f64,
    /// The statements with the most execution time, most first.
    pub top: Vec<StatementRow>,
}

/// The counters at one moment.
#[derive(Debug, Clone)]
pub struct Counters {
    at: Instant,
    transactions: i64,
    /// calls and total execution ms by query id, with the text.
    statements: Option<HashMap<i64, (i64, f64, String)>>,
}

/// Reads the counters of one database through a connection to it.
#[derive(Debug, Clone)]
pub struct PgStats {
    pool: PgPool,
    statements: bool,
}

impl PgStats {
    /// Uses `pool` (connected to the measured database); tries to make the
    /// `pg_stat_statements` view there and uses it when it can be read (the
    /// server must preload the module; a restart is needed to change that).
    pub async fn new(pool: PgPool) -> PgStats {
        let made = sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .execute(&pool)
            .await
            .is_ok();
        let readable = made
            && sqlx::query("SELECT count(*) FROM pg_stat_statements")
                .fetch_one(&pool)
                .await
                .is_ok();
        PgStats {
            pool,
            statements: readable,
        }
    }

    /// Whether statements are counted (`pg_stat_statements`), not only transactions.
    pub fn counts_statements(&self) -> bool {
        self.statements
    }

    /// The counters now.
    pub async fn read(&self) -> anyhow::Result<Counters> {
        let transactions: i64 = sqlx::query(
            "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database \
             WHERE datname = current_database()",
        )
        .fetch_one(&self.pool)
        .await?
        .try_get(0)?;
        let statements = if self.statements {
            let rows = sqlx::query(
                "SELECT queryid, calls, total_exec_time, query FROM pg_stat_statements \
                 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                   AND queryid IS NOT NULL",
            )
            .fetch_all(&self.pool)
            .await?;
            let mut by_id: HashMap<i64, (i64, f64, String)> = HashMap::new();
            for row in rows {
                let id: i64 = row.try_get(0)?;
                let calls: i64 = row.try_get(1)?;
                let ms: f64 = row.try_get(2)?;
                let query: String = row.try_get(3)?;
                let entry = by_id.entry(id).or_insert((0, 0.0, query));
                entry.0 += calls;
                entry.1 += ms;
            }
            Some(by_id)
        } else {
            None
        };
        Ok(Counters {
            at: Instant::now(),
            transactions,
            statements,
        })
    }
}

/// What happened between `before` and `after`, with the `top` statements.
pub fn window(before: &Counters, after: &Counters, top: usize) -> DbWindow {
    let seconds = after.at.duration_since(before.at).as_secs_f64().max(1e-9);
    let transactions = after.transactions.saturating_sub(before.transactions);
    let mut out = DbWindow {
        transactions_per_s: transactions as f64 / seconds,
        ..DbWindow::default()
    };
    let (Some(old), Some(new)) = (&before.statements, &after.statements) else {
        return out;
    };
    let mut rows = Vec::new();
    let (mut calls, mut ms) = (0_i64, 0.0_f64);
    for (id, (new_calls, new_ms, query)) in new {
        let (old_calls, old_ms) = old.get(id).map_or((0, 0.0), |(c, m, _)| (*c, *m));
        let d_calls = new_calls.saturating_sub(old_calls);
        let d_ms = (new_ms - old_ms).max(0.0);
        if d_calls <= 0 {
            continue;
        }
        calls += d_calls;
        ms += d_ms;
        rows.push(StatementRow {
            query: shorten(query),
            calls_per_s: d_calls as f64 / seconds,
            mean_ms: d_ms / d_calls as f64,
            ms_per_s: d_ms / seconds,
        });
    }
    rows.sort_by(|a, b| b.ms_per_s.total_cmp(&a.ms_per_s));
    rows.truncate(top);
    out.statements_per_s = Some(calls as f64 / seconds);
    out.mean_ms = Some(if calls > 0 { ms / calls as f64 } else { 0.0 });
    out.exec_ms_per_s = Some(ms / seconds);
    out.top = rows;
    out
}

/// A statement on one line, at most 90 characters.
fn shorten(query: &str) -> String {
    let one_line = query.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(90) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

//! History's statements on SQLite (tables of the `history` migration): the
//! writes the journal runs in its transaction, the reads, pruning.

use std::collections::HashMap;

use proxyhealth_core::{LatencySketch, Rollup, Transition};
use sqlx::sqlite::{SqliteConnection, SqlitePool, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite};
use time::OffsetDateTime;
use uuid::Uuid;

use super::cache::{self, RollupRow};
use super::{HourBucket, Pruned, UptimeCounts, count, merge_hours, settle, to_count};
use crate::StoreError;
use crate::columns::parse_status;
use crate::columns::sqlite::{
    bind_transition, from_nanos, nanos, transition_columns, transition_from_row,
};
use crate::error::sqlite_err as db_err;

/// Rollup rows per `INSERT` (10 values each, well under SQLite's 32,766).
const ROLLUPS_PER_STATEMENT: usize = 500;

/// Writes rollup rows whole (insert or replace this writer's row).
pub(crate) async fn write_rollups(
    conn: &mut SqliteConnection,
    writer: i64,
    rows: &[RollupRow],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(ROLLUPS_PER_STATEMENT) {
        let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO proxyhealth_rollups (proxy_id, hour, writer, checks, ok, unhealthy, \
             unreachable, unregistered, latency_max_us, sketch) ",
        );
        insert.push_values(chunk, |mut values, row| {
            let r = &row.rollup;
            values
                .push_bind(row.proxy_id.as_bytes().to_vec())
                .push_bind(row.hour)
                .push_bind(writer)
                .push_bind(to_count(r.checks))
                .push_bind(to_count(r.ok))
                .push_bind(to_count(r.unhealthy))
                .push_bind(to_count(r.unreachable))
                .push_bind(to_count(r.unregistered))
                .push_bind(r.latency_max_us.map(to_count))
                .push_bind(r.sketch.encode());
        });
        insert.push(
            " ON CONFLICT (proxy_id, hour, writer) DO UPDATE SET checks = excluded.checks, \
             ok = excluded.ok, unhealthy = excluded.unhealthy, \
             unreachable = excluded.unreachable, unregistered = excluded.unregistered, \
             latency_max_us = excluded.latency_max_us, sketch = excluded.sketch",
        );
        insert.build().execute(&mut *conn).await.map_err(db_err)?;
    }
    Ok(())
}

/// This writer's stored rows for `keys` (evicted from its cache).
pub(crate) async fn read_own_rollups(
    conn: &mut SqliteConnection,
    writer: i64,
    keys: &[(Uuid, i64)],
) -> Result<HashMap<(Uuid, i64), Rollup>, StoreError> {
    let mut found = HashMap::new();
    for (proxy_id, hour) in keys {
        let rows = sqlx::query(
            "SELECT checks, ok, unhealthy, unreachable, unregistered, latency_max_us, sketch \
             FROM proxyhealth_rollups WHERE proxy_id = ?1 AND hour = ?2 AND writer = ?3",
        )
        .bind(proxy_id.as_bytes().to_vec())
        .bind(hour)
        .bind(writer)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
        if let Some(row) = rows.first() {
            found.insert((*proxy_id, *hour), rollup_from_row(row)?);
        }
    }
    Ok(found)
}

/// Records transitions (see [`super::settle`]); returns them as recorded.
pub(crate) async fn write_transitions(
    conn: &mut SqliteConnection,
    transitions: Vec<Transition>,
) -> Result<Vec<Transition>, StoreError> {
    if transitions.is_empty() {
        return Ok(Vec::new());
    }
    let mut last = HashMap::new();
    for transition in &transitions {
        if last.contains_key(&transition.proxy_id) {
            continue;
        }
        let rows = sqlx::query(
            "SELECT to_status, at FROM proxyhealth_transitions WHERE proxy_id = ?1 \
             ORDER BY at DESC, id DESC LIMIT 1",
        )
        .bind(transition.proxy_id.hyphenated().to_string())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
        if let Some(row) = rows.first() {
            let status: String = row.try_get("to_status").map_err(db_err)?;
            let at: i64 = row.try_get("at").map_err(db_err)?;
            last.insert(
                transition.proxy_id,
                (parse_status(&status)?, from_nanos(at)?),
            );
        }
    }
    let recorded = settle(transitions, &mut last);
    for transition in &recorded {
        let insert = sqlx::query(concat!(
            "INSERT INTO proxyhealth_transitions (",
            transition_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ));
        bind_transition(insert, transition)?
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    Ok(recorded)
}

fn rollup_from_row(row: &SqliteRow) -> Result<Rollup, StoreError> {
    let sketch: Vec<u8> = row.try_get("sketch").map_err(db_err)?;
    Ok(Rollup {
        checks: count(row.try_get("checks").map_err(db_err)?),
        ok: count(row.try_get("ok").map_err(db_err)?),
        unhealthy: count(row.try_get("unhealthy").map_err(db_err)?),
        unreachable: count(row.try_get("unreachable").map_err(db_err)?),
        unregistered: count(row.try_get("unregistered").map_err(db_err)?),
        latency_max_us: row
            .try_get::<Option<i64>, _>("latency_max_us")
            .map_err(db_err)?
            .map(count),
        sketch: LatencySketch::decode(&sketch)
            .map_err(|err| StoreError::Internal(err.to_string()))?,
    })
}

/// The id of proxy `p.proxy_id`'s last transition before `?1`, for `concat!`.
macro_rules! last_of {
    () => {
        "(SELECT l.id FROM proxyhealth_transitions l WHERE l.proxy_id = p.proxy_id \
         AND l.at < ?1 ORDER BY l.at DESC, l.id DESC LIMIT 1)"
    };
}

/// History's reads (and pruning) on a SQLite file: reads through the
/// store's read-only pool, pruning through its single writer.
#[derive(Debug)]
pub(crate) struct SqliteReads {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
}

impl SqliteReads {
    pub(crate) async fn buckets(
        &self,
        proxy_id: Uuid,
        since: OffsetDateTime,
    ) -> Result<Vec<HourBucket>, StoreError> {
        let rows = sqlx::query(
            "SELECT hour, checks, ok, unhealthy, unreachable, unregistered, latency_max_us, \
             sketch FROM proxyhealth_rollups WHERE proxy_id = ?1 AND hour >= ?2 ORDER BY hour",
        )
        .bind(proxy_id.as_bytes().to_vec())
        .bind(cache::hour_of(since))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        let rows = rows
            .iter()
            .map(|row| Ok((row.try_get("hour").map_err(db_err)?, rollup_from_row(row)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        merge_hours(rows)
    }

    pub(crate) async fn transitions(
        &self,
        proxy_id: Option<Uuid>,
        since: OffsetDateTime,
    ) -> Result<Vec<Transition>, StoreError> {
        let rows = match proxy_id {
            Some(id) => sqlx::query(concat!(
                "SELECT ",
                transition_columns!(),
                " FROM proxyhealth_transitions \
                 WHERE proxy_id = ?1 AND at >= ?2 ORDER BY at, id"
            ))
            .bind(id.hyphenated().to_string())
            .bind(nanos(since))
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?,
            None => sqlx::query(concat!(
                "SELECT ",
                transition_columns!(),
                " FROM proxyhealth_transitions \
                 WHERE at >= ?1 ORDER BY at, id"
            ))
            .bind(nanos(since))
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?,
        };
        rows.iter().map(transition_from_row).collect()
    }

    pub(crate) async fn last_before(
        &self,
        proxy_id: Option<Uuid>,
        at: OffsetDateTime,
    ) -> Result<Vec<Transition>, StoreError> {
        let rows = match proxy_id {
            Some(id) => sqlx::query(concat!(
                "SELECT ",
                transition_columns!(),
                " FROM proxyhealth_transitions WHERE id = \
                 (SELECT ",
                last_of!(),
                " FROM (SELECT ?2 AS proxy_id) p)"
            ))
            .bind(nanos(at))
            .bind(id.hyphenated().to_string())
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?,
            None => sqlx::query(concat!(
                "SELECT ",
                transition_columns!(),
                " FROM proxyhealth_transitions WHERE id IN \
                 (SELECT ",
                last_of!(),
                " FROM (SELECT DISTINCT proxy_id FROM proxyhealth_transitions) p)"
            ))
            .bind(nanos(at))
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?,
        };
        rows.iter().map(transition_from_row).collect()
    }

    pub(crate) async fn uptimes(
        &self,
        since: OffsetDateTime,
        until: Option<OffsetDateTime>,
    ) -> Result<HashMap<Uuid, UptimeCounts>, StoreError> {
        let rows = sqlx::query(
            "SELECT proxy_id, SUM(ok) AS ok, SUM(checks) AS checks FROM proxyhealth_rollups \
             WHERE hour >= ?1 AND hour < ?2 GROUP BY proxy_id",
        )
        .bind(cache::hour_of(since))
        .bind(until.map_or(i64::MAX, cache::hour_of))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let id: Vec<u8> = row.try_get("proxy_id").map_err(db_err)?;
                let id = Uuid::from_slice(&id).map_err(|err| {
                    StoreError::Internal(format!("bad stored proxy id {id:?}: {err}"))
                })?;
                Ok((
                    id,
                    UptimeCounts {
                        ok: count(row.try_get("ok").map_err(db_err)?),
                        checks: count(row.try_get("checks").map_err(db_err)?),
                    },
                ))
            })
            .collect()
    }

    pub(crate) async fn prune(
        &self,
        before: OffsetDateTime,
        limit: u32,
    ) -> Result<Pruned, StoreError> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let rollups = sqlx::query(
            "DELETE FROM proxyhealth_rollups WHERE (proxy_id, hour, writer) IN \
             (SELECT proxy_id, hour, writer FROM proxyhealth_rollups WHERE hour < ?1 LIMIT ?2)",
        )
        .bind(cache::hour_of(before))
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        let transitions = sqlx::query(
            "DELETE FROM proxyhealth_transitions WHERE id IN (SELECT t.id FROM \
             proxyhealth_transitions t WHERE t.at < ?1 AND EXISTS (SELECT 1 FROM \
             proxyhealth_transitions n WHERE n.proxy_id = t.proxy_id AND n.id > t.id) \
             LIMIT ?2)",
        )
        .bind(nanos(before))
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        tx.commit().await.map_err(db_err)?;
        Ok(Pruned {
            transitions,
            rollups,
        })
    }
}

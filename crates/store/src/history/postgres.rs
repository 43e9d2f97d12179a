//! History's statements on PostgreSQL (tables of the `history` migration):
//! the writes the journal runs in its transaction (one statement per table
//! per batch, over `unnest` arrays), the reads, pruning.

use std::collections::HashMap;

use proxyhealth_core::{LatencySketch, Rollup, Transition};
use sqlx::Row;
use sqlx::postgres::{PgConnection, PgPool, PgRow};
use time::OffsetDateTime;
use uuid::Uuid;

use super::cache::{self, RollupRow};
use super::{HourBucket, Pruned, UptimeCounts, count, merge_hours, settle, to_count};
use crate::StoreError;
use crate::columns::parse_status;
use crate::columns::postgres::{TransitionArrays, transition_columns, transition_from_row};
use crate::error::pg_err as db_err;

fn hour_time(hour: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(hour)
        .map_err(|err| StoreError::Internal(format!("bad hour {hour}: {err}")))
}

/// Writes rollup rows whole (insert or replace this writer's row), in one statement.
pub(crate) async fn write_rollups(
    conn: &mut PgConnection,
    writer: i64,
    rows: &[RollupRow],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut proxies = Vec::with_capacity(rows.len());
    let mut hours = Vec::with_capacity(rows.len());
    let mut checks = Vec::with_capacity(rows.len());
    let mut oks = Vec::with_capacity(rows.len());
    let mut unhealthy = Vec::with_capacity(rows.len());
    let mut unreachable = Vec::with_capacity(rows.len());
    let mut unregistered = Vec::with_capacity(rows.len());
    let mut maxes = Vec::with_capacity(rows.len());
    let mut sketches = Vec::with_capacity(rows.len());
    for row in rows {
        let r = &row.rollup;
        proxies.push(row.proxy_id);
        hours.push(hour_time(row.hour)?);
        checks.push(to_count(r.checks));
        oks.push(to_count(r.ok));
        unhealthy.push(to_count(r.unhealthy));
        unreachable.push(to_count(r.unreachable));
        unregistered.push(to_count(r.unregistered));
        maxes.push(r.latency_max_us.map(to_count));
        sketches.push(r.sketch.encode());
    }
    sqlx::query(
        "INSERT INTO proxyhealth_rollups (proxy_id, hour, writer, checks, ok, unhealthy, \
         unreachable, unregistered, latency_max_us, sketch) \
         SELECT p, h, $1, c, o, uh, ur, ug, m, s FROM unnest($2::uuid[], \
           $3::timestamptz[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], \
           $8::bigint[], $9::bigint[], $10::bytea[]) AS r(p, h, c, o, uh, ur, ug, m, s) \
         ON CONFLICT (proxy_id, hour, writer) DO UPDATE SET checks = excluded.checks, \
           ok = excluded.ok, unhealthy = excluded.unhealthy, \
           unreachable = excluded.unreachable, unregistered = excluded.unregistered, \
           latency_max_us = excluded.latency_max_us, sketch = excluded.sketch",
    )
    .bind(writer)
    .bind(&proxies)
    .bind(&hours)
    .bind(&checks)
    .bind(&oks)
    .bind(&unhealthy)
    .bind(&unreachable)
    .bind(&unregistered)
    .bind(&maxes)
    .bind(&sketches)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// This writer's stored rows for `keys` (evicted from its cache).
pub(crate) async fn read_own_rollups(
    conn: &mut PgConnection,
    writer: i64,
    keys: &[(Uuid, i64)],
) -> Result<HashMap<(Uuid, i64), Rollup>, StoreError> {
    let proxies: Vec<Uuid> = keys.iter().map(|key| key.0).collect();
    let hours = keys
        .iter()
        .map(|key| hour_time(key.1))
        .collect::<Result<Vec<_>, _>>()?;
    let rows = sqlx::query(
        "SELECT r.proxy_id, r.hour, checks, ok, unhealthy, unreachable, unregistered, \
         latency_max_us, sketch FROM proxyhealth_rollups r \
         JOIN unnest($2::uuid[], $3::timestamptz[]) AS k(p, h) ON r.proxy_id = k.p \
           AND r.hour = k.h WHERE r.writer = $1",
    )
    .bind(writer)
    .bind(&proxies)
    .bind(&hours)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut found = HashMap::new();
    for row in &rows {
        let proxy_id: Uuid = row.try_get("proxy_id").map_err(db_err)?;
        let hour: OffsetDateTime = row.try_get("hour").map_err(db_err)?;
        found.insert((proxy_id, hour.unix_timestamp()), rollup_from_row(row)?);
    }
    Ok(found)
}

/// Records transitions (see [`super::settle`]); returns them as recorded.
/// Two statements: each proxy's last recorded transition, then one insert.
pub(crate) async fn write_transitions(
    conn: &mut PgConnection,
    transitions: Vec<Transition>,
) -> Result<Vec<Transition>, StoreError> {
    if transitions.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids: Vec<Uuid> = transitions.iter().map(|t| t.proxy_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let rows = sqlx::query(
        "SELECT p.id AS proxy_id, l.to_status, l.at FROM unnest($1::uuid[]) AS p(id) \
         CROSS JOIN LATERAL (SELECT to_status, at FROM proxyhealth_transitions t \
           WHERE t.proxy_id = p.id ORDER BY at DESC, id DESC LIMIT 1) l",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut last = HashMap::with_capacity(rows.len());
    for row in &rows {
        let id: Uuid = row.try_get("proxy_id").map_err(db_err)?;
        let status: String = row.try_get("to_status").map_err(db_err)?;
        let at: OffsetDateTime = row.try_get("at").map_err(db_err)?;
        last.insert(id, (parse_status(&status)?, at));
    }
    let recorded = settle(transitions, &mut last);
    if recorded.is_empty() {
        return Ok(recorded);
    }
    let mut arrays = TransitionArrays::default();
    for t in &recorded {
        arrays.push(t)?;
    }
    let insert = sqlx::query(
        "INSERT INTO proxyhealth_transitions (proxy_id, proxy_name, proxy_url, at, \
         from_status, to_status, report, replica_id, previous_ms) \
         SELECT p, n, u, a, f, t, r::jsonb, rep, prev FROM unnest($1::uuid[], $2::text[], \
           $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::uuid[], \
           $9::bigint[]) WITH ORDINALITY AS x(p, n, u, a, f, t, r, rep, prev, ord) \
         ORDER BY ord",
    );
    arrays
        .bind(insert)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(recorded)
}

fn rollup_from_row(row: &PgRow) -> Result<Rollup, StoreError> {
    let sketch: Vec<u8> = row.try_get("sketch").map_err(db_err)?;
    Ok(Rollup {
        checks: count(row.try_get::<i32, _>("checks").map_err(db_err)?.into()),
        ok: count(row.try_get::<i32, _>("ok").map_err(db_err)?.into()),
        unhealthy: count(row.try_get::<i32, _>("unhealthy").map_err(db_err)?.into()),
        unreachable: count(row.try_get::<i32, _>("unreachable").map_err(db_err)?.into()),
        unregistered: count(
            row.try_get::<i32, _>("unregistered")
                .map_err(db_err)?
                .into(),
        ),
        latency_max_us: row
            .try_get::<Option<i64>, _>("latency_max_us")
            .map_err(db_err)?
            .map(count),
        sketch: LatencySketch::decode(&sketch)
            .map_err(|err| StoreError::Internal(err.to_string()))?,
    })
}

/// History's reads (and pruning) on a PostgreSQL database, whoever wrote it
/// (a store sweeping alone, or replicas through their coordination).
#[derive(Debug)]
pub(crate) struct PgReads {
    pub(crate) pool: PgPool,
}

impl PgReads {
    pub(crate) async fn buckets(
        &self,
        proxy_id: Uuid,
        since: OffsetDateTime,
    ) -> Result<Vec<HourBucket>, StoreError> {
        let rows = sqlx::query(
            "SELECT hour, checks, ok, unhealthy, unreachable, unregistered, latency_max_us, \
             sketch FROM proxyhealth_rollups WHERE proxy_id = $1 AND hour >= $2 ORDER BY hour",
        )
        .bind(proxy_id)
        .bind(hour_time(cache::hour_of(since))?)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let rows = rows
            .iter()
            .map(|row| {
                let hour: OffsetDateTime = row.try_get("hour").map_err(db_err)?;
                Ok((hour.unix_timestamp(), rollup_from_row(row)?))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        merge_hours(rows)
    }

    pub(crate) async fn transitions(
        &self,
        proxy_id: Option<Uuid>,
        since: OffsetDateTime,
    ) -> Result<Vec<Transition>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            transition_columns!(),
            " FROM proxyhealth_transitions \
             WHERE ($1::uuid IS NULL OR proxy_id = $1) AND at >= $2 ORDER BY at, id"
        ))
        .bind(proxy_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(transition_from_row).collect()
    }

    pub(crate) async fn last_before(
        &self,
        proxy_id: Option<Uuid>,
        at: OffsetDateTime,
    ) -> Result<Vec<Transition>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT DISTINCT ON (proxy_id) ",
            transition_columns!(),
            " FROM proxyhealth_transitions \
             WHERE ($1::uuid IS NULL OR proxy_id = $1) AND at < $2 \
             ORDER BY proxy_id, at DESC, id DESC"
        ))
        .bind(proxy_id)
        .bind(at)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(transition_from_row).collect()
    }

    pub(crate) async fn uptimes(
        &self,
        since: OffsetDateTime,
        until: Option<OffsetDateTime>,
    ) -> Result<HashMap<Uuid, UptimeCounts>, StoreError> {
        let rows = sqlx::query(
            "SELECT proxy_id, SUM(ok)::bigint AS ok, SUM(checks)::bigint AS checks \
             FROM proxyhealth_rollups WHERE hour >= $1 AND ($2::timestamptz IS NULL OR hour < $2) \
             GROUP BY proxy_id",
        )
        .bind(hour_time(cache::hour_of(since))?)
        .bind(
            until
                .map(|until| hour_time(cache::hour_of(until)))
                .transpose()?,
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("proxy_id").map_err(db_err)?,
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
        let rollups = sqlx::query(
            "DELETE FROM proxyhealth_rollups WHERE ctid = ANY(ARRAY(SELECT ctid FROM \
             proxyhealth_rollups WHERE hour < $1 LIMIT $2))",
        )
        .bind(hour_time(cache::hour_of(before))?)
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await
        .map_err(db_err)?
        .rows_affected();
        let transitions = sqlx::query(
            "DELETE FROM proxyhealth_transitions WHERE id = ANY(ARRAY(SELECT t.id FROM \
             proxyhealth_transitions t WHERE t.at < $1 AND EXISTS (SELECT 1 FROM \
             proxyhealth_transitions n WHERE n.proxy_id = t.proxy_id AND n.id > t.id) \
             LIMIT $2))",
        )
        .bind(before)
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(Pruned {
            transitions,
            rollups,
        })
    }
}

//! A transition's columns on PostgreSQL, written and read the same way in
//! the history's table and the outbox's: one row at a time, or a batch as
//! one array per column for an `INSERT … SELECT … FROM unnest(…)`.

use proxyhealth_core::Transition;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{from_ms, parse_status, report_from_json, report_json, to_ms};
use crate::StoreError;
use crate::error::pg_err as db_err;

/// The columns of a transition as a read selects them (the report as text),
/// for `concat!`: the history's and the outbox's tables both have them.
macro_rules! transition_columns {
    () => {
        "proxy_id, proxy_name, proxy_url, at, from_status, to_status, report::text AS report, \
         replica_id, previous_ms"
    };
}
pub(crate) use transition_columns;

/// Binds the values of `t` to the next nine parameters: `proxy_id`,
/// `proxy_name`, `proxy_url`, `at`, `from_status`, `to_status`, `report`
/// (JSON text, to cast to `jsonb`), `replica_id`, `previous_ms`.
pub(crate) fn bind_transition<'q>(
    query: Query<'q, Postgres, PgArguments>,
    t: &Transition,
) -> Result<Query<'q, Postgres, PgArguments>, StoreError> {
    Ok(query
        .bind(t.proxy_id)
        .bind(t.proxy_name.as_str())
        .bind(t.proxy_url.as_str())
        .bind(t.at)
        .bind(t.from.map(|s| s.as_str()))
        .bind(t.to.as_str())
        .bind(report_json(&t.report)?)
        .bind(t.replica)
        .bind(t.previous_lasted.map(to_ms)))
}

/// A batch of transitions as one array per column, in the order
/// [`bind_transition`] binds one: bound by [`TransitionArrays::bind`] as
/// `uuid[], text[], text[], timestamptz[], text[], text[], text[], uuid[],
/// bigint[]` (the reports as JSON text, to cast to `jsonb`).
#[derive(Debug, Default)]
pub(crate) struct TransitionArrays {
    proxies: Vec<Uuid>,
    names: Vec<String>,
    urls: Vec<String>,
    ats: Vec<OffsetDateTime>,
    froms: Vec<Option<String>>,
    tos: Vec<String>,
    reports: Vec<String>,
    replicas: Vec<Option<Uuid>>,
    previous: Vec<Option<i64>>,
}

impl TransitionArrays {
    /// Adds `t` as the next element of every array.
    pub(crate) fn push(&mut self, t: &Transition) -> Result<(), StoreError> {
        self.proxies.push(t.proxy_id);
        self.names.push(t.proxy_name.clone());
        self.urls.push(t.proxy_url.clone());
        self.ats.push(t.at);
        self.froms.push(t.from.map(|s| s.as_str().to_owned()));
        self.tos.push(t.to.as_str().to_owned());
        self.reports.push(report_json(&t.report)?);
        self.replicas.push(t.replica);
        self.previous.push(t.previous_lasted.map(to_ms));
        Ok(())
    }

    /// Binds the nine arrays to the next nine parameters.
    pub(crate) fn bind<'q>(
        &self,
        query: Query<'q, Postgres, PgArguments>,
    ) -> Query<'q, Postgres, PgArguments> {
        query
            .bind(&self.proxies)
            .bind(&self.names)
            .bind(&self.urls)
            .bind(&self.ats)
            .bind(&self.froms)
            .bind(&self.tos)
            .bind(&self.reports)
            .bind(&self.replicas)
            .bind(&self.previous)
    }
}

/// The transition a row holds in the [`transition_columns!`].
pub(crate) fn transition_from_row(row: &PgRow) -> Result<Transition, StoreError> {
    let from: Option<String> = row.try_get("from_status").map_err(db_err)?;
    let to: String = row.try_get("to_status").map_err(db_err)?;
    let report: String = row.try_get("report").map_err(db_err)?;
    Ok(Transition {
        proxy_id: row.try_get("proxy_id").map_err(db_err)?,
        proxy_name: row.try_get("proxy_name").map_err(db_err)?,
        proxy_url: row.try_get("proxy_url").map_err(db_err)?,
        at: row.try_get("at").map_err(db_err)?,
        from: from.as_deref().map(parse_status).transpose()?,
        to: parse_status(&to)?,
        report: report_from_json(&report)?,
        replica: row.try_get("replica_id").map_err(db_err)?,
        previous_lasted: row
            .try_get::<Option<i64>, _>("previous_ms")
            .map_err(db_err)?
            .map(from_ms),
    })
}

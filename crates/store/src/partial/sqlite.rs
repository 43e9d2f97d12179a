//! Partial outages' statements on SQLite.

use std::collections::HashMap;

use proxyhealth_core::PartialChange;
use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use time::OffsetDateTime;

use super::{Open, PartialOutage, names_from_json, names_json, plan};
use crate::StoreError;
use crate::columns::sqlite::{from_nanos, nanos, uuid_of};
use crate::error::sqlite_err as db_err;
use crate::outbox::PolicyHandle;

/// Applies `changes` in one transaction on the writer, with their outbox
/// rows when `notify`.
pub(crate) async fn record(
    writer: &SqlitePool,
    outbox: &PolicyHandle,
    changes: Vec<PartialChange>,
    notify: bool,
) -> Result<(), StoreError> {
    let mut tx = writer.begin().await.map_err(db_err)?;
    let rows = sqlx::query(
        "SELECT id, proxy_id, started_at, vantages FROM proxyhealth_partial_outages \
         WHERE ended_at IS NULL",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    let mut open = HashMap::with_capacity(rows.len());
    for row in &rows {
        open.insert(
            uuid_of(row.try_get::<&str, _>("proxy_id").map_err(db_err)?)?,
            Open {
                id: row.try_get("id").map_err(db_err)?,
                started_at: from_nanos(row.try_get("started_at").map_err(db_err)?)?,
                vantages: names_from_json(row.try_get::<&str, _>("vantages").map_err(db_err)?)?,
            },
        );
    }
    let plan = plan(changes, &mut open, notify);
    for opening in &plan.opens {
        let change = &opening.change;
        sqlx::query(
            "INSERT INTO proxyhealth_partial_outages \
             (proxy_id, proxy_name, started_at, ended_at, vantages, first_warning) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(change.proxy_id.hyphenated().to_string())
        .bind(&change.proxy_name)
        .bind(nanos(change.at))
        .bind(opening.ended_at.map(nanos))
        .bind(names_json(&change.vantages)?)
        .bind(&change.warning)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
    for (id, vantages) in &plan.grown {
        sqlx::query("UPDATE proxyhealth_partial_outages SET vantages = ?1 WHERE id = ?2")
            .bind(names_json(vantages)?)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    for (id, at) in &plan.ends {
        sqlx::query("UPDATE proxyhealth_partial_outages SET ended_at = ?1 WHERE id = ?2")
            .bind(nanos(*at))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    crate::outbox::sqlite::write_in(&mut tx, outbox, &plan.notices).await?;
    tx.commit().await.map_err(db_err)?;
    Ok(())
}

/// The outages open at or after `since`, oldest start first.
pub(crate) async fn since(
    reader: &SqlitePool,
    since: OffsetDateTime,
) -> Result<Vec<PartialOutage>, StoreError> {
    let rows = sqlx::query(
        "SELECT proxy_id, proxy_name, started_at, ended_at, vantages, first_warning \
         FROM proxyhealth_partial_outages WHERE ended_at IS NULL OR ended_at >= ?1 \
         ORDER BY started_at, id",
    )
    .bind(nanos(since))
    .fetch_all(reader)
    .await
    .map_err(db_err)?;
    rows.iter().map(outage_of).collect()
}

fn outage_of(row: &SqliteRow) -> Result<PartialOutage, StoreError> {
    Ok(PartialOutage {
        proxy_id: uuid_of(row.try_get::<&str, _>("proxy_id").map_err(db_err)?)?,
        proxy_name: row.try_get("proxy_name").map_err(db_err)?,
        started_at: from_nanos(row.try_get("started_at").map_err(db_err)?)?,
        ended_at: row
            .try_get::<Option<i64>, _>("ended_at")
            .map_err(db_err)?
            .map(from_nanos)
            .transpose()?,
        vantages: names_from_json(row.try_get::<&str, _>("vantages").map_err(db_err)?)?,
        first_warning: row.try_get("first_warning").map_err(db_err)?,
    })
}

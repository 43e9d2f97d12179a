//! The outbox's statements on SQLite (the `notifications` migration): the
//! rows the journal writes in its transaction, the worker's claim and
//! outcomes, the API's read, pruning. One process per file, so the clock is
//! this process's.

use proxyhealth_core::Transition;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqlitePool, SqliteRow};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    AttemptFailure, Cancelled, DeliveryState, Notification, Outbox, OutboxPolicy, PolicyHandle,
    after_damping, attempts, plus, rows_of, status_code,
};
use crate::StoreError;
use crate::columns::sqlite::{
    bind_transition, from_nanos, nanos, transition_columns, transition_from_row,
};
use crate::columns::{from_ms, parse_status};
use crate::error::sqlite_err as db_err;

/// The SQLite store's outbox, over the store's pools.
#[derive(Debug)]
pub(crate) struct SqliteOutbox {
    /// The store's one writer connection.
    pub writer: SqlitePool,
    /// Its readers.
    pub reader: SqlitePool,
    /// The policy its journal writes rows by.
    pub policy: PolicyHandle,
}

/// Writes the outbox rows of `recorded` inside the journal's transaction.
pub(crate) async fn write_in(
    conn: &mut SqliteConnection,
    policy: &PolicyHandle,
    recorded: &[Transition],
) -> Result<(), StoreError> {
    let policy = policy.get();
    if policy.targets.is_empty() || recorded.is_empty() {
        return Ok(());
    }
    let now = OffsetDateTime::now_utc();
    let not_before = plus(now, policy.damping);
    for (target, transition) in rows_of(&policy, recorded) {
        let row = if policy.damping.is_zero() {
            Some(transition.clone())
        } else {
            let cancelled = cancel_damped(conn, target, transition.proxy_id, now).await?;
            after_damping(transition, cancelled)
        };
        if let Some(row) = row {
            insert(conn, target, &row, now, not_before).await?;
        }
    }
    Ok(())
}

/// Cancels the proxy's rows for `target` still inside their damping time;
/// returns the earliest one's `from` and `previous_lasted`.
async fn cancel_damped(
    conn: &mut SqliteConnection,
    target: &str,
    proxy_id: Uuid,
    now: OffsetDateTime,
) -> Result<Option<Cancelled>, StoreError> {
    let rows = sqlx::query(
        "UPDATE proxyhealth_notifications SET state = 'cancelled', finished_at = ?1 \
         WHERE proxy_id = ?2 AND target = ?3 AND state = 'pending' AND not_before > ?1 \
         RETURNING id, from_status, previous_ms",
    )
    .bind(nanos(now))
    .bind(proxy_id.hyphenated().to_string())
    .bind(target)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut earliest: Option<(i64, Cancelled)> = None;
    for row in &rows {
        let id: i64 = row.try_get("id").map_err(db_err)?;
        let from: Option<String> = row.try_get("from_status").map_err(db_err)?;
        let previous: Option<i64> = row.try_get("previous_ms").map_err(db_err)?;
        if earliest.as_ref().is_none_or(|(first, _)| id < *first) {
            earliest = Some((
                id,
                Cancelled {
                    from: from.as_deref().map(parse_status).transpose()?,
                    previous_lasted: previous.map(from_ms),
                },
            ));
        }
    }
    Ok(earliest.map(|(_, cancelled)| cancelled))
}

async fn insert(
    conn: &mut SqliteConnection,
    target: &str,
    t: &Transition,
    now: OffsetDateTime,
    not_before: OffsetDateTime,
) -> Result<(), StoreError> {
    let insert = sqlx::query(concat!(
        "INSERT INTO proxyhealth_notifications (target, ",
        transition_columns!(),
        ", state, created_at, not_before, next_attempt_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending', ?11, ?12, ?12)"
    ))
    .bind(target);
    bind_transition(insert, t)?
        .bind(nanos(now))
        .bind(nanos(not_before))
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

fn notification_from_row(row: &SqliteRow) -> Result<Notification, StoreError> {
    let state: String = row.try_get("state").map_err(db_err)?;
    let finished: Option<i64> = row.try_get("finished_at").map_err(db_err)?;
    Ok(Notification {
        id: row.try_get("id").map_err(db_err)?,
        target: row.try_get("target").map_err(db_err)?,
        transition: transition_from_row(row)?,
        state: DeliveryState::parse(&state)?,
        attempts: attempts(row.try_get("attempts").map_err(db_err)?),
        created_at: from_nanos(row.try_get("created_at").map_err(db_err)?)?,
        not_before: from_nanos(row.try_get("not_before").map_err(db_err)?)?,
        next_attempt_at: from_nanos(row.try_get("next_attempt_at").map_err(db_err)?)?,
        finished_at: finished.map(from_nanos).transpose()?,
        last_error: row.try_get("last_error").map_err(db_err)?,
        last_status: status_code(row.try_get("last_status").map_err(db_err)?),
    })
}

#[async_trait::async_trait]
impl Outbox for SqliteOutbox {
    fn policy(&self) -> OutboxPolicy {
        self.policy.get()
    }

    async fn claim(
        &self,
        owner: Uuid,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError> {
        let now = OffsetDateTime::now_utc();
        let rows = sqlx::query(
            "UPDATE proxyhealth_notifications SET lease_owner = ?1, lease_until = ?2 \
             WHERE id IN (SELECT n.id FROM proxyhealth_notifications n \
               WHERE n.state = 'pending' AND n.next_attempt_at <= ?3 \
                 AND (n.lease_until IS NULL OR n.lease_until < ?3) \
                 AND NOT EXISTS (SELECT 1 FROM proxyhealth_notifications e \
                   WHERE e.proxy_id = n.proxy_id AND e.target = n.target \
                     AND e.state = 'pending' AND e.id < n.id) \
               ORDER BY n.next_attempt_at, n.id LIMIT ?4) \
             RETURNING *",
        )
        .bind(owner.hyphenated().to_string())
        .bind(nanos(plus(now, lease)))
        .bind(nanos(now))
        .bind(i64::from(limit))
        .fetch_all(&self.writer)
        .await
        .map_err(db_err)?;
        let mut claimed = rows
            .iter()
            .map(notification_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_unstable_by_key(|n| n.id);
        Ok(claimed)
    }

    async fn delivered(
        &self,
        id: i64,
        owner: Uuid,
        status: Option<u16>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE proxyhealth_notifications SET state = 'delivered', \
             attempts = attempts + 1, finished_at = ?3, last_status = ?4, last_error = NULL, \
             lease_owner = NULL, lease_until = NULL \
             WHERE id = ?1 AND lease_owner = ?2 AND state = 'pending'",
        )
        .bind(id)
        .bind(owner.hyphenated().to_string())
        .bind(nanos(OffsetDateTime::now_utc()))
        .bind(status.map(i64::from))
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn attempt_failed(
        &self,
        id: i64,
        owner: Uuid,
        failure: &AttemptFailure,
    ) -> Result<Option<DeliveryState>, StoreError> {
        let now = OffsetDateTime::now_utc();
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let held = sqlx::query(
            "SELECT not_before FROM proxyhealth_notifications \
             WHERE id = ?1 AND lease_owner = ?2 AND state = 'pending'",
        )
        .bind(id)
        .bind(owner.hyphenated().to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(held) = held else {
            return Ok(None);
        };
        let not_before = from_nanos(held.try_get("not_before").map_err(db_err)?)?;
        let after = failure.outcome(not_before, now);
        sqlx::query(
            "UPDATE proxyhealth_notifications SET attempts = attempts + 1, \
             last_error = ?3, last_status = ?4, lease_owner = NULL, lease_until = NULL, \
             state = ?5, finished_at = ?6, next_attempt_at = ?7 \
             WHERE id = ?1 AND lease_owner = ?2 AND state = 'pending'",
        )
        .bind(id)
        .bind(owner.hyphenated().to_string())
        .bind(&failure.error)
        .bind(failure.status.map(i64::from))
        .bind(after.state.as_str())
        .bind(after.finished_at.map(nanos))
        .bind(nanos(after.next_attempt_at))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(after.state))
    }

    async fn recent(&self, limit: u32) -> Result<Vec<Notification>, StoreError> {
        let rows = sqlx::query("SELECT * FROM proxyhealth_notifications ORDER BY id DESC LIMIT ?1")
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        rows.iter().map(notification_from_row).collect()
    }

    async fn prune(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM proxyhealth_notifications WHERE state <> 'pending' AND finished_at < ?1",
        )
        .bind(nanos(before))
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }
}

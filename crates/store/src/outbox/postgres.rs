//! The outbox's statements on PostgreSQL (the `notifications` migration): the
//! rows the journal writes in its transaction (a replica's fenced result
//! write, or a store's own), the workers' claim (`FOR UPDATE SKIP LOCKED`,
//! leases on the database clock), their outcomes, the API's read, pruning.

use proxyhealth_core::Transition;
use sqlx::Row;
use sqlx::postgres::{PgConnection, PgPool, PgRow};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    AttemptFailure, Cancelled, DeliveryState, Notification, Outbox, OutboxPolicy, PolicyHandle,
    after_damping, attempts, rows_of, status_code,
};
use crate::StoreError;
use crate::columns::postgres::{
    TransitionArrays, bind_transition, transition_columns, transition_from_row,
};
use crate::columns::{from_ms, parse_status};
use crate::error::pg_err as db_err;

/// A duration as whole milliseconds for `interval` arithmetic.
fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
}

/// The PostgreSQL store's outbox.
#[derive(Debug)]
pub(crate) struct PgOutbox {
    /// The store's pool.
    pub pool: PgPool,
    /// The policy its journals write rows by.
    pub policy: PolicyHandle,
}

/// Writes the outbox rows of `recorded` inside the journal's transaction.
pub(crate) async fn write_in(
    conn: &mut PgConnection,
    policy: &PolicyHandle,
    recorded: &[Transition],
) -> Result<(), StoreError> {
    let policy = policy.get();
    if policy.targets.is_empty() || recorded.is_empty() {
        return Ok(());
    }
    let damping = ms(policy.damping);
    if policy.damping.is_zero() {
        // nothing to cancel: one statement for the batch (a replica's fenced
        // write holds the view row's lock until it commits)
        return insert_all(conn, rows_of(&policy, recorded)).await;
    }
    for (target, transition) in rows_of(&policy, recorded) {
        let cancelled = cancel_damped(conn, target, transition.proxy_id).await?;
        let Some(t) = after_damping(transition, cancelled) else {
            continue;
        };
        let insert = sqlx::query(
            "INSERT INTO proxyhealth_notifications (target, proxy_id, proxy_name, proxy_url, \
             at, from_status, to_status, report, replica_id, previous_ms, state, not_before, \
             next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, 'pending', \
               now() + $11 * interval '1 millisecond', now() + $11 * interval '1 millisecond')",
        )
        .bind(target);
        bind_transition(insert, &t)?
            .bind(damping)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

/// Inserts rows due at once, in one statement.
async fn insert_all<'a>(
    conn: &mut PgConnection,
    rows: impl Iterator<Item = (&'a str, &'a Transition)>,
) -> Result<(), StoreError> {
    let mut targets = Vec::new();
    let mut transitions = TransitionArrays::default();
    for (target, t) in rows {
        targets.push(target.to_owned());
        transitions.push(t)?;
    }
    if targets.is_empty() {
        return Ok(());
    }
    let insert = sqlx::query(
        "INSERT INTO proxyhealth_notifications (target, proxy_id, proxy_name, proxy_url, at, \
         from_status, to_status, report, replica_id, previous_ms, state, not_before, \
         next_attempt_at) \
         SELECT tg, p, n, u, a, f, t, r::jsonb, rep, prev, 'pending', now(), now() \
         FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[], \
           $6::text[], $7::text[], $8::text[], $9::uuid[], $10::bigint[]) \
           WITH ORDINALITY AS x(tg, p, n, u, a, f, t, r, rep, prev, ord) \
         ORDER BY ord",
    )
    .bind(&targets);
    transitions
        .bind(insert)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Cancels the proxy's rows for `target` still inside their damping time;
/// returns the earliest one's `from` and `previous_lasted`.
async fn cancel_damped(
    conn: &mut PgConnection,
    target: &str,
    proxy_id: Uuid,
) -> Result<Option<Cancelled>, StoreError> {
    let rows = sqlx::query(
        "UPDATE proxyhealth_notifications SET state = 'cancelled', finished_at = now() \
         WHERE proxy_id = $1 AND target = $2 AND state = 'pending' AND not_before > now() \
         RETURNING id, from_status, previous_ms",
    )
    .bind(proxy_id)
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

/// The columns every read returns (the report as text).
macro_rules! columns {
    () => {
        concat!(
            "id, target, ",
            transition_columns!(),
            ", state, attempts, created_at, not_before, next_attempt_at, finished_at, \
             last_error, last_status"
        )
    };
}

fn notification_from_row(row: &PgRow) -> Result<Notification, StoreError> {
    let state: String = row.try_get("state").map_err(db_err)?;
    Ok(Notification {
        id: row.try_get("id").map_err(db_err)?,
        target: row.try_get("target").map_err(db_err)?,
        transition: transition_from_row(row)?,
        state: DeliveryState::parse(&state)?,
        attempts: attempts(i64::from(
            row.try_get::<i32, _>("attempts").map_err(db_err)?,
        )),
        created_at: row.try_get("created_at").map_err(db_err)?,
        not_before: row.try_get("not_before").map_err(db_err)?,
        next_attempt_at: row.try_get("next_attempt_at").map_err(db_err)?,
        finished_at: row.try_get("finished_at").map_err(db_err)?,
        last_error: row.try_get("last_error").map_err(db_err)?,
        last_status: status_code(
            row.try_get::<Option<i32>, _>("last_status")
                .map_err(db_err)?
                .map(i64::from),
        ),
    })
}

#[async_trait::async_trait]
impl Outbox for PgOutbox {
    fn policy(&self) -> OutboxPolicy {
        self.policy.get()
    }

    async fn claim(
        &self,
        owner: Uuid,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError> {
        // SKIP LOCKED: a row another replica is claiming right now is left to
        // it; the lease (database clock) keeps it from being claimed again
        // while that replica sends it.
        let rows = sqlx::query(concat!(
            "UPDATE proxyhealth_notifications SET lease_owner = $1, \
             lease_until = now() + $2 * interval '1 millisecond' \
             WHERE id IN (SELECT n.id FROM proxyhealth_notifications n \
               WHERE n.state = 'pending' AND n.next_attempt_at <= now() \
                 AND (n.lease_until IS NULL OR n.lease_until < now()) \
                 AND NOT EXISTS (SELECT 1 FROM proxyhealth_notifications e \
                   WHERE e.proxy_id = n.proxy_id AND e.target = n.target \
                     AND e.state = 'pending' AND e.id < n.id) \
               ORDER BY n.next_attempt_at, n.id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             AND state = 'pending' RETURNING ",
            columns!()
        ))
        .bind(owner)
        .bind(ms(lease))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
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
             attempts = attempts + 1, finished_at = now(), last_status = $3, \
             last_error = NULL, lease_owner = NULL, lease_until = NULL \
             WHERE id = $1 AND lease_owner = $2 AND state = 'pending'",
        )
        .bind(id)
        .bind(owner)
        .bind(status.map(i32::from))
        .execute(&self.pool)
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
        // one transaction: `now()` is the database's clock and the same in
        // both statements, as the lease's
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let held = sqlx::query(
            "SELECT not_before, now() AS now FROM proxyhealth_notifications \
             WHERE id = $1 AND lease_owner = $2 AND state = 'pending' FOR UPDATE",
        )
        .bind(id)
        .bind(owner)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(held) = held else {
            return Ok(None);
        };
        let after = failure.outcome(
            held.try_get("not_before").map_err(db_err)?,
            held.try_get("now").map_err(db_err)?,
        );
        sqlx::query(
            "UPDATE proxyhealth_notifications SET attempts = attempts + 1, \
             last_error = $3, last_status = $4, lease_owner = NULL, lease_until = NULL, \
             state = $5, finished_at = $6, next_attempt_at = $7 \
             WHERE id = $1 AND lease_owner = $2 AND state = 'pending'",
        )
        .bind(id)
        .bind(owner)
        .bind(&failure.error)
        .bind(failure.status.map(i32::from))
        .bind(after.state.as_str())
        .bind(after.finished_at)
        .bind(after.next_attempt_at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(after.state))
    }

    async fn recent(&self, limit: u32) -> Result<Vec<Notification>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM proxyhealth_notifications ORDER BY id DESC LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(notification_from_row).collect()
    }

    async fn prune(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM proxyhealth_notifications WHERE state <> 'pending' AND finished_at < $1",
        )
        .bind(before)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }
}

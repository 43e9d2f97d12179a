//! [`Claims`] on PostgreSQL: leases taken with `FOR UPDATE SKIP LOCKED`,
//! fenced result writes that bump the view's generation and record their
//! history (and its outbox rows) in the same transaction, maintenance
//! windows left out, deferrals for a
//! second opinion, and re-check requests.

use std::collections::HashMap;
use std::time::Duration;

use proxyhealth_core::{Status, Transition};
use sqlx::{Connection, Row};
use uuid::Uuid;

use super::{PgCoordination, millis, status_of};
use crate::StoreError;
use crate::coordination::{Claim, Claims, ReplicaId, ResultWrite, WriteOutcome};
use crate::error::pg_err as db_err;
use crate::journal;

#[async_trait::async_trait]
impl Claims for PgCoordination {
    async fn claim_due(
        &self,
        owner: ReplicaId,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Claim>, StoreError> {
        self.ensure_now_and_then().await?;
        let rows = sqlx::query(
            "WITH due AS ( \
               SELECT c.proxy_id, c.vantage, c.lease_owner AS previous_owner \
               FROM proxyhealth_checks c \
               JOIN workspace_proxies p ON p.id = c.proxy_id AND p.deleted = false \
               WHERE c.vantage = COALESCE( \
                   (SELECT r.vantage FROM proxyhealth_replicas r WHERE r.id = $1), 'local') \
                 AND c.due_at <= now() \
                 AND (c.lease_until IS NULL OR c.lease_until < now()) \
                 AND (c.confirm_for IS DISTINCT FROM $1 OR c.confirm_until <= now()) \
               ORDER BY c.due_at \
               LIMIT $3 \
               FOR UPDATE OF c SKIP LOCKED) \
             UPDATE proxyhealth_checks c \
             SET lease_owner = $1, \
                 lease_until = now() + $2 * interval '1 millisecond', \
                 due_at = now() + $2 * interval '1 millisecond', \
                 attempt = c.attempt + 1, \
                 claimed_requests = c.requests \
             FROM due WHERE c.proxy_id = due.proxy_id AND c.vantage = due.vantage \
             RETURNING c.proxy_id, c.attempt, due.previous_owner, c.status, \
               CASE WHEN c.confirm_for IS DISTINCT FROM $1 \
                 AND c.confirm_until > now() THEN c.confirm_for END AS confirming",
        )
        .bind(owner)
        .bind(millis(lease))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let previous: Option<String> = row.try_get("status").map_err(db_err)?;
                Ok(Claim {
                    proxy_id: row.try_get("proxy_id").map_err(db_err)?,
                    owner,
                    attempt: row.try_get("attempt").map_err(db_err)?,
                    lease,
                    taken_over_from: row.try_get("previous_owner").map_err(db_err)?,
                    previous_status: previous.and_then(|word| previous_status(&word)),
                    confirming: row.try_get("confirming").map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn write_results(
        &self,
        writes: Vec<ResultWrite>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let n = i64::try_from(writes.len())
            .map_err(|_| StoreError::Internal("too many results in one write".into()))?;
        let mut owners = Vec::with_capacity(writes.len());
        let mut proxies = Vec::with_capacity(writes.len());
        let mut attempts = Vec::with_capacity(writes.len());
        let mut statuses = Vec::with_capacity(writes.len());
        let mut messages = Vec::with_capacity(writes.len());
        let mut results = Vec::with_capacity(writes.len());
        let mut next_due = Vec::with_capacity(writes.len());
        for write in &writes {
            owners.push(write.claim.owner);
            proxies.push(write.claim.proxy_id);
            attempts.push(write.claim.attempt);
            statuses.push(write.result.status.as_str());
            messages.push(write.message.clone());
            results.push(serde_json::to_string(&write.result).map_err(|err| {
                StoreError::Internal(format!("cannot serialize a result: {err}"))
            })?);
            next_due.push(millis(write.next_due_in));
        }
        let mut cache = self.journal.cache.lock().await;
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // g takes the view row's lock before any check row is locked (w needs
        // g's value before the UPDATE can join a single row), and holds it to commit.
        let rows = sqlx::query(
            "WITH g AS ( \
               UPDATE proxyhealth_view SET generation = generation + $1 WHERE id = 1 \
               RETURNING generation - $1 AS base), \
             w AS ( \
               SELECT w.*, (SELECT base FROM g) + w.ord AS generation \
               FROM unnest($2::uuid[], $3::uuid[], $4::bigint[], $5::text[], $6::text[], \
                           $7::text[], $8::bigint[]) \
                 WITH ORDINALITY AS w(owner, proxy_id, attempt, status, message, result, \
                                      next_due_ms, ord)), \
             done AS ( \
               UPDATE proxyhealth_checks c \
               SET lease_owner = NULL, lease_until = NULL, \
                   due_at = CASE WHEN c.requests > c.claimed_requests THEN now() \
                            ELSE now() + w.next_due_ms * interval '1 millisecond' END, \
                   status = w.status, result = w.result::jsonb, \
                   checked_at = now(), checked_by = w.owner, generation = w.generation, \
                   confirm_for = NULL, confirm_until = NULL \
               FROM w \
               WHERE c.proxy_id = w.proxy_id AND c.lease_owner = w.owner \
                 AND c.attempt = w.attempt \
               RETURNING c.proxy_id, c.generation, w.owner, w.status, w.message), \
             seen AS ( \
               INSERT INTO proxyhealth_observations \
                 (proxy_id, replica_id, status, message, observed_at) \
               SELECT proxy_id, owner, status, message, now() FROM done \
               ON CONFLICT (proxy_id, replica_id) DO UPDATE SET status = excluded.status, \
                 message = excluded.message, observed_at = excluded.observed_at), \
             notified AS ( \
               SELECT pg_notify('proxyhealth_results', \
                                n.generation::text || ':' || n.proxy_id::text) \
               FROM (SELECT proxy_id, generation FROM done \
                     ORDER BY generation DESC LIMIT 1) n) \
             SELECT proxy_id, generation, (SELECT count(*) FROM notified) AS notified \
             FROM done",
        )
        .bind(n)
        .bind(&owners)
        .bind(&proxies)
        .bind(&attempts)
        .bind(&statuses)
        .bind(&messages)
        .bind(&results)
        .bind(&next_due)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let mut accepted = HashMap::with_capacity(rows.len());
        for row in &rows {
            let id: Uuid = row.try_get("proxy_id").map_err(db_err)?;
            let generation: i64 = row.try_get("generation").map_err(db_err)?;
            accepted.insert(id, generation);
        }
        // History, in the same transaction: the accepted writes' checks and
        // the transitions their writers decided, with their outbox rows,
        // the maintenance windows of this transaction left out or settled.
        let batch = super::maintenance::history_in(
            &mut tx,
            writes
                .iter()
                .filter(|w| accepted.contains_key(&w.claim.proxy_id)),
        )
        .await?;
        let rollups = journal::postgres::stage(&mut tx, &self.journal, &cache, &batch).await?;
        journal::postgres::record_in(&mut tx, &self.journal, &rollups, batch.transitions).await?;
        // The batch went out as one message holding every result with its
        // history (megabytes for a thousand results), and a connection keeps
        // its write buffer at the largest message it sent: left so, every
        // pooled connection would hold the largest batch it ever wrote, and
        // the service's memory would creep up as batches and histories grow.
        tx.shrink_buffers();
        tx.commit().await.map_err(db_err)?;
        cache.apply(rollups);
        Ok(writes
            .iter()
            .map(|w| match accepted.remove(&w.claim.proxy_id) {
                Some(generation) => WriteOutcome::Accepted { generation },
                None => WriteOutcome::Rejected,
            })
            .collect())
    }

    async fn record_judged(
        &self,
        transitions: Vec<Transition>,
    ) -> Result<Vec<Transition>, StoreError> {
        if transitions.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // the view row's lock, taken first as a result write takes it: a
        // change and a result write of the same proxy are recorded one after
        // the other, each comparing with what the other recorded
        sqlx::query("SELECT generation FROM proxyhealth_view WHERE id = 1 FOR UPDATE")
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let filter = super::maintenance::filter_in(&mut tx).await?;
        let transitions: Vec<Transition> = transitions
            .into_iter()
            .filter(|t| !filter.book().covers(&t.proxy_id))
            .collect();
        let recorded =
            journal::postgres::record_in(&mut tx, &self.journal, &[], transitions).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(recorded)
    }

    async fn defer_for_confirmation(
        &self,
        claim: &Claim,
        status: Status,
        message: &str,
        within: Duration,
    ) -> Result<bool, StoreError> {
        let rows = sqlx::query(
            "WITH done AS ( \
               UPDATE proxyhealth_checks \
               SET lease_owner = NULL, lease_until = NULL, due_at = now(), \
                   confirm_for = $2, confirm_until = now() + $4 * interval '1 millisecond' \
               WHERE proxy_id = $1 AND lease_owner = $2 AND attempt = $3 \
               RETURNING proxy_id), \
             seen AS ( \
               INSERT INTO proxyhealth_observations \
                 (proxy_id, replica_id, status, message, observed_at) \
               SELECT proxy_id, $2, $5, $6, now() FROM done \
               ON CONFLICT (proxy_id, replica_id) DO UPDATE SET status = excluded.status, \
                 message = excluded.message, observed_at = excluded.observed_at) \
             SELECT proxy_id, pg_notify('proxyhealth_due', proxy_id::text) FROM done",
        )
        .bind(claim.proxy_id)
        .bind(claim.owner)
        .bind(claim.attempt)
        .bind(millis(within))
        .bind(status.as_str())
        .bind(message)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(!rows.is_empty())
    }

    async fn request_check(&self, proxy_id: Uuid) -> Result<(), StoreError> {
        let rows = sqlx::query(concat!(
            "WITH ",
            super::vantages_cte!(),
            ", up AS ( \
               INSERT INTO proxyhealth_checks (proxy_id, vantage) \
               SELECT p.id, v.vantage FROM workspace_proxies p CROSS JOIN vantages v \
               WHERE p.id = $1 AND p.deleted = false \
               ON CONFLICT (proxy_id, vantage) DO UPDATE SET \
                 requests = proxyhealth_checks.requests + 1, \
                 due_at = CASE WHEN proxyhealth_checks.lease_until >= now() \
                          THEN proxyhealth_checks.due_at \
                          ELSE LEAST(proxyhealth_checks.due_at, now()) END \
               RETURNING proxy_id) \
             SELECT proxy_id, pg_notify('proxyhealth_due', proxy_id::text) FROM up"
        ))
        .bind(proxy_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        if rows.is_empty() {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

/// The status of a check row's newest result, for a claim. A word that is no
/// status (written by a replica of a newer version, say) reads as none, with
/// a warning: probing goes on, the claim decides as for a first check.
fn previous_status(word: &str) -> Option<Status> {
    match status_of("status", word) {
        Ok(status) => Some(status),
        Err(err) => {
            tracing::warn!(error = %err, "a claimed proxy's previous status is read as none");
            None
        }
    }
}

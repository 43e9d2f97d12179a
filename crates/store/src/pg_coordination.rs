//! `PgCoordination`: [`Coordination`] on PostgreSQL, in the tables of the
//! `replicas` migration (`proxyhealth_replicas`, `proxyhealth_view`,
//! `proxyhealth_checks`, `proxyhealth_observations`).
//!
//! Every statement is one round trip and its own transaction (data-modifying
//! CTEs where several rows change together), so no transaction stays open
//! across a probe, and nothing needs a session (no session advisory lock): a
//! pooled connection works, and a killed session loses nothing but its statement.
//!
//! # Ordering of results
//! A result write first bumps the single `proxyhealth_view` row, whose lock it
//! holds until commit; writes therefore commit in generation order, and a
//! snapshot that sees generation G sees every result up to G. That is what makes
//! `results_since(G)` exact (a sequence would hand out G+1 before G commits).
//! Claims, requests and deferrals never take that row, and every statement that
//! takes it takes it before any check row, so no two statements wait on each
//! other in a cycle.

use std::time::Duration;

use parking_lot::Mutex;
use proxyhealth_core::{CheckRecord, HistoryBatch, ProxyStatus, Status, Transition};
use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};
use time::OffsetDateTime;
use tokio::time::Instant;
use uuid::Uuid;

use crate::StoreError;
use crate::coordination::{
    Claim, Coordination, Disagreement, NoticeSource, Observation, ReplicaId, ReplicaInfo,
    ReplicaRow, ResultBatch, ResultRow, ResultWrite, WriteOutcome, from_millis, millis,
};
use crate::error::pg_err as db_err;
use crate::error::{Backend, map_db_error};
use crate::journal::{self, Journal};
use crate::pg_listener::{ListenerSettings, PgNoticeListener};

/// Most check rows one `results_since` statement reads; more are read in
/// further pages (each its own snapshot, which is safe: results commit in
/// generation order, so a page never skips one).
const RESULTS_PAGE: i64 = 2000;

/// One page of [`PgCoordination::results_page`].
#[derive(Debug, Default)]
struct ResultsPage {
    view_generation: i64,
    rows: Vec<ResultRow>,
    last_generation: Option<i64>,
    full: bool,
}

/// Tunables of [`PgCoordination`]; the defaults suit the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoordinationSettings {
    /// How often, cluster-wide, `claim_due` first inserts the missing check
    /// rows of proxies created without a `request_check` (an anti-join over
    /// all proxies, so not at every claim, and by one replica per period).
    pub ensure_period: Duration,
    /// How often, cluster-wide, `register`/`heartbeat` prune old rows.
    pub prune_period: Duration,
    /// A replica row dead or stopped for this long is deleted.
    pub replica_ttl: Duration,
    /// An observation older than this is deleted.
    pub observation_ttl: Duration,
    /// The notification listener's self-ping.
    pub listener: ListenerSettings,
}

impl Default for CoordinationSettings {
    fn default() -> Self {
        CoordinationSettings {
            ensure_period: Duration::from_secs(30),
            prune_period: Duration::from_secs(60),
            replica_ttl: Duration::from_secs(3600),
            observation_ttl: Duration::from_secs(900),
            listener: ListenerSettings::default(),
        }
    }
}

/// [`Coordination`] on the PostgreSQL database of a [`crate::PgStore`]; made by
/// [`crate::PgStore::coordination_with`] (or [`crate::ProxyStore::coordination`]),
/// sharing the store's pool.
#[derive(Debug)]
pub struct PgCoordination {
    pool: PgPool,
    settings: CoordinationSettings,
    last_ensure: Mutex<Option<Instant>>,
    last_prune: Mutex<Option<Instant>>,
    /// This replica's history journal: its accepted results' checks and
    /// transitions are recorded in the same transaction as the write.
    journal: Journal,
}

impl PgCoordination {
    pub(crate) fn new(pool: PgPool, settings: CoordinationSettings) -> Self {
        PgCoordination {
            pool,
            settings,
            last_ensure: Mutex::new(None),
            last_prune: Mutex::new(None),
            journal: Journal::new(),
        }
    }

    /// This coordination with its journal writing notification rows by the
    /// store's outbox policy, so a transition recorded by a
    /// replica's fenced write gets its notification in the same transaction.
    pub(crate) fn with_outbox(mut self, outbox: crate::outbox::PolicyHandle) -> Self {
        self.journal.outbox = outbox;
        self
    }

    /// Inserts a check row, due now, for every non-deleted proxy that has none;
    /// returns how many. `claim_due` does this every
    /// [`CoordinationSettings::ensure_period`].
    pub async fn ensure_checks(&self) -> Result<u64, StoreError> {
        // EXCEPT, not NOT EXISTS: a set operation is hashed or sorted, never a
        // nested loop, which an anti-join can become when the statistics say
        // the check table is empty (measured: 11 minutes for 100,000 proxies).
        let done = sqlx::query(
            "INSERT INTO proxyhealth_checks (proxy_id) \
             SELECT id FROM workspace_proxies WHERE deleted = false \
             EXCEPT SELECT proxy_id FROM proxyhealth_checks \
             ON CONFLICT (proxy_id) DO NOTHING",
        )
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    /// Deletes replica rows dead or stopped for longer than
    /// [`CoordinationSettings::replica_ttl`], observations older than
    /// [`CoordinationSettings::observation_ttl`] or of deleted replicas, and
    /// the rows of proxies that no longer exist.
    pub async fn prune(&self) -> Result<(), StoreError> {
        sqlx::query(
            "WITH gone AS ( \
               DELETE FROM proxyhealth_replicas \
               WHERE COALESCE(stopped_at, heartbeat_at) < now() - $1 * interval '1 millisecond' \
               RETURNING id) \
             DELETE FROM proxyhealth_observations \
             WHERE observed_at < now() - $2 * interval '1 millisecond' \
                OR replica_id IN (SELECT id FROM gone)",
        )
        .bind(millis(self.settings.replica_ttl))
        .bind(millis(self.settings.observation_ttl))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        // Rows of proxies whose row is gone: our own database cascades the
        // delete, but beside a Coder database (pg_own_state) no foreign key
        // ties our tables to Coder's. EXCEPT for the reason given above.
        for orphans in [
            "DELETE FROM proxyhealth_checks WHERE proxy_id IN ( \
               SELECT proxy_id FROM proxyhealth_checks EXCEPT SELECT id FROM workspace_proxies)",
            "DELETE FROM proxyhealth_observations WHERE proxy_id IN ( \
               SELECT proxy_id FROM proxyhealth_observations \
               EXCEPT SELECT id FROM workspace_proxies)",
        ] {
            sqlx::query(orphans)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    /// One page of results newer than `after`, read in one snapshot (one
    /// statement): at most [`RESULTS_PAGE`] check rows in generation order,
    /// found through the generation index (the `LIMIT` keeps the planner on
    /// it), with deleted proxies' rows dropped here.
    async fn results_page(&self, after: i64) -> Result<ResultsPage, StoreError> {
        let rows = sqlx::query(
            "SELECT v.generation AS view_generation, r.* \
             FROM proxyhealth_view v LEFT JOIN LATERAL ( \
               SELECT c.proxy_id, c.generation, c.status, c.result::text AS result, \
                 c.checked_at, c.checked_by, \
                 COALESCE((SELECT p.deleted FROM workspace_proxies p \
                           WHERE p.id = c.proxy_id), true) AS deleted \
               FROM proxyhealth_checks c \
               WHERE c.generation > $1 AND c.generation <= v.generation \
               ORDER BY c.generation LIMIT $2) r ON true \
             WHERE v.id = 1 \
             ORDER BY r.generation",
        )
        .bind(after)
        .bind(RESULTS_PAGE)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut page = ResultsPage::default();
        let mut seen = 0;
        for row in &rows {
            page.view_generation = row.try_get("view_generation").map_err(db_err)?;
            let id: Option<Uuid> = row.try_get("proxy_id").map_err(db_err)?;
            let Some(proxy_id) = id else { continue };
            seen += 1;
            let generation: i64 = row.try_get("generation").map_err(db_err)?;
            page.last_generation = Some(generation);
            if row.try_get::<bool, _>("deleted").map_err(db_err)? {
                continue;
            }
            let text: String = row.try_get("result").map_err(db_err)?;
            let result = serde_json::from_str(&text).map_err(|err| {
                StoreError::Internal(format!(
                    "the stored result of {proxy_id} is not JSON: {err}"
                ))
            })?;
            page.rows.push(ResultRow {
                proxy_id,
                generation,
                status: row.try_get("status").map_err(db_err)?,
                result,
                checked_at: row.try_get("checked_at").map_err(db_err)?,
                checked_by: row.try_get("checked_by").map_err(db_err)?,
            });
        }
        page.full = seen >= RESULTS_PAGE;
        Ok(page)
    }

    /// Opens the concrete listener (what [`Coordination::listen`] boxes).
    pub async fn listener(&self) -> Result<PgNoticeListener, StoreError> {
        PgNoticeListener::open(&self.pool, self.settings.listener).await
    }

    /// Whether this replica runs the chore `job` now: it asks at most once per
    /// `period` (tracked in `last`), and the database gives the turn to one
    /// asker per `period` cluster-wide (`proxyhealth_jobs`). A chore therefore
    /// runs about once per one to two periods, whatever the replica count.
    async fn take_turn(
        &self,
        job: &str,
        last: &Mutex<Option<Instant>>,
        period: Duration,
    ) -> Result<bool, StoreError> {
        {
            let mut last = last.lock();
            let now = Instant::now();
            if last.is_some_and(|at| now.duration_since(at) < period) {
                return Ok(false);
            }
            *last = Some(now);
        }
        let turn = sqlx::query(
            "UPDATE proxyhealth_jobs SET last_run = now() \
             WHERE name = $1 AND last_run <= now() - $2 * interval '1 millisecond' \
             RETURNING name",
        )
        .bind(job)
        .bind(millis(period))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(turn.is_some())
    }

    async fn prune_now_and_then(&self) -> Result<(), StoreError> {
        if self
            .take_turn("prune", &self.last_prune, self.settings.prune_period)
            .await?
        {
            self.prune().await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Coordination for PgCoordination {
    async fn register(&self, info: ReplicaInfo) -> Result<ReplicaId, StoreError> {
        self.prune_now_and_then().await?;
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO proxyhealth_replicas (id, hostname, version, listen_addr, pid) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(&info.hostname)
        .bind(&info.version)
        .bind(&info.listen_addr)
        .bind(i64::from(info.pid))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(id)
    }

    async fn heartbeat(
        &self,
        id: ReplicaId,
        view_generation: i64,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        self.prune_now_and_then().await?;
        sqlx::query_scalar(
            "UPDATE proxyhealth_replicas SET heartbeat_at = now(), view_generation = $2 \
             WHERE id = $1 AND stopped_at IS NULL RETURNING heartbeat_at",
        )
        .bind(id)
        .bind(view_generation)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn stop(&self, id: ReplicaId) -> Result<(), StoreError> {
        sqlx::query(
            "WITH stopped AS ( \
               UPDATE proxyhealth_replicas SET stopped_at = now() \
               WHERE id = $1 AND stopped_at IS NULL RETURNING id), \
             released AS ( \
               UPDATE proxyhealth_checks \
               SET lease_owner = NULL, lease_until = NULL, due_at = LEAST(due_at, now()) \
               WHERE lease_owner = $1 RETURNING proxy_id) \
             SELECT (SELECT count(*) FROM stopped) AS stopped, pg_notify('proxyhealth_due', '') \
             FROM (SELECT 1 FROM released LIMIT 1) AS any_released",
        )
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn replicas(&self, live_window: Duration) -> Result<Vec<ReplicaRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.id, r.hostname, r.version, r.listen_addr, r.pid, r.started_at, \
               r.heartbeat_at, r.stopped_at, r.view_generation, \
               (r.heartbeat_at > now() - $1 * interval '1 millisecond' \
                 AND r.stopped_at IS NULL) AS live, \
               GREATEST(0, (extract(epoch FROM now() - r.heartbeat_at) * 1000)::bigint) AS age_ms, \
               GREATEST(0, (SELECT generation FROM proxyhealth_view WHERE id = 1) \
                 - r.view_generation) AS generation_lag, \
               COALESCE(GREATEST(0, (extract(epoch FROM now() - ( \
                 SELECT c.checked_at FROM proxyhealth_checks c \
                 WHERE c.generation > r.view_generation \
                 ORDER BY c.generation LIMIT 1)) * 1000)::bigint), 0) AS lag_ms \
             FROM proxyhealth_replicas r \
             ORDER BY r.started_at, r.id",
        )
        .bind(millis(live_window))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(replica_from_row).collect()
    }

    async fn claim_due(
        &self,
        owner: ReplicaId,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Claim>, StoreError> {
        if self
            .take_turn(
                "ensure_checks",
                &self.last_ensure,
                self.settings.ensure_period,
            )
            .await?
        {
            self.ensure_checks().await?;
        }
        let rows = sqlx::query(
            "WITH due AS ( \
               SELECT c.proxy_id, c.lease_owner AS previous_owner \
               FROM proxyhealth_checks c \
               JOIN workspace_proxies p ON p.id = c.proxy_id AND p.deleted = false \
               WHERE c.due_at <= now() \
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
             FROM due WHERE c.proxy_id = due.proxy_id \
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
                Ok(Claim {
                    proxy_id: row.try_get("proxy_id").map_err(db_err)?,
                    owner,
                    attempt: row.try_get("attempt").map_err(db_err)?,
                    lease,
                    taken_over_from: row.try_get("previous_owner").map_err(db_err)?,
                    previous_status: row.try_get("status").map_err(db_err)?,
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
            statuses.push(write.status.clone());
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
               FROM w JOIN proxyhealth_checks old ON old.proxy_id = w.proxy_id \
               WHERE c.proxy_id = w.proxy_id AND c.lease_owner = w.owner \
                 AND c.attempt = w.attempt \
               RETURNING c.proxy_id, c.generation, w.owner, w.status, w.message, \
                         old.status AS previous_status), \
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
             SELECT proxy_id, generation, previous_status, \
                    (SELECT count(*) FROM notified) AS notified \
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
        let mut accepted = std::collections::HashMap::with_capacity(rows.len());
        let mut previous = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let id: Uuid = row.try_get("proxy_id").map_err(db_err)?;
            let generation: i64 = row.try_get("generation").map_err(db_err)?;
            let was: Option<String> = row.try_get("previous_status").map_err(db_err)?;
            accepted.insert(id, generation);
            previous.insert(id, was);
        }
        // History, in the same transaction: a transition is recorded once,
        // by the replica whose accepted result caused it (the row's status
        // before this write is the cluster's truth, read under its lock).
        let batch = history_of(&writes, &previous);
        let rollups = journal::postgres::stage(&mut tx, &self.journal, &cache, &batch).await?;
        journal::postgres::record_in(&mut tx, &self.journal, &rollups, batch.transitions).await?;
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

    async fn defer_for_confirmation(
        &self,
        claim: &Claim,
        status: &str,
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
        .bind(status)
        .bind(message)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(!rows.is_empty())
    }

    async fn record_observation(
        &self,
        proxy_id: Uuid,
        replica: ReplicaId,
        status: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO proxyhealth_observations \
               (proxy_id, replica_id, status, message, observed_at) \
             VALUES ($1, $2, $3, $4, now()) \
             ON CONFLICT (proxy_id, replica_id) DO UPDATE SET status = excluded.status, \
               message = excluded.message, observed_at = excluded.observed_at",
        )
        .bind(proxy_id)
        .bind(replica)
        .bind(status)
        .bind(message)
        .execute(&self.pool)
        .await
        .map_err(|err| match map_db_error(Backend::Postgres, err, None) {
            StoreError::Internal(m) if m.contains("foreign key") => StoreError::NotFound,
            other => other,
        })?;
        Ok(())
    }

    async fn observations(&self, proxy_id: Uuid) -> Result<Vec<Observation>, StoreError> {
        let rows = sqlx::query(
            "SELECT proxy_id, replica_id, status, message, observed_at \
             FROM proxyhealth_observations WHERE proxy_id = $1 ORDER BY replica_id",
        )
        .bind(proxy_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(observation_from_row).collect()
    }

    async fn disagreements(
        &self,
        live_window: Duration,
        within: Duration,
    ) -> Result<Vec<Disagreement>, StoreError> {
        let rows = sqlx::query(
            "WITH recent AS ( \
               SELECT o.proxy_id, o.replica_id, o.status, o.message, o.observed_at \
               FROM proxyhealth_observations o \
               JOIN proxyhealth_replicas r ON r.id = o.replica_id AND r.stopped_at IS NULL \
                 AND r.heartbeat_at > now() - $1 * interval '1 millisecond' \
               WHERE o.observed_at > now() - $2 * interval '1 millisecond'), \
             split AS ( \
               SELECT proxy_id FROM recent GROUP BY proxy_id \
               HAVING count(DISTINCT status) > 1) \
             SELECT recent.* FROM recent JOIN split USING (proxy_id) \
             WHERE EXISTS (SELECT 1 FROM workspace_proxies p \
                           WHERE p.id = recent.proxy_id AND p.deleted = false) \
             ORDER BY proxy_id, replica_id",
        )
        .bind(millis(live_window))
        .bind(millis(within))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut out: Vec<Disagreement> = Vec::new();
        for row in &rows {
            let seen = observation_from_row(row)?;
            match out.last_mut() {
                Some(last) if last.proxy_id == seen.proxy_id => last.observations.push(seen),
                _ => out.push(Disagreement {
                    proxy_id: seen.proxy_id,
                    observations: vec![seen],
                }),
            }
        }
        Ok(out)
    }

    async fn request_check(&self, proxy_id: Uuid) -> Result<(), StoreError> {
        let rows = sqlx::query(
            "WITH up AS ( \
               INSERT INTO proxyhealth_checks (proxy_id) \
               SELECT id FROM workspace_proxies WHERE id = $1 AND deleted = false \
               ON CONFLICT (proxy_id) DO UPDATE SET \
                 requests = proxyhealth_checks.requests + 1, \
                 due_at = CASE WHEN proxyhealth_checks.lease_until >= now() \
                          THEN proxyhealth_checks.due_at \
                          ELSE LEAST(proxyhealth_checks.due_at, now()) END \
               RETURNING proxy_id) \
             SELECT proxy_id, pg_notify('proxyhealth_due', proxy_id::text) FROM up",
        )
        .bind(proxy_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        if rows.is_empty() {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn results_since(&self, generation: i64) -> Result<ResultBatch, StoreError> {
        let mut batch = ResultBatch::default();
        let mut after = generation;
        loop {
            let page = self.results_page(after).await?;
            batch.generation = page.view_generation;
            batch.rows.extend(page.rows);
            match page.last_generation {
                Some(last) if page.full => after = last,
                _ => return Ok(batch),
            }
        }
    }

    async fn all_results(&self) -> Result<ResultBatch, StoreError> {
        self.results_since(0).await
    }

    async fn newest_generation(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT generation FROM proxyhealth_view WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn stale(&self, older_than: Duration) -> Result<Vec<Uuid>, StoreError> {
        sqlx::query_scalar(
            "SELECT p.id FROM workspace_proxies p \
             LEFT JOIN proxyhealth_checks c ON c.proxy_id = p.id \
             WHERE p.deleted = false \
               AND COALESCE(c.checked_at, c.created_at, p.created_at) \
                   < now() - $1 * interval '1 millisecond' \
             ORDER BY p.id",
        )
        .bind(millis(older_than))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn listen(&self) -> Result<Box<dyn NoticeSource>, StoreError> {
        Ok(Box::new(self.listener().await?))
    }
}

/// The history of a batch of writes: a check for every accepted write whose
/// result is an engine status, and a transition where its status differs
/// from the row's status before the write (`previous`, by accepted proxy).
fn history_of(
    writes: &[ResultWrite],
    previous: &std::collections::HashMap<Uuid, Option<String>>,
) -> HistoryBatch {
    let mut batch = HistoryBatch::default();
    for write in writes {
        let Some(was) = previous.get(&write.claim.proxy_id) else {
            continue;
        };
        let Ok(status) = serde_json::from_value::<ProxyStatus>(write.result.clone()) else {
            continue;
        };
        batch.checks.push(CheckRecord::of(&status));
        let from = was.as_deref().and_then(|word| word.parse::<Status>().ok());
        if from != Some(status.status) {
            batch
                .transitions
                .push(Transition::of(&status, from, Some(write.claim.owner)));
        }
    }
    batch
}

fn replica_from_row(row: &PgRow) -> Result<ReplicaRow, StoreError> {
    let pid: i64 = row.try_get("pid").map_err(db_err)?;
    Ok(ReplicaRow {
        id: row.try_get("id").map_err(db_err)?,
        hostname: row.try_get("hostname").map_err(db_err)?,
        version: row.try_get("version").map_err(db_err)?,
        listen_addr: row.try_get("listen_addr").map_err(db_err)?,
        pid: u32::try_from(pid).unwrap_or(0),
        started_at: row.try_get("started_at").map_err(db_err)?,
        heartbeat_at: row.try_get("heartbeat_at").map_err(db_err)?,
        stopped_at: row.try_get("stopped_at").map_err(db_err)?,
        live: row.try_get("live").map_err(db_err)?,
        heartbeat_age: from_millis(row.try_get("age_ms").map_err(db_err)?),
        view_generation: row.try_get("view_generation").map_err(db_err)?,
        generation_lag: row.try_get("generation_lag").map_err(db_err)?,
        lag: from_millis(row.try_get("lag_ms").map_err(db_err)?),
    })
}

fn observation_from_row(row: &PgRow) -> Result<Observation, StoreError> {
    Ok(Observation {
        proxy_id: row.try_get("proxy_id").map_err(db_err)?,
        replica_id: row.try_get("replica_id").map_err(db_err)?,
        status: row.try_get("status").map_err(db_err)?,
        message: row.try_get("message").map_err(db_err)?,
        observed_at: row.try_get("observed_at").map_err(db_err)?,
    })
}

//! The periodic chores of [`PgCoordination`]: inserting the missing check rows
//! (before a claim) and pruning old rows (at a register or a heartbeat), each
//! run by one replica per period cluster-wide.

use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::{PgCoordination, millis, vantages_cte};
use crate::StoreError;
use crate::error::pg_err as db_err;

impl PgCoordination {
    /// Inserts a check row, due now, for every non-deleted proxy and every
    /// vantage of a replica not stopped (the default vantage when there is
    /// none) that has none; returns how many. `claim_due` does this every
    /// [`super::CoordinationSettings::ensure_period`].
    pub async fn ensure_checks(&self) -> Result<u64, StoreError> {
        // EXCEPT, not NOT EXISTS: a set operation is hashed or sorted, never a
        // nested loop, which an anti-join can become when the statistics say
        // the check table is empty (measured: 11 minutes for 100,000 proxies).
        let done = sqlx::query(concat!(
            "WITH ",
            vantages_cte!(),
            " \
             INSERT INTO proxyhealth_checks (proxy_id, vantage) \
             SELECT p.id, v.vantage FROM workspace_proxies p CROSS JOIN vantages v \
             WHERE p.deleted = false \
             EXCEPT SELECT proxy_id, vantage FROM proxyhealth_checks \
             ON CONFLICT (proxy_id, vantage) DO NOTHING"
        ))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    /// Inserts the missing check rows of one vantage (when a replica naming
    /// it registers); returns how many.
    pub(super) async fn ensure_checks_of(&self, vantage: &str) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "INSERT INTO proxyhealth_checks (proxy_id, vantage) \
             SELECT id, $1 FROM workspace_proxies WHERE deleted = false \
             EXCEPT SELECT proxy_id, vantage FROM proxyhealth_checks WHERE vantage = $1 \
             ON CONFLICT (proxy_id, vantage) DO NOTHING",
        )
        .bind(vantage)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    /// Deletes replica rows dead or stopped for longer than
    /// [`super::CoordinationSettings::replica_ttl`], observations older than
    /// [`super::CoordinationSettings::observation_ttl`] or of deleted
    /// replicas, the rows of proxies that no longer exist, the check rows of
    /// vantages no known replica names, and vantages' readings of proxies
    /// that are deleted.
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
            // and the rows of a vantage none of whose replicas is known any
            // more (all pruned): a vantage retired for good
            "DELETE FROM proxyhealth_checks WHERE vantage NOT IN ( \
               SELECT vantage FROM proxyhealth_replicas) \
               AND EXISTS (SELECT 1 FROM proxyhealth_replicas)",
            "DELETE FROM proxyhealth_observations WHERE proxy_id IN ( \
               SELECT proxy_id FROM proxyhealth_observations \
               EXCEPT SELECT id FROM workspace_proxies)",
            // and vantages' readings of proxies deleted too (soft-deleted, by
            // Coder beside its database, or while a write of them raced the
            // delete that took the rest)
            "DELETE FROM proxyhealth_vantage_readings WHERE proxy_id IN ( \
               SELECT proxy_id FROM proxyhealth_vantage_readings \
               EXCEPT SELECT id FROM workspace_proxies WHERE deleted = false)",
        ] {
            sqlx::query(orphans)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        }
        Ok(())
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

    /// Prunes when it is this replica's turn (at registers and heartbeats).
    pub(super) async fn prune_now_and_then(&self) -> Result<(), StoreError> {
        if self
            .take_turn("prune", &self.last_prune, self.settings.prune_period)
            .await?
        {
            self.prune().await?;
        }
        Ok(())
    }

    /// Inserts the missing check rows when it is this replica's turn (before
    /// a claim).
    pub(super) async fn ensure_now_and_then(&self) -> Result<(), StoreError> {
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
        Ok(())
    }
}

//! [`super::VantageStore`] on PostgreSQL (the `vantages` migration): shared
//! by every replica, so a token rotated or a vantage deleted through one is
//! refused by all on the next request.

use std::collections::HashMap;

use proxyhealth_core::{
    CheckRecord, LatencySketch, Rollup, Status, VantageHistory, VantageName, VantageReading,
    VantageTransition,
};
use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    AgentSighting, AgentTokenError, MAX_AGENTS_PER_VANTAGE, MintedVantage, Vantage, VantageError,
    VantageStore, VantageWindow, changing, check_secret, checked_name, history_key, mint,
    newest_per_proxy, parse, reading_from_json, reading_json, stored_name,
};
use crate::StoreError;
use crate::columns::{parse_status, report_from_json, report_json};
use crate::error::is_unique_violation;
use crate::error::pg_err as db_err;
use crate::history::cache::hour_of;
use crate::history::{count, merge_hours, to_count};

/// The PostgreSQL store's vantages.
#[derive(Debug)]
pub(crate) struct PgVantages {
    /// The store's pool.
    pub pool: PgPool,
}

/// The columns a [`Vantage`] is read from (a macro, so statements stay
/// `&'static str` literals).
macro_rules! columns {
    () => {
        "id, name, created_at, token_minted_at"
    };
}

fn vantage_of(row: &PgRow) -> Result<Vantage, StoreError> {
    Ok(Vantage {
        id: row.try_get("id").map_err(db_err)?,
        name: stored_name(row.try_get::<&str, _>("name").map_err(db_err)?)?,
        created_at: row.try_get("created_at").map_err(db_err)?,
        token_minted_at: row.try_get("token_minted_at").map_err(db_err)?,
    })
}

#[async_trait::async_trait]
impl VantageStore for PgVantages {
    async fn create(&self, name: &str) -> Result<MintedVantage, VantageError> {
        let (name, _) = checked_name(name)?;
        let id = Uuid::new_v4();
        let minted = mint(id)?;
        let inserted = sqlx::query(concat!(
            "INSERT INTO proxyhealth_vantages (id, name, token_hashed_secret) \
             VALUES ($1, $2, $3) RETURNING ",
            columns!()
        ))
        .bind(id)
        .bind(name.as_str())
        .bind(&minted.hashed_secret)
        .fetch_one(&self.pool)
        .await;
        match inserted {
            Ok(row) => Ok(MintedVantage {
                vantage: vantage_of(&row)?,
                token: minted.token,
            }),
            Err(err) if is_unique_violation(&err) => Err(VantageError::Taken(name.to_string())),
            Err(err) => Err(db_err(err).into()),
        }
    }

    async fn list(&self) -> Result<Vec<Vantage>, VantageError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM proxyhealth_vantages ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.iter().map(vantage_of).collect::<Result<_, _>>()?)
    }

    async fn delete(&self, name: &str) -> Result<(), VantageError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let done = sqlx::query("DELETE FROM proxyhealth_vantages WHERE lower(name) = lower($1)")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(VantageError::NotFound(name.to_owned()));
        }
        // its history is keyed by its name, not tied to its row
        let key = name.to_lowercase();
        lock_history(&mut tx, &key).await?;
        for statement in [
            "DELETE FROM proxyhealth_vantage_rollups WHERE vantage = $1",
            "DELETE FROM proxyhealth_vantage_transitions WHERE vantage = $1",
        ] {
            sqlx::query(statement)
                .bind(&key)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn rotate_token(&self, name: &str) -> Result<MintedVantage, VantageError> {
        let id: Uuid =
            sqlx::query_scalar("SELECT id FROM proxyhealth_vantages WHERE lower(name) = lower($1)")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?
                .ok_or_else(|| VantageError::NotFound(name.to_owned()))?;
        let minted = mint(id)?;
        let row = sqlx::query(concat!(
            "UPDATE proxyhealth_vantages SET token_hashed_secret = $1, token_minted_at = now() \
             WHERE id = $2 RETURNING ",
            columns!()
        ))
        .bind(&minted.hashed_secret)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .ok_or_else(|| VantageError::NotFound(name.to_owned()))?;
        Ok(MintedVantage {
            vantage: vantage_of(&row)?,
            token: minted.token,
        })
    }

    async fn verify_token(&self, token: &str) -> Result<Vantage, AgentTokenError> {
        let (id, secret) = parse(token)?;
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            ", token_hashed_secret FROM proxyhealth_vantages WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .ok_or(AgentTokenError::UnknownVantage)?;
        let stored: Vec<u8> = row.try_get("token_hashed_secret").map_err(db_err)?;
        check_secret(secret, &stored)?;
        Ok(vantage_of(&row)?)
    }

    async fn keep_readings(
        &self,
        vantage: &VantageName,
        readings: &[(Uuid, VantageReading)],
    ) -> Result<usize, VantageError> {
        let newest = newest_per_proxy(readings);
        let mut proxies = Vec::with_capacity(newest.len());
        let mut times: Vec<OffsetDateTime> = Vec::with_capacity(newest.len());
        let mut jsons = Vec::with_capacity(newest.len());
        for (proxy, reading) in newest {
            proxies.push(*proxy);
            times.push(reading.checked_at);
            jsons.push(reading_json(reading)?);
        }
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // KEY SHARE: a delete of the vantage waits for this transaction, then
        // cascades to what it wrote
        let id: Uuid = sqlx::query_scalar(
            "SELECT id FROM proxyhealth_vantages WHERE lower(name) = lower($1) FOR KEY SHARE",
        )
        .bind(vantage.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .ok_or_else(|| VantageError::NotFound(vantage.to_string()))?;
        // one statement for the batch; only live proxies' readings
        let done = sqlx::query(
            "INSERT INTO proxyhealth_vantage_readings (vantage_id, proxy_id, checked_at, reading) \
             SELECT $1, r.proxy_id, r.checked_at, r.reading::jsonb \
             FROM unnest($2::uuid[], $3::timestamptz[], $4::text[]) AS r(proxy_id, checked_at, reading) \
             JOIN workspace_proxies p ON p.id = r.proxy_id AND NOT p.deleted \
             ON CONFLICT (vantage_id, proxy_id) DO UPDATE \
             SET checked_at = EXCLUDED.checked_at, reading = EXCLUDED.reading, stored_at = now() \
             WHERE EXCLUDED.checked_at >= proxyhealth_vantage_readings.checked_at",
        )
        .bind(id)
        .bind(&proxies)
        .bind(&times)
        .bind(&jsons)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
    }

    async fn readings(&self) -> Result<Vec<(Uuid, VantageReading)>, VantageError> {
        // names compared byte by byte, as the other backends order them
        let rows = sqlx::query(
            "SELECT v.name, r.proxy_id, r.reading::text AS reading \
             FROM proxyhealth_vantage_readings r \
             JOIN proxyhealth_vantages v ON v.id = r.vantage_id \
             ORDER BY v.name COLLATE \"C\", r.proxy_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut all = Vec::with_capacity(rows.len());
        for row in &rows {
            let name = stored_name(row.try_get::<&str, _>("name").map_err(db_err)?)?;
            let proxy: Uuid = row.try_get("proxy_id").map_err(db_err)?;
            let reading =
                reading_from_json(row.try_get::<&str, _>("reading").map_err(db_err)?, name)?;
            all.push((proxy, reading));
        }
        Ok(all)
    }

    async fn keep_agents(&self, seen: &[AgentSighting]) -> Result<(), StoreError> {
        if seen.is_empty() {
            return Ok(());
        }
        // a row is upserted once per statement: one sighting per agent
        let mut agents = std::collections::HashSet::with_capacity(seen.len());
        let mut columns = AgentColumns::default();
        for sighting in seen {
            if agents.insert((sighting.vantage.as_str().to_lowercase(), &sighting.agent)) {
                columns.push(sighting);
            }
        }
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // one statement for every sighting; a vantage deleted meanwhile
        // matches no row, and the cascade takes what its delete found
        sqlx::query(
            "INSERT INTO proxyhealth_vantage_agents AS a (vantage_id, agent_id, version, address, \
               last_seen, assigned, lag_ms, last_result_at) \
             SELECT v.id, s.agent, s.version, s.address, s.last_seen, s.assigned, s.lag_ms, \
               s.last_result_at \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], \
               $6::bigint[], $7::bigint[], $8::timestamptz[]) \
               AS s(vantage, agent, version, address, last_seen, assigned, lag_ms, last_result_at) \
             JOIN proxyhealth_vantages v ON lower(v.name) = lower(s.vantage) \
             ON CONFLICT (vantage_id, agent_id) DO UPDATE SET \
               version = CASE WHEN EXCLUDED.last_seen >= a.last_seen \
                 THEN EXCLUDED.version ELSE a.version END, \
               address = CASE WHEN EXCLUDED.last_seen >= a.last_seen \
                 THEN EXCLUDED.address ELSE a.address END, \
               assigned = CASE WHEN EXCLUDED.last_seen >= a.last_seen \
                 THEN EXCLUDED.assigned ELSE a.assigned END, \
               last_seen = GREATEST(EXCLUDED.last_seen, a.last_seen), \
               lag_ms = CASE WHEN EXCLUDED.last_result_at > a.last_result_at \
                   OR a.last_result_at IS NULL THEN EXCLUDED.lag_ms ELSE a.lag_ms END, \
               last_result_at = GREATEST(EXCLUDED.last_result_at, a.last_result_at)",
        )
        .bind(&columns.vantages)
        .bind(&columns.agents)
        .bind(&columns.versions)
        .bind(&columns.addresses)
        .bind(&columns.last_seen)
        .bind(&columns.assigned)
        .bind(&columns.lags)
        .bind(&columns.last_results)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        // the agents seen longest ago beyond the bound of each vantage
        sqlx::query(
            "DELETE FROM proxyhealth_vantage_agents a USING ( \
               SELECT vantage_id, agent_id, row_number() OVER ( \
                 PARTITION BY vantage_id ORDER BY last_seen DESC, agent_id) AS n \
               FROM proxyhealth_vantage_agents) r \
             WHERE r.n > $1 AND a.vantage_id = r.vantage_id AND a.agent_id = r.agent_id",
        )
        .bind(i64::try_from(MAX_AGENTS_PER_VANTAGE).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn agents(&self) -> Result<Vec<AgentSighting>, StoreError> {
        // names compared byte by byte, as the other backends order them
        let rows = sqlx::query(
            "SELECT v.name, a.agent_id, a.version, a.address, a.last_seen, a.assigned, \
               a.lag_ms, a.last_result_at \
             FROM proxyhealth_vantage_agents a \
             JOIN proxyhealth_vantages v ON v.id = a.vantage_id \
             ORDER BY v.name COLLATE \"C\", a.agent_id COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok(AgentSighting {
                    vantage: stored_name(row.try_get::<&str, _>("name").map_err(db_err)?)?,
                    agent: row.try_get("agent_id").map_err(db_err)?,
                    version: row.try_get("version").map_err(db_err)?,
                    address: row.try_get("address").map_err(db_err)?,
                    last_seen: row.try_get("last_seen").map_err(db_err)?,
                    assigned: count(row.try_get("assigned").map_err(db_err)?),
                    lag_ms: row
                        .try_get::<Option<i64>, _>("lag_ms")
                        .map_err(db_err)?
                        .map(count),
                    last_result_at: row.try_get("last_result_at").map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn record_history(
        &self,
        vantage: &VantageName,
        history: &VantageHistory,
    ) -> Result<(), VantageError> {
        if history.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // NO KEY UPDATE: the vantage is not deleted under the write (a
        // delete waits, then deletes what was written); readings writes
        // (KEY SHARE) are not held up longer than before
        sqlx::query_scalar::<_, Uuid>(
            "SELECT id FROM proxyhealth_vantages WHERE lower(name) = lower($1) \
             FOR NO KEY UPDATE",
        )
        .bind(vantage.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?
        .ok_or_else(|| VantageError::NotFound(vantage.to_string()))?;
        let key = history_key(vantage);
        lock_history(&mut tx, &key).await?;
        let transitions: Vec<&VantageTransition> = history.transitions.iter().collect();
        write_history(&mut tx, &key, &history.checks, &transitions).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn record_own_history(
        &self,
        vantage: &VantageName,
        history: &VantageHistory,
    ) -> Result<(), StoreError> {
        if history.is_empty() {
            return Ok(());
        }
        let key = history_key(vantage);
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock_history(&mut tx, &key).await?;
        let mut last = HashMap::new();
        if !history.transitions.is_empty() {
            let proxies: Vec<Uuid> = history.transitions.iter().map(|t| t.proxy_id).collect();
            let rows = sqlx::query(
                "SELECT DISTINCT ON (proxy_id) proxy_id, to_status \
                 FROM proxyhealth_vantage_transitions \
                 WHERE vantage = $1 AND proxy_id = ANY($2) \
                 ORDER BY proxy_id, at DESC, id DESC",
            )
            .bind(&key)
            .bind(&proxies)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
            for row in &rows {
                let status: String = row.try_get("to_status").map_err(db_err)?;
                last.insert(
                    row.try_get::<Uuid, _>("proxy_id").map_err(db_err)?,
                    parse_status(&status)?,
                );
            }
        }
        let transitions = changing(&history.transitions, last);
        write_history(&mut tx, &key, &history.checks, &transitions).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn history(
        &self,
        vantage: &VantageName,
        proxy_id: Uuid,
        since: OffsetDateTime,
    ) -> Result<VantageWindow, VantageError> {
        let id = history_key(vantage);
        let known: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM proxyhealth_vantages WHERE lower(name) = lower($2)) \
             OR EXISTS (SELECT 1 FROM proxyhealth_vantage_rollups WHERE vantage = $1) \
             OR EXISTS (SELECT 1 FROM proxyhealth_vantage_transitions WHERE vantage = $1)",
        )
        .bind(&id)
        .bind(vantage.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        if !known {
            return Err(VantageError::NotFound(vantage.to_string()));
        }
        let rows = sqlx::query(
            "SELECT hour, checks, ok, unhealthy, unreachable, latency_max_us, sketch \
             FROM proxyhealth_vantage_rollups \
             WHERE vantage = $1 AND proxy_id = $2 AND hour >= $3 ORDER BY hour",
        )
        .bind(&id)
        .bind(proxy_id)
        .bind(hour_of(since))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let rows = rows
            .iter()
            .map(|row| Ok((row.try_get("hour").map_err(db_err)?, rollup_of(row)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let transitions = sqlx::query(
            "SELECT proxy_id, at, from_status, to_status, report::text AS report \
             FROM proxyhealth_vantage_transitions \
             WHERE vantage = $1 AND proxy_id = $2 AND at >= $3 ORDER BY at, id",
        )
        .bind(&id)
        .bind(proxy_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let before: Option<String> = sqlx::query_scalar(
            "SELECT to_status FROM proxyhealth_vantage_transitions \
             WHERE vantage = $1 AND proxy_id = $2 AND at < $3 ORDER BY at DESC, id DESC LIMIT 1",
        )
        .bind(&id)
        .bind(proxy_id)
        .bind(since)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(VantageWindow {
            status_at_start: before.as_deref().map(parse_status).transpose()?,
            buckets: merge_hours(rows)?,
            transitions: transitions
                .iter()
                .map(|row| transition_of(row, vantage))
                .collect::<Result<_, StoreError>>()?,
        })
    }

    async fn prune_history(&self, before: OffsetDateTime, limit: u32) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let rollups = sqlx::query(
            "DELETE FROM proxyhealth_vantage_rollups WHERE ctid IN \
             (SELECT ctid FROM proxyhealth_vantage_rollups WHERE hour < $1 LIMIT $2)",
        )
        .bind(hour_of(before))
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        let transitions = sqlx::query(
            "DELETE FROM proxyhealth_vantage_transitions WHERE id IN (SELECT t.id FROM \
             proxyhealth_vantage_transitions t WHERE t.at < $1 AND EXISTS (SELECT 1 FROM \
             proxyhealth_vantage_transitions n WHERE n.vantage = t.vantage \
             AND n.proxy_id = t.proxy_id AND n.id > t.id) LIMIT $2)",
        )
        .bind(before)
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        // ended partial outages go by the same age
        let outages = sqlx::query(
            "DELETE FROM proxyhealth_partial_outages WHERE id IN (SELECT id FROM \
             proxyhealth_partial_outages WHERE ended_at < $1 LIMIT $2)",
        )
        .bind(before)
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        tx.commit().await.map_err(db_err)?;
        Ok(rollups + transitions + outages)
    }
}

/// A lock key only writers of per-vantage history take (with the hash of
/// the vantage's key): the writers of one vantage's rollups (its replicas,
/// its agents) wait for each other, so each row is read, merged and written
/// whole without losing a share.
const HISTORY_LOCK: i32 = 0x7668_6973;

/// Takes the history lock of the vantage keyed `key` until the transaction ends.
async fn lock_history(tx: &mut sqlx::PgConnection, key: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(HISTORY_LOCK)
        .bind(key)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Adds `checks` to the rollups of the vantage keyed `key` and records
/// `transitions` as its, in the caller's transaction (holding its lock).
async fn write_history(
    tx: &mut sqlx::PgConnection,
    key: &str,
    checks: &[CheckRecord],
    transitions: &[&VantageTransition],
) -> Result<(), StoreError> {
    let keys = super::history::keys_of(checks);
    let mut stored = HashMap::new();
    if !keys.is_empty() {
        let proxies: Vec<Uuid> = keys.iter().map(|(proxy, _)| *proxy).collect();
        let hours: Vec<i64> = keys.iter().map(|(_, hour)| *hour).collect();
        let rows = sqlx::query(
            "SELECT r.proxy_id, r.hour, r.checks, r.ok, r.unhealthy, r.unreachable, \
             r.latency_max_us, r.sketch FROM proxyhealth_vantage_rollups r \
             JOIN unnest($2::uuid[], $3::bigint[]) AS k(proxy_id, hour) \
             ON k.proxy_id = r.proxy_id AND k.hour = r.hour WHERE r.vantage = $1",
        )
        .bind(key)
        .bind(&proxies)
        .bind(&hours)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        for row in &rows {
            let proxy: Uuid = row.try_get("proxy_id").map_err(db_err)?;
            let hour: i64 = row.try_get("hour").map_err(db_err)?;
            stored.insert((proxy, hour), rollup_of(row)?);
        }
    }
    let staged = super::history::staged(checks, stored);
    if !staged.is_empty() {
        let mut columns = RollupColumns::default();
        for ((proxy, hour), rollup) in &staged {
            columns.push(*proxy, *hour, rollup);
        }
        sqlx::query(
            "INSERT INTO proxyhealth_vantage_rollups (vantage, proxy_id, hour, checks, \
             ok, unhealthy, unreachable, latency_max_us, sketch) \
             SELECT $1, * FROM unnest($2::uuid[], $3::bigint[], $4::bigint[], $5::bigint[], \
             $6::bigint[], $7::bigint[], $8::bigint[], $9::bytea[]) \
             ON CONFLICT (vantage, proxy_id, hour) DO UPDATE SET \
             checks = EXCLUDED.checks, ok = EXCLUDED.ok, unhealthy = EXCLUDED.unhealthy, \
             unreachable = EXCLUDED.unreachable, latency_max_us = EXCLUDED.latency_max_us, \
             sketch = EXCLUDED.sketch",
        )
        .bind(key)
        .bind(&columns.proxies)
        .bind(&columns.hours)
        .bind(&columns.checks)
        .bind(&columns.ok)
        .bind(&columns.unhealthy)
        .bind(&columns.unreachable)
        .bind(&columns.latency_max_us)
        .bind(&columns.sketches)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
    if !transitions.is_empty() {
        let mut proxies = Vec::with_capacity(transitions.len());
        let mut ats = Vec::with_capacity(transitions.len());
        let mut froms: Vec<Option<&str>> = Vec::with_capacity(transitions.len());
        let mut tos = Vec::with_capacity(transitions.len());
        let mut reports = Vec::with_capacity(transitions.len());
        for t in transitions {
            proxies.push(t.proxy_id);
            ats.push(t.at);
            froms.push(t.from.map(Status::as_str));
            tos.push(t.to.as_str());
            reports.push(report_json(&t.report)?);
        }
        // WITH ORDINALITY: ids follow the batch's order
        sqlx::query(
            "INSERT INTO proxyhealth_vantage_transitions \
             (vantage, proxy_id, at, from_status, to_status, report) \
             SELECT $1, t.proxy_id, t.at, t.from_status, t.to_status, t.report::jsonb \
             FROM unnest($2::uuid[], $3::timestamptz[], $4::text[], $5::text[], $6::text[]) \
             WITH ORDINALITY AS t(proxy_id, at, from_status, to_status, report, n) \
             ORDER BY t.n",
        )
        .bind(key)
        .bind(&proxies)
        .bind(&ats)
        .bind(&froms)
        .bind(&tos)
        .bind(&reports)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

/// Rollup rows as one array per column, for one `unnest` insert.
/// Sightings as the columns of one multi-row upsert.
#[derive(Default)]
struct AgentColumns {
    vantages: Vec<String>,
    agents: Vec<String>,
    versions: Vec<String>,
    addresses: Vec<Option<String>>,
    last_seen: Vec<OffsetDateTime>,
    assigned: Vec<i64>,
    lags: Vec<Option<i64>>,
    last_results: Vec<Option<OffsetDateTime>>,
}

impl AgentColumns {
    fn push(&mut self, sighting: &AgentSighting) {
        self.vantages.push(sighting.vantage.as_str().to_owned());
        self.agents.push(sighting.agent.clone());
        self.versions.push(sighting.version.clone());
        self.addresses.push(sighting.address.clone());
        self.last_seen.push(sighting.last_seen);
        self.assigned.push(to_count(sighting.assigned));
        self.lags.push(sighting.lag_ms.map(to_count));
        self.last_results.push(sighting.last_result_at);
    }
}

#[derive(Default)]
struct RollupColumns {
    proxies: Vec<Uuid>,
    hours: Vec<i64>,
    checks: Vec<i64>,
    ok: Vec<i64>,
    unhealthy: Vec<i64>,
    unreachable: Vec<i64>,
    latency_max_us: Vec<Option<i64>>,
    sketches: Vec<Vec<u8>>,
}

impl RollupColumns {
    fn push(&mut self, proxy: Uuid, hour: i64, rollup: &Rollup) {
        self.proxies.push(proxy);
        self.hours.push(hour);
        self.checks.push(to_count(rollup.checks));
        self.ok.push(to_count(rollup.ok));
        self.unhealthy.push(to_count(rollup.unhealthy));
        self.unreachable.push(to_count(rollup.unreachable));
        self.latency_max_us
            .push(rollup.latency_max_us.map(to_count));
        self.sketches.push(rollup.sketch.encode());
    }
}

/// A per-vantage rollup row.
fn rollup_of(row: &PgRow) -> Result<Rollup, StoreError> {
    let sketch: Vec<u8> = row.try_get("sketch").map_err(db_err)?;
    Ok(Rollup {
        checks: count(row.try_get("checks").map_err(db_err)?),
        ok: count(row.try_get("ok").map_err(db_err)?),
        unhealthy: count(row.try_get("unhealthy").map_err(db_err)?),
        unreachable: count(row.try_get("unreachable").map_err(db_err)?),
        unregistered: 0,
        latency_max_us: row
            .try_get::<Option<i64>, _>("latency_max_us")
            .map_err(db_err)?
            .map(count),
        sketch: LatencySketch::decode(&sketch)
            .map_err(|err| StoreError::Internal(err.to_string()))?,
    })
}

/// A per-vantage transition row, as `vantage`'s.
fn transition_of(row: &PgRow, vantage: &VantageName) -> Result<VantageTransition, StoreError> {
    let from: Option<String> = row.try_get("from_status").map_err(db_err)?;
    let to: String = row.try_get("to_status").map_err(db_err)?;
    let report: String = row.try_get("report").map_err(db_err)?;
    Ok(VantageTransition {
        proxy_id: row.try_get("proxy_id").map_err(db_err)?,
        vantage: vantage.clone(),
        at: row.try_get("at").map_err(db_err)?,
        from: from.as_deref().map(parse_status).transpose()?,
        to: parse_status(&to)?,
        report: report_from_json(&report)?,
    })
}

//! [`super::VantageStore`] on SQLite (the `vantages` migrations), over the
//! store's writer and reader pools.
//!
//! Agents' results are held in memory ([`Unwritten`]) and written when the
//! service flushes them ([`super::VantageStore::flush`]), except what changes
//! a vantage's status, which is written at once: this database is read back
//! only when the service starts, and every agent sends a result of every
//! proxy every interval, so writing each one costs the one writer far more
//! than the results are worth there. A stop flushes; a crash loses at most
//! the refreshes of unchanged readings and their rollup counts since the
//! last flush, never a change of status.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use proxyhealth_core::{
    CheckRecord, LatencySketch, Rollup, Status, VantageHistory, VantageName, VantageReading,
    VantageTransition,
};
use sqlx::sqlite::{SqliteConnection, SqlitePool, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite};
use time::OffsetDateTime;
use uuid::Uuid;

use super::unwritten::{Unwritten, VantageShare};
use super::{
    AgentSighting, AgentTokenError, Flush, MAX_AGENTS_PER_VANTAGE, MintedVantage, Vantage,
    VantageError, VantageIntake, VantageStore, VantageWindow, changing, check_secret, checked_name,
    history_key, mint, newest_per_proxy, parse, reading_from_json, reading_json, stored_name,
};
use crate::StoreError;
use crate::columns::sqlite::{from_nanos, nanos, uuid_of};
use crate::columns::{parse_status, report_from_json, report_json};
use crate::error::is_unique_violation;
use crate::error::sqlite_err as db_err;
use crate::history::cache::hour_of;
use crate::history::{count, merge_hours, to_count};

/// The SQLite store's vantages.
#[derive(Debug)]
pub(crate) struct SqliteVantages {
    /// The store's one writer connection.
    pub writer: SqlitePool,
    /// Its readers.
    pub reader: SqlitePool,
    /// Agents' readings and rollups not written yet.
    pub unwritten: Mutex<Unwritten>,
}

/// The columns a [`Vantage`] is read from (a macro, so statements stay
/// `&'static str` literals).
macro_rules! columns {
    () => {
        "id, name, created_at, token_minted_at"
    };
}

fn vantage_of(row: &SqliteRow) -> Result<Vantage, StoreError> {
    Ok(Vantage {
        id: uuid_of(row.try_get::<&str, _>("id").map_err(db_err)?)?,
        name: stored_name(row.try_get::<&str, _>("name").map_err(db_err)?)?,
        created_at: from_nanos(row.try_get("created_at").map_err(db_err)?)?,
        token_minted_at: from_nanos(row.try_get("token_minted_at").map_err(db_err)?)?,
    })
}

#[async_trait::async_trait]
impl VantageStore for SqliteVantages {
    async fn create(&self, name: &str) -> Result<MintedVantage, VantageError> {
        let (name, key) = checked_name(name)?;
        let id = Uuid::new_v4();
        let minted = mint(id)?;
        let now = OffsetDateTime::now_utc();
        let inserted = sqlx::query(
            "INSERT INTO proxyhealth_vantages \
             (id, name, name_key, token_hashed_secret, created_at, token_minted_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(id.hyphenated())
        .bind(name.as_str())
        .bind(&key)
        .bind(&minted.hashed_secret)
        .bind(nanos(now))
        .bind(nanos(now))
        .execute(&self.writer)
        .await;
        match inserted {
            Ok(_) => {}
            Err(err) if is_unique_violation(&err) => {
                return Err(VantageError::Taken(name.to_string()));
            }
            Err(err) => return Err(db_err(err).into()),
        }
        // the time as stored (to the nanosecond), so it reads back the same
        let stored_at = from_nanos(nanos(now))?;
        Ok(MintedVantage {
            vantage: Vantage {
                id,
                name,
                created_at: stored_at,
                token_minted_at: stored_at,
            },
            token: minted.token,
        })
    }

    async fn list(&self) -> Result<Vec<Vantage>, VantageError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM proxyhealth_vantages ORDER BY name"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        Ok(rows.iter().map(vantage_of).collect::<Result<_, _>>()?)
    }

    async fn delete(&self, name: &str) -> Result<(), VantageError> {
        let key = name.to_lowercase();
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let done = sqlx::query("DELETE FROM proxyhealth_vantages WHERE name_key = ?")
            .bind(&key)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(VantageError::NotFound(name.to_owned()));
        }
        // its history is keyed by its name, not tied to its row
        for statement in [
            "DELETE FROM proxyhealth_vantage_rollups WHERE vantage = ?",
            "DELETE FROM proxyhealth_vantage_transitions WHERE vantage = ?",
        ] {
            sqlx::query(statement)
                .bind(&key)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        self.unwritten.lock().forget_vantage(&key);
        Ok(())
    }

    async fn rotate_token(&self, name: &str) -> Result<MintedVantage, VantageError> {
        let key = name.to_lowercase();
        let row = sqlx::query("SELECT id FROM proxyhealth_vantages WHERE name_key = ?")
            .bind(&key)
            .fetch_optional(&self.writer)
            .await
            .map_err(db_err)?
            .ok_or_else(|| VantageError::NotFound(name.to_owned()))?;
        let id = uuid_of(row.try_get::<&str, _>("id").map_err(db_err)?)?;
        let minted = mint(id)?;
        let row = sqlx::query(concat!(
            "UPDATE proxyhealth_vantages SET token_hashed_secret = ?, token_minted_at = ? \
             WHERE id = ? RETURNING ",
            columns!()
        ))
        .bind(&minted.hashed_secret)
        .bind(nanos(OffsetDateTime::now_utc()))
        .bind(id.hyphenated())
        .fetch_optional(&self.writer)
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
            ", token_hashed_secret FROM proxyhealth_vantages WHERE id = ?"
        ))
        .bind(id.hyphenated())
        .fetch_optional(&self.reader)
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
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let id = vantage_id(&mut tx, vantage).await?;
        let written = write_readings(&mut tx, &id, readings).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(written)
    }

    async fn readings(&self) -> Result<Vec<(Uuid, VantageReading)>, VantageError> {
        let rows = sqlx::query(
            "SELECT v.name, r.proxy_id, r.reading \
             FROM proxyhealth_vantage_readings r \
             JOIN proxyhealth_vantages v ON v.id = r.vantage_id \
             ORDER BY v.name, r.proxy_id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        let mut all = Vec::with_capacity(rows.len());
        for row in &rows {
            let name = stored_name(row.try_get::<&str, _>("name").map_err(db_err)?)?;
            let proxy = uuid_of(row.try_get::<&str, _>("proxy_id").map_err(db_err)?)?;
            let reading =
                reading_from_json(row.try_get::<&str, _>("reading").map_err(db_err)?, name)?;
            all.push((proxy, reading));
        }
        // what is held is newer than what is kept, or was never kept
        let held = self.unwritten.lock();
        if held.readings_held() > 0 {
            let mut at: HashMap<(Uuid, VantageName), usize> = all
                .iter()
                .enumerate()
                .map(|(i, (proxy, reading))| ((*proxy, reading.vantage.clone()), i))
                .collect();
            for (proxy, reading) in held.readings() {
                match at.get(&(proxy, reading.vantage.clone())) {
                    Some(&i) if all[i].1.checked_at >= reading.checked_at => {}
                    Some(&i) => all[i].1 = reading.clone(),
                    None => {
                        at.insert((proxy, reading.vantage.clone()), all.len());
                        all.push((proxy, reading.clone()));
                    }
                }
            }
            all.sort_by(|a, b| (a.1.vantage.as_str(), a.0).cmp(&(b.1.vantage.as_str(), b.0)));
        }
        Ok(all)
    }

    async fn keep_agents(&self, seen: &[AgentSighting]) -> Result<(), StoreError> {
        if seen.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        // a handful of agents: one statement each, in one transaction
        for sighting in seen {
            sqlx::query(
                "INSERT INTO proxyhealth_vantage_agents AS a (vantage_id, agent_id, version, \
                   address, last_seen, assigned, lag_ms, last_result_at) \
                 SELECT v.id, ?2, ?3, ?4, ?5, ?6, ?7, ?8 FROM proxyhealth_vantages v \
                 WHERE v.name_key = ?1 \
                 ON CONFLICT (vantage_id, agent_id) DO UPDATE SET \
                   version = CASE WHEN excluded.last_seen >= a.last_seen \
                     THEN excluded.version ELSE a.version END, \
                   address = CASE WHEN excluded.last_seen >= a.last_seen \
                     THEN excluded.address ELSE a.address END, \
                   assigned = CASE WHEN excluded.last_seen >= a.last_seen \
                     THEN excluded.assigned ELSE a.assigned END, \
                   last_seen = max(excluded.last_seen, a.last_seen), \
                   lag_ms = CASE WHEN a.last_result_at IS NULL \
                       OR excluded.last_result_at > a.last_result_at \
                     THEN excluded.lag_ms ELSE a.lag_ms END, \
                   last_result_at = CASE WHEN a.last_result_at IS NULL \
                       OR excluded.last_result_at > a.last_result_at \
                     THEN excluded.last_result_at ELSE a.last_result_at END",
            )
            .bind(sighting.vantage.as_str().to_lowercase())
            .bind(&sighting.agent)
            .bind(&sighting.version)
            .bind(sighting.address.as_deref())
            .bind(nanos(sighting.last_seen))
            .bind(to_count(sighting.assigned))
            .bind(sighting.lag_ms.map(to_count))
            .bind(sighting.last_result_at.map(nanos))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        // the agents seen longest ago beyond the bound of each vantage
        sqlx::query(
            "DELETE FROM proxyhealth_vantage_agents WHERE (vantage_id, agent_id) IN ( \
               SELECT vantage_id, agent_id FROM ( \
                 SELECT vantage_id, agent_id, row_number() OVER ( \
                   PARTITION BY vantage_id ORDER BY last_seen DESC, agent_id) AS n \
                 FROM proxyhealth_vantage_agents) WHERE n > ?1)",
        )
        .bind(i64::try_from(MAX_AGENTS_PER_VANTAGE).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn agents(&self) -> Result<Vec<AgentSighting>, StoreError> {
        let rows = sqlx::query(
            "SELECT v.name, a.agent_id, a.version, a.address, a.last_seen, a.assigned, \
               a.lag_ms, a.last_result_at \
             FROM proxyhealth_vantage_agents a \
             JOIN proxyhealth_vantages v ON v.id = a.vantage_id \
             ORDER BY v.name, a.agent_id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok(AgentSighting {
                    vantage: stored_name(row.try_get::<&str, _>("name").map_err(db_err)?)?,
                    agent: row.try_get("agent_id").map_err(db_err)?,
                    version: row.try_get("version").map_err(db_err)?,
                    address: row.try_get("address").map_err(db_err)?,
                    last_seen: from_nanos(row.try_get("last_seen").map_err(db_err)?)?,
                    assigned: count(row.try_get("assigned").map_err(db_err)?),
                    lag_ms: row
                        .try_get::<Option<i64>, _>("lag_ms")
                        .map_err(db_err)?
                        .map(count),
                    last_result_at: row
                        .try_get::<Option<i64>, _>("last_result_at")
                        .map_err(db_err)?
                        .map(from_nanos)
                        .transpose()?,
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
        // the one writer connection serialises every read-merge-write
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        vantage_id(&mut tx, vantage).await?;
        let transitions: Vec<&VantageTransition> = history.transitions.iter().collect();
        write_history(
            &mut tx,
            &history_key(vantage),
            &history.checks,
            &transitions,
        )
        .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn keep_intakes(
        &self,
        intakes: &[VantageIntake],
    ) -> Result<Vec<VantageName>, StoreError> {
        if intakes
            .iter()
            .all(|intake| intake.readings.is_empty() && intake.history.is_empty())
        {
            return Ok(Vec::new());
        }
        let mut gone = Vec::new();
        let mut known = Vec::new();
        {
            let mut conn = self.reader.acquire().await.map_err(db_err)?;
            for intake in intakes {
                match vantage_id(&mut conn, &intake.vantage).await {
                    Ok(_) => {
                        let (changed, unchanged) = split_by_change(intake);
                        known.push((intake, changed, unchanged));
                    }
                    Err(VantageError::NotFound(_)) => gone.push(intake.vantage.clone()),
                    Err(VantageError::Store(err)) => return Err(err),
                    Err(err) => return Err(StoreError::Internal(err.to_string())),
                }
            }
        }
        // a change of a vantage's status is written at once, with the
        // reading that made it: a crash loses none
        if known
            .iter()
            .any(|(intake, _, _)| !intake.history.transitions.is_empty())
        {
            let mut tx = self.writer.begin().await.map_err(db_err)?;
            for (intake, changed, _) in &known {
                if intake.history.transitions.is_empty() {
                    continue;
                }
                let id = match vantage_id(&mut tx, &intake.vantage).await {
                    Ok(id) => id,
                    // deleted since: its share is left out below too
                    Err(VantageError::NotFound(_)) => continue,
                    Err(VantageError::Store(err)) => return Err(err),
                    Err(err) => return Err(StoreError::Internal(err.to_string())),
                };
                write_readings(&mut tx, &id, changed).await?;
                let transitions: Vec<&VantageTransition> =
                    intake.history.transitions.iter().collect();
                write_history(&mut tx, &history_key(&intake.vantage), &[], &transitions).await?;
            }
            tx.commit().await.map_err(db_err)?;
        }
        let mut held = self.unwritten.lock();
        for (intake, changed, unchanged) in known {
            let key = history_key(&intake.vantage);
            for (proxy, reading) in &changed {
                held.written_through(&key, *proxy, reading);
            }
            held.add(
                &intake.vantage,
                &key,
                unchanged,
                &intake.history.checks,
                Instant::now(),
                HOLD,
            );
        }
        Ok(gone)
    }

    async fn flush(&self, what: Flush) -> Result<(), StoreError> {
        let by = match what {
            Flush::Due => Some(Instant::now()),
            Flush::Everything => None,
        };
        loop {
            let shares = self.unwritten.lock().take(by, ROWS_PER_FLUSH);
            if shares.is_empty() {
                return Ok(());
            }
            if let Err(err) = write_shares(&self.writer, &shares).await {
                // held again, under what arrived meanwhile, for the next try
                self.unwritten.lock().put_back(shares, Instant::now());
                return Err(err);
            }
        }
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
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let mut last = HashMap::new();
        for t in &history.transitions {
            if last.contains_key(&t.proxy_id) {
                continue;
            }
            let status: Option<String> = sqlx::query_scalar(
                "SELECT to_status FROM proxyhealth_vantage_transitions \
                 WHERE vantage = ?1 AND proxy_id = ?2 ORDER BY at DESC, id DESC LIMIT 1",
            )
            .bind(&key)
            .bind(t.proxy_id.hyphenated().to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            if let Some(status) = status {
                last.insert(t.proxy_id, parse_status(&status)?);
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
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        let id = history_key(vantage);
        let agents = match vantage_id(&mut conn, vantage).await {
            Ok(_) => true,
            Err(VantageError::NotFound(_)) => false,
            Err(err) => return Err(err),
        };
        if !agents {
            let kept: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM proxyhealth_vantage_rollups WHERE vantage = ?1) \
                 OR EXISTS (SELECT 1 FROM proxyhealth_vantage_transitions WHERE vantage = ?1)",
            )
            .bind(&id)
            .fetch_one(&mut *conn)
            .await
            .map_err(db_err)?;
            if !kept {
                return Err(VantageError::NotFound(vantage.to_string()));
            }
        }
        let proxy = proxy_id.hyphenated().to_string();
        let rows = sqlx::query(
            "SELECT hour, checks, ok, unhealthy, unreachable, latency_max_us, sketch \
             FROM proxyhealth_vantage_rollups \
             WHERE vantage = ?1 AND proxy_id = ?2 AND hour >= ?3 ORDER BY hour",
        )
        .bind(&id)
        .bind(&proxy)
        .bind(hour_of(since))
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
        let mut rows = rows
            .iter()
            .map(|row| Ok((row.try_get("hour").map_err(db_err)?, rollup_of(row)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        rows.extend(
            self.unwritten
                .lock()
                .rollups_of(&id, proxy_id, hour_of(since)),
        );
        let transitions = sqlx::query(
            "SELECT proxy_id, at, from_status, to_status, report \
             FROM proxyhealth_vantage_transitions \
             WHERE vantage = ?1 AND proxy_id = ?2 AND at >= ?3 ORDER BY at, id",
        )
        .bind(&id)
        .bind(&proxy)
        .bind(nanos(since))
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
        let before: Option<String> = sqlx::query_scalar(
            "SELECT to_status FROM proxyhealth_vantage_transitions \
             WHERE vantage = ?1 AND proxy_id = ?2 AND at < ?3 ORDER BY at DESC, id DESC LIMIT 1",
        )
        .bind(&id)
        .bind(&proxy)
        .bind(nanos(since))
        .fetch_optional(&mut *conn)
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
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let rollups = sqlx::query(
            "DELETE FROM proxyhealth_vantage_rollups WHERE rowid IN \
             (SELECT rowid FROM proxyhealth_vantage_rollups WHERE hour < ?1 LIMIT ?2)",
        )
        .bind(hour_of(before))
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        let transitions = sqlx::query(
            "DELETE FROM proxyhealth_vantage_transitions WHERE id IN (SELECT t.id FROM \
             proxyhealth_vantage_transitions t WHERE t.at < ?1 AND EXISTS (SELECT 1 FROM \
             proxyhealth_vantage_transitions n WHERE n.vantage = t.vantage \
             AND n.proxy_id = t.proxy_id AND n.id > t.id) LIMIT ?2)",
        )
        .bind(nanos(before))
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        // ended partial outages go by the same age
        let outages = sqlx::query(
            "DELETE FROM proxyhealth_partial_outages WHERE id IN (SELECT id FROM \
             proxyhealth_partial_outages WHERE ended_at < ?1 LIMIT ?2)",
        )
        .bind(nanos(before))
        .bind(i64::from(limit))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        tx.commit().await.map_err(db_err)?;
        Ok(rollups + transitions + outages)
    }
}

/// The longest agents' results are held before they are written: several
/// of each proxy's results per write at the usual intervals, and what a
/// crash could lose stays within two minutes.
const HOLD: Duration = Duration::from_secs(120);

/// Held rows one transaction of [`VantageStore::flush`] writes: the one
/// writer is free again between two (for the own sweep's history, a status
/// change) after a few tens of milliseconds.
const ROWS_PER_FLUSH: usize = 2_000;

/// Rows one multi-row statement writes or reads: a few hundred binds, well
/// within SQLite's limit, and one trip to the writer for each.
const ROWS_PER_STATEMENT: usize = 500;

/// Upserts `readings` (the newest per proxy) as the vantage with id
/// `vantage_id`'s, each only over an older kept reading and only for a
/// proxy that exists and is not deleted; a few rows per statement. Returns
/// how many rows were written.
async fn write_readings(
    conn: &mut SqliteConnection,
    vantage_id: &str,
    readings: &[(Uuid, VantageReading)],
) -> Result<usize, StoreError> {
    let newest = newest_per_proxy(readings);
    let mut written = 0;
    for chunk in newest.chunks(ROWS_PER_STATEMENT) {
        let rows = chunk
            .iter()
            .map(|(proxy, reading)| {
                Ok((
                    proxy.hyphenated().to_string(),
                    nanos(reading.checked_at),
                    reading_json(reading)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut upsert: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO proxyhealth_vantage_readings (vantage_id, proxy_id, checked_at, reading) \
             SELECT ",
        );
        upsert.push_bind(vantage_id);
        upsert.push(", v.column1, v.column2, v.column3 FROM (");
        upsert.push_values(rows, |mut values, (proxy, at, json)| {
            values.push_bind(proxy).push_bind(at).push_bind(json);
        });
        upsert.push(
            ") AS v WHERE EXISTS (SELECT 1 FROM workspace_proxies WHERE id = v.column1 \
             AND deleted = 0) \
             ON CONFLICT (vantage_id, proxy_id) DO UPDATE \
             SET checked_at = excluded.checked_at, reading = excluded.reading \
             WHERE excluded.checked_at >= proxyhealth_vantage_readings.checked_at",
        );
        let done = upsert.build().execute(&mut *conn).await.map_err(db_err)?;
        written += usize::try_from(done.rows_affected()).unwrap_or(usize::MAX);
    }
    Ok(written)
}

/// Adds `checks` and `transitions` to the history of the vantage keyed
/// `key` (its lowercased name): the stored rollup rows the checks touch read
/// in a few statements, added to and written back whole in a few more, then
/// the transitions.
async fn write_history(
    conn: &mut SqliteConnection,
    key: &str,
    checks: &[CheckRecord],
    transitions: &[&VantageTransition],
) -> Result<(), StoreError> {
    if !checks.is_empty() {
        let stored = read_rollups(conn, key, &super::history::keys_of(checks)).await?;
        let rows = super::history::staged(checks, stored);
        upsert_rollups(conn, key, &rows).await?;
    }
    for chunk in transitions.chunks(ROWS_PER_STATEMENT) {
        let rows = chunk
            .iter()
            .map(|t| Ok((t, report_json(&t.report)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO proxyhealth_vantage_transitions \
             (vantage, proxy_id, at, from_status, to_status, report) ",
        );
        insert.push_values(rows, |mut values, (t, report)| {
            values
                .push_bind(key)
                .push_bind(t.proxy_id.hyphenated().to_string())
                .push_bind(nanos(t.at))
                .push_bind(t.from.map(Status::as_str))
                .push_bind(t.to.as_str())
                .push_bind(report);
        });
        insert.build().execute(&mut *conn).await.map_err(db_err)?;
    }
    Ok(())
}

/// Writes `rows` ((proxy, hour), rollup) whole as the vantage keyed `key`'s
/// rollup rows, a few hundred per statement.
async fn upsert_rollups(
    conn: &mut SqliteConnection,
    key: &str,
    rows: &[((Uuid, i64), Rollup)],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut upsert: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO proxyhealth_vantage_rollups (vantage, proxy_id, hour, checks, \
             ok, unhealthy, unreachable, latency_max_us, sketch) ",
        );
        upsert.push_values(chunk, |mut values, ((proxy, hour), rollup)| {
            values
                .push_bind(key)
                .push_bind(proxy.hyphenated().to_string())
                .push_bind(*hour)
                .push_bind(to_count(rollup.checks))
                .push_bind(to_count(rollup.ok))
                .push_bind(to_count(rollup.unhealthy))
                .push_bind(to_count(rollup.unreachable))
                .push_bind(rollup.latency_max_us.map(to_count))
                .push_bind(rollup.sketch.encode());
        });
        upsert.push(
            " ON CONFLICT (vantage, proxy_id, hour) DO UPDATE SET \
             checks = excluded.checks, ok = excluded.ok, unhealthy = excluded.unhealthy, \
             unreachable = excluded.unreachable, latency_max_us = excluded.latency_max_us, \
             sketch = excluded.sketch",
        );
        upsert.build().execute(&mut *conn).await.map_err(db_err)?;
    }
    Ok(())
}

/// Writes what was held for each vantage (by key) in one transaction: its
/// readings, and its rollups added to the stored rows. A vantage deleted
/// meanwhile is left out.
async fn write_shares(
    writer: &SqlitePool,
    shares: &[(String, VantageShare)],
) -> Result<(), StoreError> {
    let mut tx = writer.begin().await.map_err(db_err)?;
    for (key, share) in shares {
        let id: Option<String> =
            sqlx::query_scalar("SELECT id FROM proxyhealth_vantages WHERE name_key = ?")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        let Some(id) = id else { continue };
        write_readings(&mut tx, &id, &share.readings).await?;
        if share.rollups.is_empty() {
            continue;
        }
        let keys: Vec<(Uuid, i64)> = share.rollups.iter().map(|(at, _)| *at).collect();
        let mut stored = read_rollups(&mut tx, key, &keys).await?;
        let rows: Vec<((Uuid, i64), Rollup)> = share
            .rollups
            .iter()
            .map(|(at, adding)| {
                let mut row = stored.remove(at).unwrap_or_default();
                row.merge(adding);
                (*at, row)
            })
            .collect();
        upsert_rollups(&mut tx, key, &rows).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(())
}

/// Readings split in two by [`split_by_change`].
type Split = (Vec<(Uuid, VantageReading)>, Vec<(Uuid, VantageReading)>);

/// The readings of `intake` whose proxies changed status in it (written at
/// once), and the others (held).
fn split_by_change(intake: &VantageIntake) -> Split {
    let changed: HashSet<Uuid> = intake
        .history
        .transitions
        .iter()
        .map(|t| t.proxy_id)
        .collect();
    intake
        .readings
        .iter()
        .cloned()
        .partition(|(proxy, _)| changed.contains(proxy))
}

/// The stored rollup rows of the vantage keyed `key` for `keys`
/// ((proxy, hour), sorted), a few hundred per statement.
async fn read_rollups(
    conn: &mut SqliteConnection,
    key: &str,
    keys: &[(Uuid, i64)],
) -> Result<HashMap<(Uuid, i64), Rollup>, StoreError> {
    let mut stored = HashMap::new();
    // sorted by proxy then hour: one statement per hour's run of proxies
    let mut by_hour: HashMap<i64, Vec<Uuid>> = HashMap::new();
    for (proxy, hour) in keys {
        by_hour.entry(*hour).or_default().push(*proxy);
    }
    for (hour, proxies) in by_hour {
        for chunk in proxies.chunks(ROWS_PER_STATEMENT) {
            let mut select: QueryBuilder<Sqlite> = QueryBuilder::new(
                "SELECT proxy_id, checks, ok, unhealthy, unreachable, latency_max_us, sketch \
                 FROM proxyhealth_vantage_rollups WHERE vantage = ",
            );
            select.push_bind(key);
            select.push(" AND hour = ");
            select.push_bind(hour);
            select.push(" AND proxy_id IN (");
            let mut ids = select.separated(", ");
            for proxy in chunk {
                ids.push_bind(proxy.hyphenated().to_string());
            }
            select.push(")");
            let rows = select.build().fetch_all(&mut *conn).await.map_err(db_err)?;
            for row in &rows {
                let proxy = uuid_of(row.try_get::<&str, _>("proxy_id").map_err(db_err)?)?;
                stored.insert((proxy, hour), rollup_of(row)?);
            }
        }
    }
    Ok(stored)
}

/// The id of the vantage named `vantage` (ignoring case), or `NotFound`.
async fn vantage_id(
    conn: &mut sqlx::SqliteConnection,
    vantage: &VantageName,
) -> Result<String, VantageError> {
    sqlx::query_scalar("SELECT id FROM proxyhealth_vantages WHERE name_key = ?")
        .bind(vantage.as_str().to_lowercase())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or_else(|| VantageError::NotFound(vantage.to_string()))
}

/// A per-vantage rollup row.
fn rollup_of(row: &SqliteRow) -> Result<Rollup, StoreError> {
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
fn transition_of(row: &SqliteRow, vantage: &VantageName) -> Result<VantageTransition, StoreError> {
    let from: Option<String> = row.try_get("from_status").map_err(db_err)?;
    let to: String = row.try_get("to_status").map_err(db_err)?;
    let report: String = row.try_get("report").map_err(db_err)?;
    Ok(VantageTransition {
        proxy_id: uuid_of(row.try_get::<&str, _>("proxy_id").map_err(db_err)?)?,
        vantage: vantage.clone(),
        at: from_nanos(row.try_get("at").map_err(db_err)?)?,
        from: from.as_deref().map(parse_status).transpose()?,
        to: parse_status(&to)?,
        report: report_from_json(&report)?,
    })
}

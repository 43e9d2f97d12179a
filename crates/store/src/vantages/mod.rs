//! Vantages and their agent tokens: the places probes come from besides the
//! service's own replicas. An agent proves its vantage with a token of the
//! proxy tokens' form (`<vantage uuid>:<64 hex>`), of which only the hash of
//! the secret half is kept; rotating it or deleting the vantage makes the old
//! token fail on the next request.
//!
//! Each vantage's newest reading of each proxy is kept too, so a restarted
//! service loses no vantage's newest result: a reading replaces a kept one
//! only when it is at least as new, so writes that arrive out of order never
//! bring an older result back. A vantage's readings are deleted with it, a
//! proxy's with the proxy.
//!
//! Each vantage also keeps its own history of each proxy (the
//! `vantage_history` migration): its status changes after its own hysteresis
//! and its hourly rollups, written once per batch of results and pruned by
//! age with the rest of the history. The rows are keyed by the vantage's
//! name (the `vantage_history_by_name` migration), so the service's own
//! vantage and each replica vantage keep one too; an agents' vantage's rows
//! are deleted with it.
//!
//! The agents of each vantage are kept too (the `vantage_agents`
//! migration), as each replica last saw them, so every replica of a cluster
//! lists the agents that reach any of them, and a restarted service knows
//! them at once.
//!
//! # Layout
//! - `memory`, `sqlite`, `postgres`: [`VantageStore`] on each backend (the
//!   `vantages`, `vantage_readings`, `vantage_history` and `vantage_agents`
//!   migrations on the databases).
//! - `history`: the rollup arithmetic the backends share.

pub(crate) mod history;
pub(crate) mod memory;
pub(crate) mod postgres;
pub(crate) mod sqlite;
pub(crate) mod unwritten;

use std::collections::HashMap;
use std::sync::Arc;

use proxyhealth_core::validate::FieldError;
use proxyhealth_core::{
    OwnHistoryRecorder, RecordError, Status, VantageHistory, VantageName, VantageReading,
    VantageTransition,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::history::retention::OtherHistory;
use crate::token::{self, MintedToken};
use crate::{HourBucket, StoreError};

/// One vantage's history of one proxy over a window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VantageWindow {
    /// The vantage's status of the proxy when the window started, if one was
    /// recorded before it.
    pub status_at_start: Option<Status>,
    /// The hours with checks from that vantage, oldest first.
    pub buckets: Vec<HourBucket>,
    /// The vantage's status changes in the window, oldest first.
    pub transitions: Vec<VantageTransition>,
}

/// What [`VantageStore::flush`] writes of what a store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// What has been held as long as the store holds it.
    Due,
    /// Everything held (the service is stopping).
    Everything,
}

/// One vantage's share of what its agents' results added over a short
/// while (several batches), to keep in one go with
/// [`VantageStore::keep_intakes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VantageIntake {
    /// The vantage (by name, ignoring case).
    pub vantage: VantageName,
    /// Its new readings (proxy id, reading), as
    /// [`VantageStore::keep_readings`] keeps them.
    pub readings: Vec<(Uuid, VantageReading)>,
    /// What they add to its history, as [`VantageStore::record_history`]
    /// writes it.
    pub history: VantageHistory,
}

/// Most agents kept per vantage: the ids are the agents' own choice, so a
/// broken agent making a new one per request cannot grow the table (or a
/// replica's memory) without bound; the longest unseen go first.
pub const MAX_AGENTS_PER_VANTAGE: usize = 64;

/// An agent of a vantage as a replica last saw it: kept with
/// [`VantageStore::keep_agents`], so every replica of a cluster lists (and
/// shares its vantage's proxies among) the agents that reach any of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSighting {
    /// Its vantage (by name, ignoring case).
    pub vantage: VantageName,
    /// The id the agent names itself with.
    pub agent: String,
    /// The version it states.
    pub version: String,
    /// The address it last connected from.
    pub address: Option<String>,
    /// When it last fetched its assignment or sent results (the seeing
    /// replica's clock).
    pub last_seen: OffsetDateTime,
    /// How many proxies it was last assigned.
    pub assigned: u64,
    /// How far behind its last batch was, in milliseconds.
    pub lag_ms: Option<u64>,
    /// When its last batch arrived.
    pub last_result_at: Option<OffsetDateTime>,
}

/// A vantage as stored (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vantage {
    /// Its id, the first half of its agents' token.
    pub id: Uuid,
    /// Its name, unique ignoring case.
    pub name: VantageName,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When its token was last minted (created or rotated).
    pub token_minted_at: OffsetDateTime,
}

/// A vantage with the token just minted for it, shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedVantage {
    /// The vantage.
    pub vantage: Vantage,
    /// `<vantage uuid>:<64 hex>`; only its hash is kept.
    pub token: String,
}

/// Why a vantage could not be created, found or changed.
#[derive(Debug, thiserror::Error)]
pub enum VantageError {
    /// The name breaks the name rule.
    #[error("{0}")]
    Invalid(#[from] FieldError),
    /// Another vantage has this name (ignoring case).
    #[error("a vantage named {0:?} already exists")]
    Taken(String),
    /// No vantage has this name.
    #[error("no vantage named {0:?}")]
    NotFound(String),
    /// The store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Why an agent token was refused, in words an agent can print.
#[derive(Debug, thiserror::Error)]
pub enum AgentTokenError {
    /// Not `<uuid>:<64 hex>`.
    #[error("malformed agent token")]
    Malformed,
    /// No vantage has the token's id: it was deleted (or never existed).
    #[error("the agent token's vantage does not exist (deleted?)")]
    UnknownVantage,
    /// The secret is not the vantage's current one: it was rotated.
    #[error("the agent token is not the vantage's current token (rotated?)")]
    WrongSecret,
    /// The store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The vantages and their tokens, on one backend.
#[async_trait::async_trait]
pub trait VantageStore: Send + Sync + std::fmt::Debug {
    /// Creates a vantage named `name` with a fresh token.
    async fn create(&self, name: &str) -> Result<MintedVantage, VantageError>;

    /// Every vantage, by name.
    async fn list(&self) -> Result<Vec<Vantage>, VantageError>;

    /// Deletes the vantage named `name` (ignoring case); its token stops
    /// working at once.
    async fn delete(&self, name: &str) -> Result<(), VantageError>;

    /// Mints a new token for the vantage named `name`; the old one stops
    /// working at once.
    async fn rotate_token(&self, name: &str) -> Result<MintedVantage, VantageError>;

    /// The vantage whose current token `token` is, compared in constant time.
    async fn verify_token(&self, token: &str) -> Result<Vantage, AgentTokenError>;

    /// Keeps `readings` (proxy id, reading) as the vantage named `vantage`'s
    /// (ignoring case; the readings' own `vantage` fields are not consulted),
    /// in one transaction, and returns how many were written.
    ///
    /// Each replaces the kept reading of its proxy only when it was checked
    /// no earlier (the same result sent again is written again; an older one
    /// never replaces a newer, whatever order writes arrive in); of several
    /// readings of one proxy only the newest counts. Readings of proxies that
    /// do not exist or are deleted are not written (a proxy deleted while its
    /// results were on their way). PostgreSQL compares times to the
    /// microsecond, the others to the nanosecond.
    ///
    /// [`VantageError::NotFound`] when no vantage has that name (it was
    /// deleted meanwhile): nothing is written.
    async fn keep_readings(
        &self,
        vantage: &VantageName,
        readings: &[(Uuid, VantageReading)],
    ) -> Result<usize, VantageError>;

    /// Every kept reading (proxy id, reading) of every vantage, by vantage
    /// name, then proxy id; each reading's `vantage` is its vantage's name.
    async fn readings(&self) -> Result<Vec<(Uuid, VantageReading)>, VantageError>;

    /// Writes what a batch of the vantage named `vantage`'s results adds to
    /// its history (its checks into its hourly rollups, its status changes),
    /// in one transaction. [`VantageError::NotFound`] when no vantage has
    /// that name: nothing is written.
    async fn record_history(
        &self,
        vantage: &VantageName,
        history: &VantageHistory,
    ) -> Result<(), VantageError>;

    /// Keeps several vantages' intakes: each one's readings as
    /// [`VantageStore::keep_readings`] and its history as
    /// [`VantageStore::record_history`] would, so a short while of results
    /// costs one write however many batches it came in. Returns the names
    /// of the vantages that no longer exist (deleted meanwhile): nothing of
    /// theirs is written.
    ///
    /// The default makes the two calls per vantage. The SQLite store writes
    /// only the status changes and their readings at once and holds the rest
    /// for [`VantageStore::flush`] (see its module docs); what it holds is
    /// read as kept ([`VantageStore::readings`], [`VantageStore::history`]).
    async fn keep_intakes(
        &self,
        intakes: &[VantageIntake],
    ) -> Result<Vec<VantageName>, StoreError> {
        let mut gone = Vec::new();
        for intake in intakes {
            let kept = match self.keep_readings(&intake.vantage, &intake.readings).await {
                Ok(_) => self.record_history(&intake.vantage, &intake.history).await,
                Err(err) => Err(err),
            };
            match kept {
                Ok(()) => {}
                Err(VantageError::NotFound(_)) => gone.push(intake.vantage.clone()),
                Err(VantageError::Store(err)) => return Err(err),
                Err(err) => return Err(StoreError::Internal(err.to_string())),
            }
        }
        Ok(gone)
    }

    /// Writes what [`VantageStore::keep_intakes`] holds in memory, as `what`
    /// says, a few thousand rows per transaction so other writes are not
    /// held up; what could not be written is held again for the next call.
    /// The service asks for what is due every second and for everything
    /// when it stops. The default holds nothing.
    async fn flush(&self, what: Flush) -> Result<(), StoreError> {
        let _ = what;
        Ok(())
    }

    /// Keeps `seen` (agents as a replica last saw them): each replaces the
    /// kept sighting of its agent when seen no earlier, and the kept lag
    /// and last batch when its batch is newer; a vantage keeps the
    /// [`MAX_AGENTS_PER_VANTAGE`] agents seen last. Sightings of vantages
    /// that no longer exist are left out.
    async fn keep_agents(&self, seen: &[AgentSighting]) -> Result<(), StoreError>;

    /// Every agent kept, by vantage name, then agent id (byte order).
    async fn agents(&self) -> Result<Vec<AgentSighting>, StoreError>;

    /// Writes what checks of the service's own vantage (or a replica
    /// vantage, `serve --vantage NAME`) named `vantage` add to its history,
    /// in one transaction, as [`VantageStore::record_history`] does for an
    /// agents' vantage but without one of that name being needed. A
    /// transition to the status last recorded for its vantage and proxy is
    /// dropped: replicas of one vantage may each offer the same change.
    async fn record_own_history(
        &self,
        vantage: &VantageName,
        history: &VantageHistory,
    ) -> Result<(), StoreError>;

    /// The history of proxy `proxy_id` as the vantage named `vantage`
    /// (ignoring case) saw it, from the hour holding `since` on
    /// (transitions from `since`). [`VantageError::NotFound`] when no
    /// agents' vantage has that name and no history of a vantage of that
    /// name is kept.
    async fn history(
        &self,
        vantage: &VantageName,
        proxy_id: Uuid,
        since: OffsetDateTime,
    ) -> Result<VantageWindow, VantageError>;

    /// Deletes at most `limit` rows of each per-vantage history table older
    /// than `before` (rollups of earlier hours; transitions before it that a
    /// newer one of the same vantage and proxy follows, so each keeps its
    /// status at the start of any window), and partial outages that ended
    /// before it; returns how many went.
    async fn prune_history(&self, before: OffsetDateTime, limit: u32) -> Result<u64, StoreError>;
}

/// The name checked against the rule, and the key it is unique by.
fn checked_name(name: &str) -> Result<(VantageName, String), VantageError> {
    let name = VantageName::new(name)?;
    let key = name.as_str().to_lowercase();
    Ok((name, key))
}

/// A token for vantage `id`, or the store error the OS's RNG failing is.
fn mint(id: Uuid) -> Result<MintedToken, VantageError> {
    token::mint(id).map_err(|err| VantageError::Store(StoreError::Internal(err.to_string())))
}

/// The id and secret of an agent token.
fn parse(agent_token: &str) -> Result<(Uuid, &str), AgentTokenError> {
    token::parse(agent_token).ok_or(AgentTokenError::Malformed)
}

/// Whether `secret` is the one `stored` hashes, or the error saying it is not.
fn check_secret(secret: &str, stored: &[u8]) -> Result<(), AgentTokenError> {
    if token::secret_matches(secret, stored) {
        Ok(())
    } else {
        Err(AgentTokenError::WrongSecret)
    }
}

/// Of `readings`, one per proxy: the newest (the last of equally new ones),
/// in the order first seen, so a batch upserts each row at most once.
fn newest_per_proxy(readings: &[(Uuid, VantageReading)]) -> Vec<&(Uuid, VantageReading)> {
    let mut at: HashMap<Uuid, usize> = HashMap::with_capacity(readings.len());
    let mut newest: Vec<&(Uuid, VantageReading)> = Vec::with_capacity(readings.len());
    for entry in readings {
        match at.get(&entry.0) {
            Some(&i) if newest[i].1.checked_at > entry.1.checked_at => {}
            Some(&i) => newest[i] = entry,
            None => {
                at.insert(entry.0, newest.len());
                newest.push(entry);
            }
        }
    }
    newest
}

/// What is kept of an agent after `seen` when `kept` was (the rule every
/// backend's upsert follows): the sighting seen last, and the lag of the
/// newest batch.
fn merged_sighting(kept: Option<AgentSighting>, seen: AgentSighting) -> AgentSighting {
    let Some(kept) = kept else {
        return seen;
    };
    let (mut merged, other) = if seen.last_seen >= kept.last_seen {
        (seen, kept)
    } else {
        (kept, seen)
    };
    if other.last_result_at > merged.last_result_at {
        merged.lag_ms = other.lag_ms;
        merged.last_result_at = other.last_result_at;
    }
    merged
}

/// The key a vantage's history rows are kept under: its name, lowercased
/// (names are unique ignoring case).
fn history_key(vantage: &VantageName) -> String {
    vantage.as_str().to_lowercase()
}

/// Of `transitions`, those that change the status last recorded for their
/// proxy (`last`, then each kept one), in order.
fn changing(
    transitions: &[VantageTransition],
    mut last: HashMap<Uuid, Status>,
) -> Vec<&VantageTransition> {
    transitions
        .iter()
        .filter(|t| last.insert(t.proxy_id, t.to) != Some(t.to))
        .collect()
}

/// A reading as stored (JSON).
fn reading_json(reading: &VantageReading) -> Result<String, StoreError> {
    serde_json::to_string(reading)
        .map_err(|err| StoreError::Internal(format!("cannot encode a vantage reading: {err}")))
}

/// A reading read back, as the reading of the vantage named `vantage`.
pub(crate) fn reading_from_json(
    json: &str,
    vantage: VantageName,
) -> Result<VantageReading, StoreError> {
    let mut reading: VantageReading = serde_json::from_str(json)
        .map_err(|err| StoreError::Internal(format!("bad stored vantage reading: {err}")))?;
    reading.vantage = vantage;
    Ok(reading)
}

/// A stored name read back; a row that breaks the rule is the store's fault.
pub(crate) fn stored_name(name: &str) -> Result<VantageName, StoreError> {
    VantageName::new(name)
        .map_err(|err| StoreError::Internal(format!("stored vantage name {name:?}: {err}")))
}

/// The vantages' own history as the retention task prunes it.
pub fn pruning(vantages: Arc<dyn VantageStore>) -> Arc<dyn OtherHistory> {
    Arc::new(Pruning(vantages))
}

struct Pruning(Arc<dyn VantageStore>);

#[async_trait::async_trait]
impl OtherHistory for Pruning {
    async fn prune_history(&self, before: OffsetDateTime, limit: u32) -> Result<u64, StoreError> {
        self.0.prune_history(before, limit).await
    }
}

/// The own vantage's history as the engine (or a cluster replica) hands it
/// over: written by [`VantageStore::record_own_history`].
pub fn own_history_recorder(vantages: Arc<dyn VantageStore>) -> Arc<dyn OwnHistoryRecorder> {
    Arc::new(OwnRecorder(vantages))
}

struct OwnRecorder(Arc<dyn VantageStore>);

#[async_trait::async_trait]
impl OwnHistoryRecorder for OwnRecorder {
    async fn record_own(
        &self,
        vantage: &VantageName,
        history: VantageHistory,
    ) -> Result<(), RecordError> {
        self.0
            .record_own_history(vantage, &history)
            .await
            .map_err(|err| RecordError::new(format!("own vantage history: {err}")))
    }
}

//! Proxy stores for proxyhealth: where the fleet's proxies, their token hashes
//! and the admin token hash live.
//!
//! # Backends
//! - [`MemoryStore`]: in memory, for tests (`memory:`).
//! - [`SqliteStore`]: one file, the embedded default.
//! - [`PgStore`]: PostgreSQL with our own migrations, or attached read-only to an
//!   existing Coder database.
//!
//! All of them implement [`ProxyStore`] (and so [`proxyhealth_core::ProxySource`],
//! what the engine reads) with the same rules and typed [`StoreError`]s.
//!
//! # Several replicas
//! On PostgreSQL, [`ProxyStore::coordination`] gives a [`Coordination`]
//! ([`PgCoordination`]): membership, leased probing with fenced writes, the
//! shared view of results and its notifications, observations. Each concern
//! is a trait of its own ([`Membership`], [`Claims`], [`SharedView`],
//! [`Observations`]); [`MemoryCoordination`] implements them in one process,
//! for tests of the replica runtime without a database. SQLite is one writer:
//! [`ProxyStore::instance_lock`] makes a second `serve` on the same file refuse
//! to start, naming the running one.
//!
//! # Layout
//! - [`error`]: [`StoreError`], [`TokenError`] and the mapping of database errors.
//! - [`token`]: minting, parsing and hashing proxy tokens.
//! - [`model`]: the inputs ([`NewProxy`], [`ProxyUpdate`], [`Registration`]) and
//!   [`CreatedProxy`].
//! - `store`: the [`ProxyStore`] trait.
//! - `rules`: the validation shared by every backend.
//! - `open_options`: [`OpenOptions`] and [`redact`], read by `open` and the
//!   backend it opens.
//! - `open`: [`open_store`] picks and opens a backend from a spec string.
//! - [`coordination`]: the coordination traits, one per concern, their sum
//!   [`Coordination`], and their types.
//! - `pg_coordination`: [`PgCoordination`], the PostgreSQL implementation,
//!   one module per concern.
//! - `memory_coordination`: [`MemoryCoordination`], the in-memory
//!   implementation on tokio's clock, one module per concern.
//! - `pg_listener`: [`PgNoticeListener`], the reconnecting notification listener.
//! - `pg_own_state`: proxyhealth's own tables in a schema of an attached Coder
//!   database (`--coordination-schema`), so attached replicas coordinate too.
//! - `migrations`: our SQL migrations per backend, embedded in the binary.
//! - `pg_pool`: opening PostgreSQL pools (checked at open, read-only when
//!   attached, our own schema made and migrated), used by `postgres`.
//! - [`instance`]: the SQLite instance lock ([`InstanceGuard`]).
//! - [`history`]: persisted history: [`HistoryStore`] (through
//!   [`ProxyStore::history`]), its statements per backend, the window and
//!   incident views, and retention.
//! - [`clock`]: [`StoreClock`], the time the in-memory store and
//!   coordination read, which tests move instead of waiting.
//! - `columns`: how a transition's values are kept in a column, shared by
//!   the history's and the outbox's tables (a leaf both use).
//! - `journal`: the one transaction per batch that writes history and the
//!   notification outbox beside it, on each backend, and each
//!   writer's journal state (`Journal`), above both `history` and `outbox`.
//! - [`outbox`]: the notification outbox: [`Outbox`] (through
//!   [`ProxyStore::outbox`]), rows written by the journal, claimed with a
//!   lease by the delivery worker, per backend.
//! - [`partial`]: partial outages kept as incidents naming their vantages
//!   (written through [`HistoryStore::record_partial`]), per backend.
//! - [`vantages`]: [`VantageStore`] (through [`ProxyStore::vantages`]): the
//!   places probes come from besides the replicas, their agents' hashed
//!   tokens, and each vantage's newest reading of each proxy, per backend.
//! - [`personal_tokens`]: [`PersonalTokenStore`] (through
//!   [`ProxyStore::personal_tokens`]): the tokens people act with, each with
//!   a role, hashed, revoked rather than deleted, per backend.
//! - [`audit`]: [`AuditLog`] (through [`ProxyStore::audit`]): what people did
//!   through the API, per backend, and its retention.
//! - [`maintenance`]: [`MaintenanceStore`] (through
//!   [`ProxyStore::maintenance`]): the maintenance windows, per backend.
//! - [`sessions`]: [`SessionStore`] (through [`ProxyStore::sessions`]): the
//!   dashboard's logins under way and signed-in sessions, by hash, per backend.
//! - `history_db`: the SQLite and PostgreSQL stores' [`HistoryStore`]s:
//!   recording through the journal, reads and pruning through `history`.

pub mod audit;
mod chunked;
pub mod clock;
mod columns;
pub mod coordination;
pub mod error;
pub mod history;
mod history_db;
pub mod instance;
mod journal;
pub mod maintenance;
mod memory;
mod memory_coordination;
mod migrations;
pub mod model;
mod open;
mod open_options;
pub mod outbox;
pub mod partial;
pub mod personal_tokens;
mod pg_coordination;
mod pg_listener;
mod pg_own_state;
mod pg_pool;
mod postgres;
mod rules;
pub mod sessions;
mod sqlite;
mod store;
pub mod token;
pub mod vantages;

pub use audit::{AuditFilter, AuditLog, AuditRecord, NewAuditEntry};
pub use clock::StoreClock;
pub use coordination::{
    Claim, Claims, Coordination, Disagreement, KeptReadings, ListenerStats, Membership, Notice,
    NoticeSource, Observation, Observations, ReplicaId, ReplicaInfo, ReplicaRow, ResultBatch,
    ResultRow, ResultWrite, SharedView, WriteOutcome,
};
pub use error::{StoreError, TokenError};
pub use history::{HistoryStore, HourBucket, Pruned, UptimeCounts, partial_recorder};
pub use instance::{InstanceGuard, InstanceInfo, InstanceLockError};
pub use maintenance::{MaintenanceError, MaintenanceStore};
pub use memory::MemoryStore;
pub use memory_coordination::MemoryCoordination;
pub use model::{CreatedProxy, NewProxy, ProxyUpdate, Registration};
pub use open::{default_sqlite_path, open_store};
pub use open_options::{OpenOptions, redact};
pub use outbox::{AttemptFailure, DeliveryState, Notification, Outbox, OutboxPolicy};
pub use partial::PartialOutage;
pub use personal_tokens::{
    MintedPersonalToken, NewPersonalToken, PersonalToken, PersonalTokenError, PersonalTokenRefusal,
    PersonalTokenStore,
};
pub use pg_coordination::{CoordinationSettings, PgCoordination};
pub use pg_listener::{DUE_CHANNEL, ListenerSettings, PgNoticeListener, RESULTS_CHANNEL};
pub use postgres::PgStore;
pub use sessions::{PendingLogin, SessionRecord, SessionStore};
pub use sqlite::SqliteStore;
pub use store::ProxyStore;
pub use vantages::{
    AgentSighting, AgentTokenError, Flush, MAX_AGENTS_PER_VANTAGE, MintedVantage, Vantage,
    VantageError, VantageIntake, VantageStore, VantageWindow,
};

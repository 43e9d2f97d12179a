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
//! # Layout
//! - [`error`]: [`StoreError`], [`TokenError`] and the mapping of database errors.
//! - [`token`]: minting, parsing and hashing proxy tokens.
//! - [`model`]: the inputs ([`NewProxy`], [`ProxyUpdate`], [`Registration`]) and
//!   [`CreatedProxy`].
//! - `store`: the [`ProxyStore`] trait.
//! - `rules`: the validation shared by every backend.
//! - `open`: [`open_store`] picks and opens a backend from a spec string.

pub mod error;
mod memory;
pub mod model;
mod open;
mod postgres;
mod rules;
mod sqlite;
mod store;
pub mod token;

pub use error::{StoreError, TokenError};
pub use memory::MemoryStore;
pub use model::{CreatedProxy, NewProxy, ProxyUpdate, Registration};
pub use open::{OpenOptions, default_sqlite_path, open_store, redact};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use store::ProxyStore;

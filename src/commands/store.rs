//! Opening the configured store, shared by `serve` and `check`.

use crate::config::StoreSettings;
use crate::exit::usage;
use proxyhealth_store::{OpenOptions, ProxyStore, StoreError, default_sqlite_path, open_store};
use std::sync::Arc;

/// The store spec in force: the configured one, or the default SQLite file.
pub fn spec(settings: &StoreSettings) -> String {
    match &settings.db {
        Some(db) => db.clone(),
        None => format!("sqlite://{}", default_sqlite_path().display()),
    }
}

/// Opens the configured store. A bad spec is a usage error (exit 2) naming the
/// value; a database that cannot be opened is a run-time error (exit 1).
pub async fn open(settings: &StoreSettings) -> anyhow::Result<Arc<dyn ProxyStore>> {
    let spec = spec(settings);
    let options = OpenOptions {
        coder_attach: settings.coder,
        ..OpenOptions::default()
    };
    match open_store(&spec, options).await {
        Ok(store) => Ok(store),
        Err(StoreError::Config(message)) => Err(usage(format!("--db: {message}"))),
        Err(err) => Err(anyhow::Error::new(err).context("opening the store")),
    }
}

//! The configured store, shared by `serve` and `check`.

use crate::config::StoreSettings;
use crate::exit::app_error;
use proxyhealth_server::AppStore;
use proxyhealth_store::{OpenOptions, ProxyStore, default_sqlite_path};
use std::sync::Arc;

/// The store spec in force: the configured one, or the default SQLite file.
pub fn spec(settings: &StoreSettings) -> String {
    match &settings.db {
        Some(db) => db.clone(),
        None => format!("sqlite://{}", default_sqlite_path().display()),
    }
}

/// The configured store, for [`proxyhealth_server::Application`] to open.
pub fn app_store(settings: &StoreSettings) -> AppStore {
    AppStore::Open {
        spec: spec(settings),
        options: OpenOptions {
            coder_attach: settings.coder,
            coordination_schema: settings.coordination_schema.clone(),
            ..OpenOptions::default()
        },
    }
}

/// Opens the configured store. A bad spec is a usage error (exit 2) naming the
/// value; a database that cannot be opened is a run-time error (exit 1).
pub async fn open(settings: &StoreSettings) -> anyhow::Result<Arc<dyn ProxyStore>> {
    app_store(settings).open().await.map_err(app_error)
}

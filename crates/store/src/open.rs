//! Opening a store from a spec string (`--store` / `PROXYHEALTH_STORE`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::open_options::{OpenOptions, redact};
use crate::{MemoryStore, PgStore, ProxyStore, SqliteStore, StoreError};

/// Where a store spec points.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Spec {
    Memory,
    Sqlite(PathBuf),
    Postgres(String),
}

/// Opens the store named by `spec`:
///
/// - `sqlite://PATH`, `sqlite:PATH` or a bare file path: [`SqliteStore`] (the
///   file and its parent directories are created);
/// - `postgres://…` or `postgresql://…`: [`PgStore`], migrated, or attached
///   read-only to a Coder database when `options.coder_attach` is set;
/// - `memory:`: [`MemoryStore`] (nothing is kept).
///
/// Anything else is a [`StoreError::Config`] naming the value (passwords
/// hidden). A database that cannot be reached is a [`StoreError::Unavailable`].
pub async fn open_store(
    spec: &str,
    options: OpenOptions,
) -> Result<Arc<dyn ProxyStore>, StoreError> {
    let parsed = parse_spec(spec)?;
    if options.coder_attach && !matches!(parsed, Spec::Postgres(_)) {
        return Err(StoreError::Config(format!(
            "attaching to a Coder database needs a postgres:// URL, got {}",
            redact(spec)
        )));
    }
    if let Some(schema) = &options.coordination_schema
        && !options.coder_attach
    {
        return Err(StoreError::Config(format!(
            "the coordination schema {schema:?} is for a Coder attach (--coder): on its own \
             database proxyhealth keeps its coordination tables beside its proxies"
        )));
    }
    Ok(match parsed {
        Spec::Memory => Arc::new(MemoryStore::with_outbox_policy(
            options.outbox_policy.clone(),
        )),
        Spec::Sqlite(path) => Arc::new(SqliteStore::open_with(&path, &options).await?),
        Spec::Postgres(url) if options.coder_attach => {
            Arc::new(PgStore::attach_coder(&url, &options).await?)
        }
        Spec::Postgres(url) => Arc::new(PgStore::open(&url, &options).await?),
    })
}

fn parse_spec(spec: &str) -> Result<Spec, StoreError> {
    let trimmed = spec.trim();
    if trimmed.is_empty() {
        return Err(StoreError::Config(
            "the store is empty: use sqlite://PATH, postgres://…, memory: or a file path".into(),
        ));
    }
    if trimmed == "memory:" || trimmed == "memory://" {
        return Ok(Spec::Memory);
    }
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        return Ok(Spec::Postgres(trimmed.to_owned()));
    }
    if let Some(rest) = trimmed.strip_prefix("sqlite:") {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() {
            return Err(StoreError::Config(format!("{spec:?} names no SQLite file")));
        }
        return Ok(Spec::Sqlite(PathBuf::from(path)));
    }
    if let Some((scheme, _)) = trimmed.split_once(':')
        && looks_like_scheme(scheme)
    {
        return Err(StoreError::Config(format!(
            "unsupported store {}: use sqlite://PATH, postgres://…, memory: or a file path",
            redact(trimmed)
        )));
    }
    Ok(Spec::Sqlite(PathBuf::from(trimmed)))
}

/// Whether `s` could be a URL scheme (a letter, then letters, digits, `+-.`).
fn looks_like_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// The default SQLite file: `$XDG_DATA_HOME/proxyhealth/proxyhealth.db` when
/// `XDG_DATA_HOME` is an absolute path, else
/// `$HOME/.local/share/proxyhealth/proxyhealth.db`, else `./proxyhealth.db`.
pub fn default_sqlite_path() -> PathBuf {
    default_sqlite_path_from(
        std::env::var_os("XDG_DATA_HOME").as_deref().map(Path::new),
        std::env::var_os("HOME").as_deref().map(Path::new),
    )
}

fn default_sqlite_path_from(xdg_data_home: Option<&Path>, home: Option<&Path>) -> PathBuf {
    if let Some(xdg) = xdg_data_home.filter(|p| p.is_absolute()) {
        return xdg.join("proxyhealth").join("proxyhealth.db");
    }
    if let Some(home) = home.filter(|p| !p.as_os_str().is_empty()) {
        return home.join(".local/share/proxyhealth/proxyhealth.db");
    }
    PathBuf::from("proxyhealth.db")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_pick_their_backend() {
        assert_eq!(parse_spec("memory:"), Ok(Spec::Memory));
        assert_eq!(
            parse_spec("sqlite:///var/x.db"),
            Ok(Spec::Sqlite("/var/x.db".into()))
        );
        assert_eq!(
            parse_spec("sqlite://rel/x.db"),
            Ok(Spec::Sqlite("rel/x.db".into()))
        );
        assert_eq!(parse_spec("sqlite:x.db"), Ok(Spec::Sqlite("x.db".into())));
        assert_eq!(
            parse_spec("./data/x.db"),
            Ok(Spec::Sqlite("./data/x.db".into()))
        );
        assert_eq!(
            parse_spec("/abs/x.db"),
            Ok(Spec::Sqlite("/abs/x.db".into()))
        );
        assert_eq!(
            parse_spec("postgresql://u@h/db"),
            Ok(Spec::Postgres("postgresql://u@h/db".into()))
        );
    }

    #[test]
    fn an_unknown_scheme_is_refused_naming_the_value_without_its_password() {
        let err = parse_spec("mysql://root:hunter2@db/x").expect_err("unknown");
        let text = err.to_string();
        assert!(text.contains("mysql://root:xxxxx@db/x"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(parse_spec("").is_err());
        assert!(parse_spec("sqlite://").is_err());
    }

    #[test]
    fn the_default_path_follows_xdg_then_home_then_the_current_directory() {
        assert_eq!(
            default_sqlite_path_from(Some(Path::new("/xdg")), Some(Path::new("/home/a"))),
            PathBuf::from("/xdg/proxyhealth/proxyhealth.db")
        );
        assert_eq!(
            default_sqlite_path_from(Some(Path::new("relative")), Some(Path::new("/home/a"))),
            PathBuf::from("/home/a/.local/share/proxyhealth/proxyhealth.db")
        );
        assert_eq!(
            default_sqlite_path_from(None, None),
            PathBuf::from("proxyhealth.db")
        );
    }
}

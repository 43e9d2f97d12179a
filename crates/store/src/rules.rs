//! The rules every store applies before writing, shared so each backend gives
//! the same typed errors.

use proxyhealth_core::validate::{
    validate_access_url, validate_derp_flags, validate_display_name, validate_icon, validate_name,
    validate_version, validate_wildcard_hostname,
};
use time::OffsetDateTime;

use crate::{NewProxy, ProxyUpdate, Registration, StoreError};

/// Checks the fields of a proxy to create.
pub(crate) fn check_new(new: &NewProxy) -> Result<(), StoreError> {
    validate_name(&new.name)?;
    validate_display_name(&new.display_name)?;
    validate_icon(&new.icon)?;
    Ok(())
}

/// Checks the fields an update sets.
pub(crate) fn check_update(update: &ProxyUpdate) -> Result<(), StoreError> {
    if let Some(name) = &update.name {
        validate_name(name)?;
    }
    if let Some(display_name) = &update.display_name {
        validate_display_name(display_name)?;
    }
    if let Some(icon) = &update.icon {
        validate_icon(icon)?;
    }
    Ok(())
}

/// Checks what a proxy registers.
pub(crate) fn check_registration(reg: &Registration) -> Result<(), StoreError> {
    validate_access_url(&reg.url)?;
    validate_wildcard_hostname(&reg.wildcard_hostname)?;
    validate_derp_flags(reg.derp_enabled, reg.derp_only)?;
    validate_version(&reg.version)?;
    Ok(())
}

/// The case-folded form names are compared in (ASCII, as SQLite's `lower()`).
pub(crate) fn fold_name(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// The current time truncated to microseconds, the precision PostgreSQL keeps,
/// so every backend returns the same timestamps it stored.
pub(crate) fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    let micros = now.nanosecond() / 1_000 * 1_000;
    now.replace_nanosecond(micros).unwrap_or(now)
}

/// Turns an OS RNG failure into a store error.
pub(crate) fn rng_error(err: rand::rand_core::OsError) -> StoreError {
    StoreError::Internal(format!("the OS random number generator failed: {err}"))
}

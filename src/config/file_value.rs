//! How one value of the TOML file is read: the `deserialize_with` functions the
//! groups' fields name.
//!
//! Each accepts any TOML value and refuses a wrong one with only the reason
//! (`expected a string`, `must be at least 1`, ...); [`super::file`] adds the key
//! and the value, so every message reads
//! ``invalid value {value} for `{key}`: {reason}``.

use super::settings::LogFormat;
use super::units::{
    parse_ca_mode, parse_dns_server, parse_duration, parse_positive_byte_size,
    parse_positive_duration,
};
use proxyhealth_engine::CaMode;
use serde::Deserialize;
use serde::de::{Deserializer, Error as _};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Reads any TOML value and converts it; a refusal carries only the reason.
fn read<'de, D, T>(
    deserializer: D,
    convert: impl FnOnce(&toml::Value) -> Result<T, String>,
) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
{
    let value = toml::Value::deserialize(deserializer)?;
    convert(&value).map(Some).map_err(D::Error::custom)
}

/// A string, taken as it is.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    read(d, |value| {
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "expected a string".to_owned())
    })
}

/// `true` or `false`.
pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    read(d, |value| {
        value
            .as_bool()
            .ok_or_else(|| "expected true or false".to_owned())
    })
}

/// A whole number of at least 1.
pub fn positive<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    read(d, |value| {
        let number = value
            .as_integer()
            .ok_or_else(|| "expected a whole number".to_owned())?;
        if number < 1 {
            return Err("must be at least 1".to_owned());
        }
        T::try_from(number).map_err(|_| "too large".to_owned())
    })
}

/// A duration string of more than zero, as [`parse_positive_duration`] reads it.
pub fn positive_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    read(d, |value| parse_str(value, parse_positive_duration))
}

/// A duration string, zero allowed, as [`parse_duration`] reads it.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    read(d, |value| parse_str(value, parse_duration))
}

/// A file path (relative paths are relative to the working directory, as on
/// the command line).
pub fn path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    read(d, |value| {
        parse_str(value, |text| {
            if text.is_empty() {
                Err("expected a file path, not an empty string".to_owned())
            } else {
                Ok(PathBuf::from(text))
            }
        })
    })
}

/// `add` or `replace`.
pub fn ca_mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<CaMode>, D::Error> {
    read(d, |value| parse_str(value, parse_ca_mode))
}

/// A number of bytes, or a size string as [`parse_positive_byte_size`] reads it.
pub fn byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    read(d, |value| match value {
        toml::Value::Integer(n) if *n >= 1 => Ok(n.unsigned_abs()),
        toml::Value::Integer(_) => Err("must be at least 1 byte".to_owned()),
        toml::Value::String(text) => parse_positive_byte_size(text),
        _ => Err("expected bytes or a size like \"1MiB\"".to_owned()),
    })
}

/// An address to listen on, `IP:PORT`.
pub fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    read(d, |value| {
        parse_str(value, |text| {
            text.parse::<SocketAddr>()
                .map_err(|err| format!("{err} (expected e.g. 127.0.0.1:8080)"))
        })
    })
}

/// A DNS server, `IP:PORT` or an IP alone, as [`parse_dns_server`] reads it.
pub fn dns_server<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    read(d, |value| parse_str(value, parse_dns_server))
}

/// A local IP address.
pub fn ip_addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
    read(d, |value| {
        parse_str(value, |text| {
            text.parse::<IpAddr>()
                .map_err(|err| format!("{err} (expected an IP address, e.g. 127.0.0.2)"))
        })
    })
}

/// `human` or `json`.
pub fn log_format<'de, D: Deserializer<'de>>(d: D) -> Result<Option<LogFormat>, D::Error> {
    read(d, |value| parse_str(value, str::parse::<LogFormat>))
}

/// A vantage's name, by the name rule.
pub fn vantage<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<proxyhealth_core::VantageName>, D::Error> {
    read(d, |value| {
        parse_str(value, |text| {
            proxyhealth_core::VantageName::new(text).map_err(|err| err.detail)
        })
    })
}

/// `majority` or a whole number from 1.
pub fn quorum<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<proxyhealth_core::Quorum>, D::Error> {
    read(d, |value| match value {
        toml::Value::Integer(n) => n
            .to_string()
            .parse()
            .map_err(|err: proxyhealth_core::vantage::QuorumError| err.to_string()),
        _ => parse_str(value, |text| {
            text.parse()
                .map_err(|err: proxyhealth_core::vantage::QuorumError| err.to_string())
        }),
    })
}

fn parse_str<T>(
    value: &toml::Value,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, String> {
    parse(
        value
            .as_str()
            .ok_or_else(|| "expected a string".to_owned())?,
    )
}

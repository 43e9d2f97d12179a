//! `check --output json`: the document one sweep is printed as (described in
//! docs/api.md, "The CLI's JSON"). No server is involved, so this is
//! `check`'s own shape, with its keys in the order written here.

use proxyhealth_core::{Status, redact_url};
use proxyhealth_engine::CheckResult;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use std::borrow::Cow;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// The whole document: every proxy checked, then the counts per status.
#[derive(Debug, Serialize)]
pub struct CheckDocument<'a> {
    /// One entry per proxy, in the order of the table (by name, then URL).
    pub proxies: Proxies<'a>,
    /// How many proxies have each status, every status listed (0 included).
    pub counts: Counts<'a>,
    /// How many proxies were checked.
    pub total: usize,
}

/// One proxy's result.
#[derive(Debug, Serialize)]
pub struct CheckedProxy<'a> {
    /// Stable from run to run: the database id when read from a store, a
    /// UUID v5 of the URL for a targets file (see `targets::target_id`).
    pub id: Uuid,
    /// The proxy's name.
    pub name: &'a str,
    /// The URL, its password replaced by `xxxxx`.
    pub url: Cow<'a, str>,
    /// The status this check found.
    pub status: Status,
    /// The errors and warnings that explain the status.
    pub report: Messages<'a>,
    /// How long the check took, in milliseconds; `null` when no request was made.
    pub latency_ms: Option<f64>,
    /// When the sweep started (RFC 3339).
    pub checked_at: String,
    /// The expiry of the proxy's TLS certificate (RFC 3339); `null` without one.
    pub tls_not_after: Option<String>,
    /// Whole days from the check to `tls_not_after`; `null` without one.
    pub tls_days_left: Option<i64>,
}

/// A result's errors and warnings.
#[derive(Debug, Serialize)]
pub struct Messages<'a> {
    /// Why the proxy is not `ok` (empty when it is).
    pub errors: &'a [String],
    /// Things worth knowing that do not change the status.
    pub warnings: &'a [String],
}

/// Every proxy's entry, each made as it is written (a fleet's document is
/// never held whole).
#[derive(Debug)]
pub struct Proxies<'a>(&'a [CheckResult]);

impl Serialize for Proxies<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(checked_proxy))
    }
}

/// The counts per status, written as an object in the order of
/// [`Status::ALL`].
#[derive(Debug)]
pub struct Counts<'a>(&'a [CheckResult]);

impl Serialize for Counts<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(Status::ALL.len()))?;
        for status in Status::ALL {
            let n = self.0.iter().filter(|r| r.verdict.status == status).count();
            map.serialize_entry(status.as_str(), &n)?;
        }
        map.end()
    }
}

/// The document for a sweep's results (already in the order to print).
pub fn document(results: &[CheckResult]) -> CheckDocument<'_> {
    CheckDocument {
        proxies: Proxies(results),
        counts: Counts(results),
        total: results.len(),
    }
}

fn checked_proxy(result: &CheckResult) -> CheckedProxy<'_> {
    CheckedProxy {
        id: result.proxy.id,
        name: &result.proxy.name,
        url: redact_url(&result.proxy.url),
        status: result.verdict.status,
        report: Messages {
            errors: &result.verdict.report.errors,
            warnings: &result.verdict.report.warnings,
        },
        latency_ms: result.latency.map(|d| d.as_secs_f64() * 1000.0),
        checked_at: rfc3339(result.checked_at).unwrap_or_default(),
        tls_not_after: result.tls_not_after.and_then(rfc3339),
        tls_days_left: result.tls_days_left,
    }
}

fn rfc3339(at: OffsetDateTime) -> Option<String> {
    at.format(&Rfc3339).ok()
}

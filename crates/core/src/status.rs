//! The health statuses a proxy can be in.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The health of one proxy, as Coder's `proxyhealth.Status`.
///
/// The wire strings (`ok`, `unhealthy`, …) and the gauge values are part of the
/// contract: dashboards, alerts and scripts written for Coder read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Status {
    /// The proxy answered 200 with a report that has no errors.
    #[serde(rename = "ok")]
    Ok,
    /// The proxy answered, but with a non-200 status, a body that is not a
    /// report, or a report with errors.
    #[serde(rename = "unhealthy")]
    Unhealthy,
    /// The request to the proxy failed at the transport level.
    #[serde(rename = "unreachable")]
    Unreachable,
    /// The proxy was created but has never registered a URL, so it is not probed.
    #[serde(rename = "unregistered")]
    Unregistered,
    /// Not checked yet. The engine never produces it for a checked proxy.
    #[serde(rename = "unknown")]
    #[default]
    Unknown,
}

impl Status {
    /// Every status, in the order the dashboard and summaries list them.
    pub const ALL: [Status; 5] = [
        Status::Ok,
        Status::Unhealthy,
        Status::Unreachable,
        Status::Unregistered,
        Status::Unknown,
    ];

    /// How bad this status is, `ok` least and `unreachable` most: what
    /// sorting a list by status and an incident's worst status compare.
    pub fn severity(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Unknown => 1,
            Status::Unregistered => 2,
            Status::Unhealthy => 3,
            Status::Unreachable => 4,
        }
    }

    /// The wire string, as in Coder's API (`"ok"`, `"unhealthy"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Unhealthy => "unhealthy",
            Status::Unreachable => "unreachable",
            Status::Unregistered => "unregistered",
            Status::Unknown => "unknown",
        }
    }

    /// The value of `coderd_proxyhealth_health_check_results` for this status:
    /// 1 ok, -1 unhealthy, -2 unreachable, 0 unregistered, -3 unknown.
    pub fn gauge_value(self) -> i64 {
        match self {
            Status::Ok => 1,
            Status::Unhealthy => -1,
            Status::Unreachable => -2,
            Status::Unregistered => 0,
            Status::Unknown => -3,
        }
    }

    /// Whether a proxy in this status should carry traffic (`healthy` in `/regions`).
    pub fn is_healthy(self) -> bool {
        self == Status::Ok
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a string that is not one of the five wire strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}: expected one of ok, unhealthy, unreachable, unregistered, unknown")]
pub struct ParseStatusError(pub String);

impl FromStr for Status {
    type Err = ParseStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| ParseStatusError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_strings_and_gauge_values_match_coder() {
        let expected = [
            (Status::Ok, "ok", 1),
            (Status::Unhealthy, "unhealthy", -1),
            (Status::Unreachable, "unreachable", -2),
            (Status::Unregistered, "unregistered", 0),
            (Status::Unknown, "unknown", -3),
        ];
        for (status, wire, gauge) in expected {
            assert_eq!(status.as_str(), wire);
            assert_eq!(status.gauge_value(), gauge);
            assert_eq!(
                serde_json::to_string(&status).expect("serialize"),
                format!("\"{wire}\"")
            );
            assert_eq!(wire.parse::<Status>(), Ok(status));
        }
    }

    #[test]
    fn an_unknown_wire_string_is_refused_with_the_value_named() {
        let err = "healthy".parse::<Status>().expect_err("must fail");
        assert!(err.to_string().contains("\"healthy\""), "{err}");
    }
}

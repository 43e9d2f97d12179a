//! The behaviours a simulated proxy can have, their names and the status a checker should find.

use crate::bodies::OK_BODY;
use proxyhealth_core::Status;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The default delay of `slow` when parsed without a duration.
pub const DEFAULT_SLOW: Duration = Duration::from_secs(2);
/// The default step of `slow-body` when parsed without a duration.
pub const DEFAULT_SLOW_BODY_STEP: Duration = Duration::from_secs(1);
/// The default period of `flapping` when parsed without a number.
pub const DEFAULT_FLAP_PERIOD: u32 = 3;

/// How one simulated proxy answers `GET /healthz-report` (every other path gets a 404).
///
/// The variants reproduce what a real workspace proxy, a primary coderd or a broken
/// deployment answers, so a checker can be tested against every branch of the classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// 200 JSON `{"errors":null,"warnings":null}` with `X-Coder-Build-Version`.
    Ok,
    /// 200 JSON with an empty error list and a version-mismatch warning.
    OkWithWarnings,
    /// 200 JSON with one error (the proxy cannot reach its primary).
    Errors,
    /// 500 with a Coder error envelope (message, detail, one validation).
    ServerError,
    /// 400 `text/html` "Head to the Dashboard" page, as a proxy's NotFound.
    BadRequestHtml,
    /// 200 `text/html` single-page-app shell with `X-Coder-Build-Version`: a primary coderd.
    PrimaryHtml,
    /// 200 `text/plain` `OK`, without the build-version header: not a Coder at all.
    NonJson200,
    /// Reads the request and never answers, until the client leaves or the proxy stops.
    Hang,
    /// Answers like [`Kind::Ok`] after the delay.
    Slow(Duration),
    /// Nothing listens on the address: connecting is refused.
    Refused,
    /// Sends the [`Kind::Ok`] headers at once, then the body one byte per step.
    SlowBody(Duration),
    /// Alternates [`Kind::Ok`] and [`Kind::Errors`] every N requests (0 counts as 1).
    Flapping(u32),
}

impl Kind {
    /// One example of every kind, with the default durations and period.
    pub const ALL: [Kind; 12] = [
        Kind::Ok,
        Kind::OkWithWarnings,
        Kind::Errors,
        Kind::ServerError,
        Kind::BadRequestHtml,
        Kind::PrimaryHtml,
        Kind::NonJson200,
        Kind::Hang,
        Kind::Slow(DEFAULT_SLOW),
        Kind::Refused,
        Kind::SlowBody(DEFAULT_SLOW_BODY_STEP),
        Kind::Flapping(DEFAULT_FLAP_PERIOD),
    ];

    /// The stable name used in targets files, summaries and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ok => "ok",
            Kind::OkWithWarnings => "ok-warnings",
            Kind::Errors => "errors",
            Kind::ServerError => "500-envelope",
            Kind::BadRequestHtml => "400-html",
            Kind::PrimaryHtml => "primary-html",
            Kind::NonJson200 => "non-json-200",
            Kind::Hang => "hang",
            Kind::Slow(_) => "slow",
            Kind::Refused => "refused",
            Kind::SlowBody(_) => "slow-body",
            Kind::Flapping(_) => "flapping",
        }
    }

    /// The status a Coder-compatible checker (5 s timeout) should give this proxy on its
    /// first check.
    ///
    /// * `slow` is `ok`: its delay is assumed shorter than the checker's timeout.
    /// * `slow-body` is `unhealthy`: the headers arrive at once, so the timeout strikes
    ///   while the body is read, which Coder classifies as a decode error. This assumes
    ///   [`Kind::body_duration`] is longer than the timeout, i.e. a step over ~162 ms for
    ///   a 5 s timeout (the default step is 1 s, so the body takes 31 s).
    /// * `flapping` is `ok`: its first N answers are healthy.
    pub fn expected_status(self) -> Status {
        match self {
            Kind::Ok | Kind::OkWithWarnings | Kind::Slow(_) | Kind::Flapping(_) => Status::Ok,
            Kind::Errors
            | Kind::ServerError
            | Kind::BadRequestHtml
            | Kind::PrimaryHtml
            | Kind::NonJson200
            | Kind::SlowBody(_) => Status::Unhealthy,
            Kind::Hang | Kind::Refused => Status::Unreachable,
        }
    }

    /// How long the whole answer takes to send, when the kind delays it on purpose
    /// (`slow`: the delay; `slow-body`: one step per body byte; `hang`: `None`, never).
    pub fn body_duration(self) -> Option<Duration> {
        match self {
            Kind::Slow(delay) => Some(delay),
            Kind::SlowBody(step) => {
                let bytes = u32::try_from(OK_BODY.len()).unwrap_or(u32::MAX);
                Some(step.saturating_mul(bytes))
            }
            Kind::Hang | Kind::Refused => None,
            _ => Some(Duration::ZERO),
        }
    }

    /// Whether a listener must be bound for this kind (everything except [`Kind::Refused`]).
    pub fn listens(self) -> bool {
        self != Kind::Refused
    }
}

impl fmt::Display for Kind {
    /// The name, followed by the parameter when there is one (`slow:2000ms`, `flapping:3`),
    /// in a form [`Kind::from_str`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Slow(d) | Kind::SlowBody(d) => write!(f, "{}:{}ms", self.name(), d.as_millis()),
            Kind::Flapping(n) => write!(f, "{}:{n}", self.name()),
            _ => f.write_str(self.name()),
        }
    }
}

/// The error for a string that names no kind, or has a bad parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown proxy kind {0:?}: expected ok, ok-warnings, errors, 500-envelope, 400-html, primary-html, non-json-200, hang, slow[:DUR], refused, slow-body[:DUR] or flapping[:N] (DUR like 500ms or 2s)"
)]
pub struct ParseKindError(pub String);

impl FromStr for Kind {
    type Err = ParseKindError;

    /// Reads a name, optionally with a parameter after a colon: `slow:500ms`,
    /// `slow-body:200ms`, `flapping:4`. Without one the defaults apply.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseKindError(s.to_owned());
        let (name, param) = match s.split_once(':') {
            Some((name, param)) => (name, Some(param)),
            None => (s, None),
        };
        let kind = match name {
            "ok" => Kind::Ok,
            "ok-warnings" => Kind::OkWithWarnings,
            "errors" => Kind::Errors,
            "500-envelope" => Kind::ServerError,
            "400-html" => Kind::BadRequestHtml,
            "primary-html" => Kind::PrimaryHtml,
            "non-json-200" => Kind::NonJson200,
            "hang" => Kind::Hang,
            "refused" => Kind::Refused,
            "slow" => {
                return Ok(Kind::Slow(match param {
                    Some(p) => parse_duration(p).ok_or_else(bad)?,
                    None => DEFAULT_SLOW,
                }));
            }
            "slow-body" => {
                return Ok(Kind::SlowBody(match param {
                    Some(p) => parse_duration(p).ok_or_else(bad)?,
                    None => DEFAULT_SLOW_BODY_STEP,
                }));
            }
            "flapping" => {
                return Ok(Kind::Flapping(match param {
                    Some(p) => p.parse().map_err(|_| bad())?,
                    None => DEFAULT_FLAP_PERIOD,
                }));
            }
            _ => return Err(bad()),
        };
        match param {
            Some(_) => Err(bad()),
            None => Ok(kind),
        }
    }
}

/// Parses `250ms`, `2s` or a bare number of milliseconds.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    if let Some(secs) = text.strip_suffix('s') {
        return secs
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
    }
    text.parse().ok().map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_kind() {
        for kind in Kind::ALL {
            assert_eq!(kind.name().parse::<Kind>(), Ok(kind), "{}", kind.name());
            assert_eq!(kind.to_string().parse::<Kind>(), Ok(kind), "{kind}");
        }
    }

    #[test]
    fn parameters_are_read_after_a_colon() {
        assert_eq!(
            "slow:250ms".parse(),
            Ok(Kind::Slow(Duration::from_millis(250)))
        );
        assert_eq!(
            "slow-body:2s".parse(),
            Ok(Kind::SlowBody(Duration::from_secs(2)))
        );
        assert_eq!("flapping:5".parse(), Ok(Kind::Flapping(5)));
    }

    #[test]
    fn an_unknown_name_or_a_stray_parameter_is_refused_with_the_text_named() {
        for text in ["healthy", "ok:3", "slow:fast", "flapping:-1"] {
            let err = text.parse::<Kind>().expect_err("must fail");
            assert!(err.to_string().contains(&format!("{text:?}")), "{err}");
        }
    }

    #[test]
    fn slow_body_with_the_default_step_outlasts_a_five_second_timeout() {
        let total = Kind::SlowBody(DEFAULT_SLOW_BODY_STEP)
            .body_duration()
            .expect("finite");
        assert!(total > Duration::from_secs(5), "{total:?}");
    }
}

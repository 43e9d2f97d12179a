//! The health report a proxy serves at `/healthz-report`, and how it is read.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// A proxy's own account of its health: `{"errors": [...], "warnings": [...]}`.
///
/// Either list may be `null` on the wire (Go encodes empty slices that way); both
/// are read as empty lists and always written as lists (`[]`, never `null`).
/// Errors make a proxy `unhealthy`; warnings never do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthReport {
    /// Problems that make the proxy unfit to carry traffic.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub errors: Vec<String>,
    /// Problems worth knowing that do not affect health.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub warnings: Vec<String>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(de)?.unwrap_or_default())
}

impl HealthReport {
    /// A report holding one error.
    pub fn error(message: impl Into<String>) -> Self {
        HealthReport {
            errors: vec![message.into()],
            warnings: Vec::new(),
        }
    }

    /// Reads a report from a response body, as the engine does for a 200.
    ///
    /// Like the seed, only the first JSON value counts (trailing bytes are ignored),
    /// unknown keys are ignored and the `errors`/`warnings` keys match in any case.
    /// Unlike the seed, the value must be an object with an `errors` or `warnings`
    /// key: `null`, `{}` or `{"foo":1}` are not a report, so an arbitrary JSON API
    /// answering 200 is not taken for a healthy proxy.
    pub fn decode(body: &[u8]) -> Result<Self, ReportDecodeError> {
        if let Some(report) = Self::decode_exact(body) {
            return Ok(report);
        }
        let mut values = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
        let value = match values.next() {
            None => return Err(ReportDecodeError::Empty),
            Some(Err(err)) => return Err(ReportDecodeError::Json(err.to_string())),
            Some(Ok(value)) => value,
        };
        let Value::Object(map) = value else {
            return Err(ReportDecodeError::NotAnObject(json_kind(&value)));
        };
        let mut errors = None;
        let mut warnings = None;
        for (key, value) in &map {
            if key.eq_ignore_ascii_case("errors") {
                errors = Some(string_list("errors", value)?);
            } else if key.eq_ignore_ascii_case("warnings") {
                warnings = Some(string_list("warnings", value)?);
            }
        }
        if errors.is_none() && warnings.is_none() {
            let mut keys: Vec<&str> = map.keys().map(String::as_str).take(5).collect();
            if map.len() > keys.len() {
                keys.push("…");
            }
            return Err(ReportDecodeError::NoReportKeys(keys.join(", ")));
        }
        Ok(HealthReport {
            errors: errors.unwrap_or_default(),
            warnings: warnings.unwrap_or_default(),
        })
    }

    /// The common case, read without building a JSON tree: an object with only
    /// the lowercase `errors` and `warnings` keys, at least one of them a list.
    /// Anything else (other keys, other cases, nulls, errors) returns `None`
    /// and goes through the general path, which gives the same answer for this
    /// shape and the precise message for every other.
    fn decode_exact(body: &[u8]) -> Option<Self> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Exact {
            errors: Option<Vec<String>>,
            warnings: Option<Vec<String>>,
        }
        // A derived struct also reads a JSON array by position: only objects here.
        if body.trim_ascii_start().first() != Some(&b'{') {
            return None;
        }
        let exact = Exact::deserialize(&mut serde_json::Deserializer::from_slice(body)).ok()?;
        if exact.errors.is_none() && exact.warnings.is_none() {
            return None;
        }
        Some(HealthReport {
            errors: exact.errors.unwrap_or_default(),
            warnings: exact.warnings.unwrap_or_default(),
        })
    }

    /// Cuts the report to the limits, saying what was cut, so that a hostile proxy
    /// cannot make the checker keep or show an unbounded report.
    pub fn bounded(mut self, limits: ReportLimits) -> Self {
        bound_list(&mut self.errors, "errors", limits);
        bound_list(&mut self.warnings, "warnings", limits);
        self
    }

    /// The report in one line: the first line of its first error, or `""`
    /// when it has no error. What a status change's log line, a replica's
    /// disagreement and an incident's `first_error` show of it (an error may
    /// carry a body or a stack over several lines; the first says what failed).
    pub fn headline(&self) -> &str {
        self.errors
            .first()
            .and_then(|error| error.lines().next())
            .unwrap_or_default()
    }
}

/// How much of a proxy's report is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportLimits {
    /// Most entries kept per list; the rest are replaced by one note.
    pub max_entries: usize,
    /// Most bytes kept per entry; a longer entry is cut at a character boundary.
    pub max_entry_bytes: usize,
}

impl Default for ReportLimits {
    /// 100 entries per list, 8 KiB per entry.
    fn default() -> Self {
        ReportLimits {
            max_entries: 100,
            max_entry_bytes: 8 * 1024,
        }
    }
}

fn bound_list(list: &mut Vec<String>, what: &str, limits: ReportLimits) {
    if list.len() > limits.max_entries {
        let cut = list.len() - limits.max_entries;
        list.truncate(limits.max_entries);
        list.push(format!(
            "[report cut: {cut} more {what} were not kept (limit {})]",
            limits.max_entries
        ));
    }
    for entry in list.iter_mut() {
        if entry.len() > limits.max_entry_bytes {
            let mut end = limits.max_entry_bytes;
            while !entry.is_char_boundary(end) {
                end -= 1;
            }
            let cut = entry.len() - end;
            entry.truncate(end);
            entry.push_str(&format!("… [cut: {cut} more bytes were not kept]"));
        }
    }
}

fn string_list(key: &'static str, value: &Value) -> Result<Vec<String>, ReportDecodeError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(ReportDecodeError::WrongType {
                    key,
                    found: format!("a list holding {}", json_kind(other)),
                }),
            })
            .collect(),
        other => Err(ReportDecodeError::WrongType {
            key,
            found: json_kind(other).to_owned(),
        }),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Why a 200 body is not a health report. The text ends up in the proxy's errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportDecodeError {
    /// The body was empty.
    #[error("the body is empty")]
    Empty,
    /// The body is not JSON.
    #[error("{0}")]
    Json(String),
    /// The body is JSON but not an object.
    #[error("expected a JSON object with \"errors\" or \"warnings\", got {0}")]
    NotAnObject(&'static str),
    /// The object has neither report key.
    #[error(
        "expected a JSON object with \"errors\" or \"warnings\", got an object with the keys [{0}]"
    )]
    NoReportKeys(String),
    /// A report key holds something other than a list of strings.
    #[error("\"{key}\" must be a list of strings or null, got {found}")]
    WrongType {
        /// `errors` or `warnings`.
        key: &'static str,
        /// What the key held.
        found: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headline_is_the_first_line_of_the_first_error() {
        let report = HealthReport {
            errors: vec!["disk full\nat /var".into(), "second".into()],
            warnings: vec!["a warning".into()],
        };
        assert_eq!(report.headline(), "disk full");
        let warnings_only = HealthReport {
            errors: Vec::new(),
            warnings: vec!["a warning".into()],
        };
        assert_eq!(warnings_only.headline(), "");
    }

    #[test]
    fn null_lists_read_as_empty_and_write_as_empty_lists() {
        let report = HealthReport::decode(br#"{"errors":null,"warnings":null}"#).expect("decode");
        assert_eq!(report, HealthReport::default());
        assert_eq!(
            serde_json::to_string(&report).expect("encode"),
            r#"{"errors":[],"warnings":[]}"#
        );
    }

    #[test]
    fn keys_match_in_any_case_and_unknown_keys_are_ignored() {
        let report = HealthReport::decode(br#"{"Errors":["e"],"WARNINGS":["w"],"extra":1}"#)
            .expect("decode");
        assert_eq!(report.errors, ["e"]);
        assert_eq!(report.warnings, ["w"]);
    }

    #[test]
    fn an_array_shaped_like_a_report_is_not_one() {
        let err = HealthReport::decode(br#"[["e"],["w"]]"#).expect_err("must fail");
        assert_eq!(
            err.to_string(),
            "expected a JSON object with \"errors\" or \"warnings\", got an array"
        );
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value() {
        let report = HealthReport::decode(br#"{"errors":["old"],"errors":[]}"#).expect("decode");
        assert_eq!(report, HealthReport::default());
    }

    #[test]
    fn trailing_bytes_after_the_first_value_are_ignored() {
        let report = HealthReport::decode(br#"{"warnings":["w"]} trailing"#).expect("decode");
        assert_eq!(report.warnings, ["w"]);
    }

    #[test]
    fn json_null_is_not_a_report() {
        let err = HealthReport::decode(b"null").expect_err("must fail");
        assert_eq!(
            err.to_string(),
            "expected a JSON object with \"errors\" or \"warnings\", got null"
        );
    }

    #[test]
    fn an_object_without_report_keys_is_not_a_report() {
        let err = HealthReport::decode(br#"{"foo":1}"#).expect_err("must fail");
        assert_eq!(
            err.to_string(),
            "expected a JSON object with \"errors\" or \"warnings\", got an object with the keys [foo]"
        );
    }

    #[test]
    fn errors_of_the_wrong_type_name_the_key() {
        let err = HealthReport::decode(br#"{"errors":5}"#).expect_err("must fail");
        assert_eq!(
            err.to_string(),
            "\"errors\" must be a list of strings or null, got a number"
        );
    }

    #[test]
    fn deeply_nested_json_is_refused_not_overflowed() {
        let body = "[".repeat(100_000);
        assert!(HealthReport::decode(body.as_bytes()).is_err());
    }

    #[test]
    fn a_long_list_is_cut_with_a_note() {
        let report = HealthReport {
            errors: (0..1000).map(|i| i.to_string()).collect(),
            warnings: vec![],
        }
        .bounded(ReportLimits::default());
        assert_eq!(report.errors.len(), 101);
        assert_eq!(
            report.errors[100],
            "[report cut: 900 more errors were not kept (limit 100)]"
        );
    }

    #[test]
    fn a_long_entry_is_cut_at_a_character_boundary() {
        let report = HealthReport::error("é".repeat(10_000)).bounded(ReportLimits::default());
        assert!(
            report.errors[0].ends_with("[cut: 11808 more bytes were not kept]"),
            "{}",
            &report.errors[0][8000..]
        );
    }
}

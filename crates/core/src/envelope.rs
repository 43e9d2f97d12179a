//! Coder's error envelope, and the seed's reading of a failed response as an error.

use serde::{Deserialize, Serialize};

/// Coder's `codersdk.Response`: the body of every error the API returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorEnvelope {
    /// What went wrong, for people.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub message: String,
    /// More detail, often the underlying error.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// One entry per invalid field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validations: Vec<Validation>,
}

/// One invalid field of a request, as in `codersdk.ValidationError`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Validation {
    /// The field's name in the request body.
    pub field: String,
    /// What is wrong with it.
    pub detail: String,
}

/// Coder's `ExpectJSONMime`: `Ok` when the media type is exactly `application/json`.
///
/// The error text is `unexpected non-JSON response "<raw header>"`, part of the
/// messages operators read.
pub fn expect_json_mime(content_type: Option<&str>) -> Result<(), String> {
    let raw = content_type.unwrap_or("");
    let media_type = raw.split(';').next().unwrap_or("").trim();
    if media_type.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(format!("unexpected non-JSON response {raw:?}"))
    }
}

/// What the seed's `ReadBodyAsError` makes of a non-200 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyAsError {
    /// An API error with a message (and perhaps detail and validations).
    Api {
        /// The error's message.
        message: String,
        /// The error's detail.
        detail: String,
        /// The field errors.
        validations: Vec<Validation>,
        /// The whole error as one text, as `codersdk.Error.Error()` formats it.
        text: String,
    },
    /// A JSON body that is not an error object: only a plain text remains.
    Plain(String),
}

/// How many body bytes go into the detail of a non-JSON error.
const NON_JSON_DETAIL_BYTES: usize = 2048;
/// How many body bytes go into the detail of a JSON error without a message.
const NO_MESSAGE_DETAIL_BYTES: usize = 1024;

/// Reads a failed response's body as Coder's SDK does, for the non-200 message.
///
/// Differences from the seed, on purpose: the method and URL are always named (the
/// seed drops them for an empty JSON body), and a 401 gets no "coder login" hint,
/// which makes no sense for a proxy.
pub fn read_body_as_error(
    status: u16,
    url: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> BodyAsError {
    let prefix = format!("GET {url}: unexpected status code {status}: ");
    let api = |message: String, detail: String, validations: Vec<Validation>| {
        let mut text = format!("{prefix}{message}");
        if !detail.is_empty() {
            text.push_str(&format!("\n\tError: {detail}"));
        }
        for validation in &validations {
            text.push_str(&format!("\n\t{}: {}", validation.field, validation.detail));
        }
        BodyAsError::Api {
            message,
            detail,
            validations,
            text,
        }
    };
    if let Err(mime_error) = expect_json_mime(content_type) {
        let detail = if body.is_empty() {
            "no response body".to_owned()
        } else {
            truncated(body, NON_JSON_DETAIL_BYTES)
        };
        return api(mime_error, detail, Vec::new());
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return api("empty response body".to_owned(), String::new(), Vec::new());
    }
    match serde_json::from_slice::<ErrorEnvelope>(body) {
        Err(err) => BodyAsError::Plain(format!("decode body: {err}")),
        Ok(envelope) if envelope.message.is_empty() => api(
            format!("unexpected status code {status}, response has no message"),
            truncated(body, NO_MESSAGE_DETAIL_BYTES),
            envelope.validations,
        ),
        Ok(envelope) => api(envelope.message, envelope.detail, envelope.validations),
    }
}

fn truncated(body: &[u8], limit: usize) -> String {
    if body.len() > limit {
        format!("{}...", String::from_utf8_lossy(&body[..limit]))
    } else {
        String::from_utf8_lossy(body).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_application_json_counts_as_json() {
        assert!(expect_json_mime(Some("application/json; charset=utf-8")).is_ok());
        assert_eq!(
            expect_json_mime(Some("application/problem+json")),
            Err("unexpected non-JSON response \"application/problem+json\"".to_owned())
        );
        assert_eq!(
            expect_json_mime(None),
            Err("unexpected non-JSON response \"\"".to_owned())
        );
    }

    #[test]
    fn an_envelope_gives_message_detail_and_validations() {
        let body = br#"{"message":"boom","detail":"db down","validations":[{"field":"name","detail":"taken"}]}"#;
        let BodyAsError::Api { text, .. } = read_body_as_error(
            500,
            "http://p/healthz-report",
            Some("application/json"),
            body,
        ) else {
            panic!("expected an API error");
        };
        assert_eq!(
            text,
            "GET http://p/healthz-report: unexpected status code 500: boom\n\tError: db down\n\tname: taken"
        );
    }

    #[test]
    fn a_json_string_body_is_a_plain_decode_error() {
        let result = read_body_as_error(
            500,
            "http://p/healthz-report",
            Some("application/json"),
            br#""workspace proxy in middle of shutting down""#,
        );
        assert!(matches!(result, BodyAsError::Plain(text) if text.starts_with("decode body: ")));
    }
}

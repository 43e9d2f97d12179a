//! [`JsonBody`]: the JSON body extractor whose every rejection is an [`ApiError`].
//!
//! axum's own `Json` answers rejections in plain text; ours checks the content
//! type (415), the size (413, from the router's `DefaultBodyLimit`) and the JSON
//! itself (400, naming the field and the position serde reports; an array is
//! refused, every body being an object).

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

/// A request body read as JSON into `T`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        check_content_type(req.headers().get(header::CONTENT_TYPE))?;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request body is too large.")
                    .with_detail(rejection.body_text())
            } else {
                ApiError::bad_request("Could not read the request body.")
                    .with_detail(rejection.body_text())
            }
        })?;
        decode(&bytes).map(JsonBody)
    }
}

/// 415 unless the content type is `application/json` (parameters allowed).
fn check_content_type(value: Option<&axum::http::HeaderValue>) -> Result<(), ApiError> {
    let raw = value.and_then(|v| v.to_str().ok());
    let media_type = raw
        .and_then(|raw| raw.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if media_type.eq_ignore_ascii_case("application/json") {
        return Ok(());
    }
    let got = match raw {
        None if value.is_some() => "a Content-Type that is not text".to_owned(),
        None => "no Content-Type".to_owned(),
        Some(raw) => format!("Content-Type {raw:?}"),
    };
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Request body must be JSON.",
    )
    .with_detail(format!(
        "Expected Content-Type \"application/json\", got {got}."
    )))
}

/// Decodes a body, turning serde's error into a 400 that names the field.
/// Every body the API takes is an object: anything else is refused first.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    check_object(bytes)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(value) => value,
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            return Err(json_error(&path, &inner));
        }
    };
    de.end().map_err(|err| {
        ApiError::bad_request("Request body is not valid JSON.").with_detail(err.to_string())
    })?;
    Ok(value)
}

/// 400 when the body is JSON but not an object. serde reads a struct from an
/// array too (its fields by position: `["eu","EU",""]` would create a proxy),
/// which no client means. A body that is not JSON is refused as such, with
/// where it breaks.
fn check_object(bytes: &[u8]) -> Result<(), ApiError> {
    let first = bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    let kind = match first {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b'-' | b'0'..=b'9') => "a number",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => return Ok(()),
    };
    if let Err(err) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        return Err(
            ApiError::bad_request("Request body is not valid JSON.").with_detail(err.to_string())
        );
    }
    Err(ApiError::bad_request("Invalid request body.")
        .with_detail(format!("expected a JSON object, got {kind}")))
}

fn json_error(path: &str, err: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_request("Request body is not valid JSON.").with_detail(err.to_string())
        }
        Category::Data => {
            let message = err.to_string();
            // `unknown field `x``, `missing field `x`` and `duplicate field `x``
            // name the field in backticks (the path is the object holding it);
            // other data errors (a wrong type) are located by the path.
            let named = ["unknown field", "missing field", "duplicate field"]
                .iter()
                .any(|start| message.starts_with(start));
            let field = if named {
                between_backticks(&message).map(str::to_owned)
            } else {
                None
            };
            let field = field.unwrap_or_else(|| path.to_owned());
            let detail = if field == "." || field.is_empty() {
                message.clone()
            } else {
                format!("{field}: {message}")
            };
            ApiError::bad_request("Invalid request body.")
                .with_detail(detail)
                .with_validation(field, message)
        }
    }
}

fn between_backticks(text: &str) -> Option<&str> {
    let start = text.find('`')? + 1;
    let len = text[start..].find('`')?;
    Some(&text[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        #[serde(default)]
        flag: bool,
    }

    #[test]
    fn an_unknown_field_is_named() {
        let err = decode::<Body>(br#"{"name":"a","colour":1}"#).expect_err("unknown");
        assert_eq!(err.envelope.message, "Invalid request body.");
        assert_eq!(err.envelope.validations[0].field, "colour");
    }

    #[test]
    fn a_wrong_type_is_located_by_its_path() {
        let err = decode::<Body>(br#"{"name":"a","flag":"yes"}"#).expect_err("type");
        assert_eq!(err.envelope.validations[0].field, "flag");
        assert!(
            err.envelope.detail.contains("line 1 column"),
            "{}",
            err.envelope.detail
        );
    }

    #[test]
    fn broken_json_names_the_position() {
        let err = decode::<Body>(br#"{"name": "#).expect_err("eof");
        assert_eq!(err.envelope.message, "Request body is not valid JSON.");
        assert!(
            err.envelope.detail.contains("line 1 column"),
            "{}",
            err.envelope.detail
        );
    }

    #[test]
    fn only_an_object_is_a_body() {
        for (body, kind) in [
            (&br#"["a", false]"#[..], "an array"),
            (br#" [1]"#, "an array"),
            (br#""a""#, "a string"),
            (br#"-1"#, "a number"),
            (br#"true"#, "a boolean"),
            (b"null", "null"),
        ] {
            let err = decode::<Body>(body).expect_err("not an object");
            assert_eq!(err.envelope.message, "Invalid request body.");
            assert_eq!(
                err.envelope.detail,
                format!("expected a JSON object, got {kind}")
            );
        }
        let err = decode::<Body>(b"[1,").expect_err("broken");
        assert_eq!(err.envelope.message, "Request body is not valid JSON.");
        assert!(decode::<Body>(br#" {"name":"a"}"#).is_ok());
    }

    #[test]
    fn a_duplicate_key_is_named() {
        let err = decode::<Body>(br#"{"name":"a","name":"b"}"#).expect_err("duplicate");
        assert_eq!(err.envelope.message, "Invalid request body.");
        assert_eq!(err.envelope.validations[0].field, "name");
        assert!(
            err.envelope
                .detail
                .starts_with("name: duplicate field `name`"),
            "{}",
            err.envelope.detail
        );
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let err = decode::<Body>(br#"{"name":"a"} x"#).expect_err("trailing");
        assert_eq!(err.envelope.message, "Request body is not valid JSON.");
    }

    #[test]
    fn json_with_parameters_is_accepted_and_text_is_not() {
        let json = axum::http::HeaderValue::from_static("application/json; charset=utf-8");
        assert!(check_content_type(Some(&json)).is_ok());
        let text = axum::http::HeaderValue::from_static("text/plain");
        let err = check_content_type(Some(&text)).expect_err("415");
        assert_eq!(err.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(check_content_type(None).is_err());
    }
}

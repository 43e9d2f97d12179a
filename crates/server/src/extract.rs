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
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    refuse_array(bytes)?;
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

/// 400 for a body that is a JSON array. Every body of the API is an object,
/// but serde also reads a struct from an array, its fields by position
/// (`["eu-west"]` as `{"name": "eu-west"}`); other values than objects and
/// arrays serde refuses itself.
fn refuse_array(bytes: &[u8]) -> Result<(), ApiError> {
    let first = bytes
        .iter()
        .find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r'));
    if first == Some(&b'[') {
        return Err(ApiError::bad_request("Request body must be a JSON object.")
            .with_detail("Expected a JSON object, got an array."));
    }
    Ok(())
}

fn json_error(path: &str, err: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_request("Request body is not valid JSON.").with_detail(err.to_string())
        }
        Category::Data => {
            let message = err.to_string();
            // `unknown field `x`` and `missing field `x`` name the field in backticks;
            // other data errors (a wrong type) are located by the path.
            let field =
                if message.starts_with("unknown field") || message.starts_with("missing field") {
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
    fn an_array_is_refused_even_where_its_values_would_fill_the_fields() {
        let err = decode::<Body>(br#" ["a", true]"#).expect_err("an array");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.envelope.message, "Request body must be a JSON object.");
        assert_eq!(err.envelope.detail, "Expected a JSON object, got an array.");
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

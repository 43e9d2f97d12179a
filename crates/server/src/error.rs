//! [`ApiError`]: every error the API answers, as Coder's envelope with its status.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use proxyhealth_core::envelope::{ErrorEnvelope, Validation};
use proxyhealth_core::validate::FieldError;
use proxyhealth_engine::EngineError;
use proxyhealth_store::StoreError;

/// The message of every answer that failed because the store is unavailable.
pub const STORE_UNAVAILABLE: &str = "The store is unavailable.";

/// An error answer: a status and Coder's `{"message","detail","validations"}` body.
///
/// Handlers return `Result<_, ApiError>`; every rejection (bad JSON, wrong content
/// type, a body too large, bad credentials) goes through this type, so clients
/// always get the same envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status of the answer.
    pub status: StatusCode,
    /// The body of the answer.
    pub envelope: ErrorEnvelope,
}

impl ApiError {
    /// An error with this status and message, and no detail.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            envelope: ErrorEnvelope {
                message: message.into(),
                detail: String::new(),
                validations: Vec::new(),
            },
        }
    }

    /// The same error with a detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.envelope.detail = detail.into();
        self
    }

    /// The same error with one more invalid field.
    pub fn with_validation(mut self, field: impl Into<String>, detail: impl Into<String>) -> Self {
        self.envelope.validations.push(Validation {
            field: field.into(),
            detail: detail.into(),
        });
        self
    }

    /// 400: the request is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 400 for a field that breaks a rule: `message`, the field's detail, and the
    /// field named in `validations`.
    pub fn invalid_field(message: impl Into<String>, err: &FieldError) -> Self {
        ApiError::bad_request(message)
            .with_detail(err.detail.clone())
            .with_validation(err.field, err.detail.clone())
    }

    /// 400 for a query parameter: `Invalid query parameter.`, the detail
    /// (naming the value) and the parameter named in `validations`.
    pub fn invalid_param(param: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        ApiError::bad_request("Invalid query parameter.")
            .with_detail(detail.clone())
            .with_validation(param, detail)
    }

    /// 401: no credentials or bad ones.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403: credentials that are not allowed here.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 503: the service cannot do this right now (store down or read-only).
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// 503 because the store failed (down, locked, full, read-only file); the
    /// detail carries the store's error.
    pub fn store_unavailable(detail: impl Into<String>) -> Self {
        ApiError::unavailable(STORE_UNAVAILABLE).with_detail(detail)
    }

    /// 500: a real internal error. Logged here, once, at error level.
    pub fn internal(detail: impl Into<String>) -> Self {
        let detail = detail.into();
        tracing::error!(error = %detail, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.").with_detail(detail)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status.as_u16(), self.envelope.message)?;
        if !self.envelope.detail.is_empty() {
            write!(f, " ({})", self.envelope.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(message = %self.envelope.message, detail = %self.envelope.detail, "service unavailable");
        }
        let fault = (self.status == StatusCode::SERVICE_UNAVAILABLE
            && self.envelope.message == STORE_UNAVAILABLE)
            .then(|| crate::store_health::StoreFault(self.envelope.detail.clone()));
        let mut response = (self.status, Json(self.envelope)).into_response();
        if let Some(fault) = fault {
            response.extensions_mut().insert(fault);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"proxyhealth\""),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match &err {
            StoreError::Invalid(field) => ApiError::invalid_field("Validation failed.", field),
            StoreError::NameTaken(_) => ApiError::new(StatusCode::CONFLICT, err.to_string())
                .with_validation("name", "taken"),
            StoreError::NotFound => ApiError::not_found("Workspace proxy not found."),
            StoreError::ReadOnly => {
                ApiError::unavailable("The store is read-only.").with_detail(err.to_string())
            }
            StoreError::Unavailable(_) => ApiError::store_unavailable(err.to_string()),
            StoreError::Config(_) | StoreError::Internal(_) => ApiError::internal(err.to_string()),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(err: EngineError) -> Self {
        match &err {
            EngineError::Store(_) => ApiError::store_unavailable(err.to_string()),
            EngineError::ShuttingDown => {
                ApiError::unavailable("The service is shutting down.").with_detail(err.to_string())
            }
            EngineError::ProxyNotFound(_) => ApiError::not_found("Workspace proxy not found."),
            _ => ApiError::internal(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_name_is_a_409_with_coders_text() {
        let err = ApiError::from(StoreError::NameTaken("eu".into()));
        assert_eq!(err.status, StatusCode::CONFLICT);
        assert_eq!(
            err.envelope.message,
            "Workspace proxy with name \"eu\" already exists."
        );
    }

    #[test]
    fn an_unavailable_store_is_a_503_with_the_cause() {
        let err = ApiError::from(StoreError::Unavailable("disk full".into()));
        assert_eq!(err.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(err.envelope.message, "The store is unavailable.");
        assert!(err.envelope.detail.contains("disk full"));
    }

    #[test]
    fn a_field_error_names_the_field() {
        let err = ApiError::from(StoreError::Invalid(FieldError::new("icon", "too long")));
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.envelope.validations[0].field, "icon");
    }
}

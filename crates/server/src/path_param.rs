//! [`PathParam`]: the path parameter extractor whose every rejection is an
//! [`ApiError`].
//!
//! axum's own `Path` answers its rejections in plain text (`Invalid URL:
//! Invalid UTF-8 in `proxy``, for a segment such as `%FF`); ours answers with
//! Coder's envelope, as every other error of the API and as its OpenAPI
//! description says.

use crate::error::ApiError;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// The path parameters of a route read into `T` (a `String` for one).
#[derive(Debug, Clone)]
pub struct PathParam<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParam<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(PathParam(value)),
            Err(rejection) => Err(ApiError::new(rejection.status(), "Invalid URL.")
                .with_detail(rejection.body_text())),
        }
    }
}

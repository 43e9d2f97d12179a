//! `/api/v2/proxyhealth/tokens`: the personal tokens people act with, each
//! with a role (admin). A token's value is shown once, when it is created;
//! only its hash is kept. Revoking a token refuses it from the next request
//! on; it stays listed, revoked.

use crate::audit::AuditObject;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::path_param::PathParam;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use proxyhealth_api::wire::{
    CreatePersonalTokenRequest, CreatedPersonalTokenResponse, PersonalTokenInfo,
    PersonalTokensResponse,
};
use proxyhealth_core::envelope::ErrorEnvelope;
use proxyhealth_store::{
    NewPersonalToken, PersonalToken, PersonalTokenError, PersonalTokenStore, ProxyStore, StoreError,
};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// The longest expiry accepted: ten years, far beyond any sane rotation and
/// well inside what every store keeps.
const MAX_EXPIRY: Duration = Duration::from_secs(10 * 366 * 86_400);

impl From<PersonalTokenError> for ApiError {
    fn from(err: PersonalTokenError) -> Self {
        match err {
            PersonalTokenError::Invalid(field) => {
                ApiError::invalid_field("Validation failed.", &field)
            }
            PersonalTokenError::Taken(_) => ApiError::new(StatusCode::CONFLICT, err.to_string())
                .with_validation("name", "taken"),
            PersonalTokenError::NotFound(_) => ApiError::not_found(err.to_string()),
            PersonalTokenError::Store(store) => store.into(),
        }
    }
}

/// The store's personal tokens, or the refusal of a store without tables of
/// our own.
fn tokens_of(store: &dyn ProxyStore) -> Result<Arc<dyn PersonalTokenStore>, ApiError> {
    store
        .personal_tokens()
        .ok_or_else(|| ApiError::from(StoreError::ReadOnly))
}

/// A token as the API shows it.
pub(crate) fn info(token: PersonalToken) -> PersonalTokenInfo {
    PersonalTokenInfo {
        name: token.name,
        role: token.role,
        created_at: token.created_at,
        expires_at: token.expires_at,
        last_used_at: token.last_used_at,
        revoked_at: token.revoked_at,
    }
}

/// `GET /api/v2/proxyhealth/tokens`.
#[utoipa::path(
    get,
    path = "/api/v2/proxyhealth/tokens",
    operation_id = "list_personal_tokens",
    tag = "tokens",
    responses(
        (status = 200, description = "Every personal token, revoked ones too, by name (never a value).", body = PersonalTokensResponse),
        (status = 503, description = "The store is unavailable, or keeps no tokens (attached read-only to Coder without a schema of our own).", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn list(
    State(store): State<Arc<dyn ProxyStore>>,
) -> Result<Json<PersonalTokensResponse>, ApiError> {
    let tokens = tokens_of(store.as_ref())?.list().await?;
    Ok(Json(PersonalTokensResponse {
        tokens: tokens.into_iter().map(info).collect(),
    }))
}

/// `POST /api/v2/proxyhealth/tokens`.
#[utoipa::path(
    post,
    path = "/api/v2/proxyhealth/tokens",
    operation_id = "create_personal_token",
    tag = "tokens",
    request_body = CreatePersonalTokenRequest,
    responses(
        (status = 201, description = "Created: the token and its value, shown only now.", body = CreatedPersonalTokenResponse),
        (status = 400, description = "The name breaks the name rule, the role is unknown, `expires_in_seconds` is 0 or over ten years, or the body is not the expected JSON object; `validations` names the field.", body = ErrorEnvelope),
        (status = 409, description = "A token has this name (ignoring case), revoked or not.", body = ErrorEnvelope),
        (status = 413, description = "The body is larger than `max_body_bytes`.", body = ErrorEnvelope),
        (status = 415, description = "The body is not `application/json`.", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable or keeps no tokens.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn create(
    State(store): State<Arc<dyn ProxyStore>>,
    JsonBody(body): JsonBody<CreatePersonalTokenRequest>,
) -> Result<
    (
        StatusCode,
        Extension<AuditObject>,
        Json<CreatedPersonalTokenResponse>,
    ),
    ApiError,
> {
    let expires_at = match body.expires_in_seconds {
        None => None,
        Some(0) => {
            return Err(ApiError::bad_request("Validation failed.")
                .with_validation("expires_in_seconds", "must be at least 1"));
        }
        Some(seconds) if Duration::from_secs(seconds) > MAX_EXPIRY => {
            return Err(ApiError::bad_request("Validation failed.").with_validation(
                "expires_in_seconds",
                format!("must be at most {} (ten years)", MAX_EXPIRY.as_secs()),
            ));
        }
        Some(seconds) => Some(OffsetDateTime::now_utc() + Duration::from_secs(seconds)),
    };
    let created = tokens_of(store.as_ref())?
        .create(NewPersonalToken {
            name: body.name,
            role: body.role,
            expires_at,
        })
        .await?;
    tracing::info!(token = %created.token.name, role = %created.token.role, "personal token created");
    Ok((
        StatusCode::CREATED,
        Extension(AuditObject(created.token.name.clone())),
        Json(CreatedPersonalTokenResponse {
            token: info(created.token),
            value: created.value,
        }),
    ))
}

/// `DELETE /api/v2/proxyhealth/tokens/{token}`.
#[utoipa::path(
    delete,
    path = "/api/v2/proxyhealth/tokens/{token}",
    operation_id = "revoke_personal_token",
    tag = "tokens",
    params(
        ("token" = String, Path, description = "The token's name (ignoring case)."),
    ),
    responses(
        (status = 200, description = "Revoked: the token, with `revoked_at`; it is refused from the next request on (revoking it again keeps the first time).", body = PersonalTokenInfo),
        (status = 400, description = "The path is not UTF-8 once percent-decoded.", body = ErrorEnvelope),
        (status = 404, description = "No token has this name.", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable or keeps no tokens.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn revoke(
    State(store): State<Arc<dyn ProxyStore>>,
    PathParam(name): PathParam<String>,
) -> Result<Json<PersonalTokenInfo>, ApiError> {
    let revoked = tokens_of(store.as_ref())?.revoke(&name).await?;
    tracing::info!(token = %revoked.name, "personal token revoked");
    Ok(Json(info(revoked)))
}

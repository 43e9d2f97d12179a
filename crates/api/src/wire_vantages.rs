//! The JSON shapes of vantages, the places probes come from besides the
//! service's own replicas: `/api/v2/proxyhealth/vantages`. Re-exported by
//! [`crate::wire`].

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// A vantage (never its agent token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VantageInfo {
    /// The vantage's id (the first half of its agent token).
    pub id: Uuid,
    /// Its name, unique ignoring case.
    #[schema(max_length = 32)]
    pub name: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When its agent token was last minted (created or rotated).
    #[serde(with = "time::serde::rfc3339")]
    pub token_minted_at: OffsetDateTime,
}

/// `GET /api/v2/proxyhealth/vantages`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VantagesResponse {
    /// Every vantage, by name.
    pub vantages: Vec<VantageInfo>,
}

/// `POST /api/v2/proxyhealth/vantages`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVantageRequest {
    /// The name: letters, digits and single hyphens, 1 to 32 characters.
    #[schema(max_length = 32)]
    pub name: String,
}

/// A vantage and the agent token just minted for it, shown only now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VantageTokenResponse {
    /// The vantage.
    pub vantage: VantageInfo,
    /// `<vantage id>:<64 hex>`, for `proxyhealth agent --token`; only its
    /// hash is kept, so it cannot be shown again.
    pub agent_token: String,
}

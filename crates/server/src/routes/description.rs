//! `GET /api/v2/openapi.json`: the OpenAPI 3.1 description of the API (a read).

use crate::api_description::ApiDescription;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

/// `GET /api/v2/openapi.json`: the description the router was built from.
#[utoipa::path(
    get,
    path = "/api/v2/openapi.json",
    operation_id = "get_openapi",
    tag = "meta",
    responses(
        (status = 200, description = "This description (OpenAPI 3.1).", body = Object, content_type = "application/json"),
    ),
)]
pub(crate) async fn openapi(State(description): State<ApiDescription>) -> Response {
    Json(description.document()).into_response()
}

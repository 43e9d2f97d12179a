//! The handlers, one module per group of routes, and the router that joins them.
//!
//! Each handler and middleware takes only the slices of [`AppState`] it needs
//! (see [`crate::state`]); the handler modules never import the state itself.

pub(crate) mod agent;
pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod description;
pub(crate) mod health;
pub(crate) mod history;
pub(crate) mod maintenance;
pub(crate) mod notifications;
pub(crate) mod proxies;
pub(crate) mod register;
pub(crate) mod replicas;
pub(crate) mod tokens;
pub(crate) mod vantage_history;
pub(crate) mod vantages;

use crate::api_description::{self, Access, ApiDescription};
use crate::assets;
use crate::auth::{Auth, Guard, require_role};
use crate::error::ApiError;
use crate::http_metrics::observe;
use crate::state::AppState;
use crate::store_health::record_faults;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use proxyhealth_core::access::Role;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every route of docs/api.md, with its authentication, the body limit
/// (`max_body_bytes`), the HTTP metrics, the recording of store faults and the
/// security headers.
///
/// The API routes are added with their `#[utoipa::path]` descriptions
/// (`routes!`), one `routes!` per path, so the router and the OpenAPI
/// description served at `/api/v2/openapi.json` are made together; only the
/// dashboard's pages and files are plain routes, outside the description.
pub(crate) fn router(state: AppState, max_body_bytes: usize) -> Router {
    // What a dashboard shows, never a secret; open only to people (even
    // with `public_reads`, which opens `reads` below).
    let viewer = OpenApiRouter::default()
        .routes(routes!(proxies::list))
        .routes(routes!(proxies::get_one))
        .routes(routes!(history::proxy_history))
        .routes(routes!(history::incidents))
        .routes(routes!(vantage_history::vantage_history))
        .routes(routes!(replicas::report))
        .routes(routes!(notifications::list))
        .routes(routes!(vantages::list))
        .routes(routes!(maintenance::list));
    // Acting on the checking, not on what is checked.
    let operator = OpenApiRouter::default()
        .routes(routes!(proxies::refresh))
        .routes(routes!(maintenance::create))
        .routes(routes!(maintenance::delete))
        .routes(routes!(maintenance::end));
    // What is checked, and who may act.
    let admin = OpenApiRouter::default()
        .routes(routes!(proxies::create))
        .routes(routes!(proxies::patch, proxies::delete))
        .routes(routes!(vantages::create))
        .routes(routes!(vantages::delete))
        .routes(routes!(vantages::rotate_token))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(audit::list));
    let agent = OpenApiRouter::default()
        .routes(routes!(agent::assignment))
        .routes(routes!(agent::results))
        .layer(DefaultBodyLimit::max(agent::AGENT_MAX_BODY_BYTES));
    let proxy = OpenApiRouter::default()
        .routes(routes!(register::register))
        .routes(routes!(register::deregister));
    let reads = OpenApiRouter::default()
        .routes(routes!(proxies::regions))
        .routes(routes!(health::get_summary))
        .routes(routes!(health::events))
        .routes(routes!(health::healthz))
        .routes(routes!(health::metrics))
        .routes(routes!(description::openapi));
    // who is signed in: open, a browser asks it before it has a session
    let open = OpenApiRouter::default().routes(routes!(auth::session));
    let public = state.auth.public_reads();
    let (api, description) = OpenApiRouter::with_openapi(api_description::base())
        .merge(guarded(viewer, Access::Role(Role::Viewer), &state.auth))
        .merge(guarded(operator, Access::Role(Role::Operator), &state.auth))
        .merge(guarded(admin, Access::Role(Role::Admin), &state.auth))
        .merge(guarded(proxy, Access::Proxy, &state.auth))
        .merge(guarded(agent, Access::Agent, &state.auth))
        .merge(guarded(reads, Access::Read { public }, &state.auth))
        .merge(guarded(open, Access::Open, &state.auth))
        .split_for_parts();
    let state = AppState {
        description: ApiDescription::new(description),
        ..state
    };
    let dashboard = Router::new()
        .route("/", get(assets::index))
        .route("/proxies/{proxy}", get(assets::index))
        .route("/assets/{file}", get(assets::asset))
        .route("/auth/login", get(auth::login));
    // Signing in and out open and end sessions: recorded like the API's
    // state changes.
    let sessions = Router::new()
        .route("/auth/callback", get(auth::callback))
        .route("/auth/logout", axum::routing::post(auth::logout));
    let api = api.merge(sessions).layer(from_fn_with_state(
        state.store.clone(),
        crate::audit::record,
    ));
    api.merge(dashboard)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(from_fn_with_state(state.sign_in.clone(), auth::csrf_guard))
        .layer(from_fn_with_state(
            state.store_health.clone(),
            record_faults,
        ))
        .layer(from_fn_with_state(state.http_metrics.clone(), observe))
        .layer(from_fn(assets::security_headers))
        .with_state(state)
}

/// A group of routes behind the middleware of `access`, with the security
/// requirement and the refusals of that middleware added to their
/// description in the same place, so the two cannot differ.
fn guarded(
    routes: OpenApiRouter<AppState>,
    access: Access,
    auth: &Auth,
) -> OpenApiRouter<AppState> {
    let mut routes = match access {
        Access::Role(role) => routes.route_layer(from_fn_with_state(
            Guard {
                auth: auth.clone(),
                role,
                open: false,
            },
            require_role,
        )),
        Access::Read { public } => routes.route_layer(from_fn_with_state(
            Guard {
                auth: auth.clone(),
                role: Role::Viewer,
                open: public,
            },
            require_role,
        )),
        // The handlers check the proxy or agent token themselves, before
        // reading the body.
        Access::Proxy | Access::Agent => routes,
        Access::Open => routes,
    };
    access.describe(routes.get_openapi_mut());
    routes
}

async fn not_found() -> ApiError {
    ApiError::not_found("Route not found.")
}

async fn method_not_allowed() -> Response {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.")
        .with_detail("This route does not accept this method.")
        .into_response()
}

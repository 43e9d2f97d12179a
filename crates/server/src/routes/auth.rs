//! Dashboard sign-in: `GET /auth/login`, `GET /auth/callback`,
//! `POST /auth/logout` (browser routes, outside the API description), and
//! `GET /api/v2/proxyhealth/session`, who is signed in.

use crate::error::ApiError;
use crate::oidc::SignIn;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use proxyhealth_api::wire::SessionInfo;
use proxyhealth_core::envelope::ErrorEnvelope;
use serde::Deserialize;

/// `GET /auth/login`'s query.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    /// Where to go once signed in: a path on this site, else `/`.
    return_to: Option<String>,
}

/// `GET /auth/login?return_to=/path`: a 303 to the identity provider.
pub(crate) async fn login(
    State(sign_in): State<SignIn>,
    Query(query): Query<LoginQuery>,
) -> Result<Response, ApiError> {
    let (url, cookie) = sign_in.begin(query.return_to.as_deref()).await?;
    redirect(&url, &[cookie])
}

/// `GET /auth/callback`'s query: the provider's answer.
#[derive(Debug, Deserialize)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /auth/callback?code=…&state=…`: opens a session and sends the browser
/// to where the login was begun; refusals clear the cookies.
pub(crate) async fn callback(
    State(sign_in): State<SignIn>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let finished = async {
        if let Some(error) = &query.error {
            let detail = match &query.error_description {
                Some(description) => format!("{error}: {description}"),
                None => error.clone(),
            };
            return Err(
                ApiError::unauthorized("The identity provider refused the sign-in.")
                    .with_detail(detail),
            );
        }
        let (Some(state), Some(code)) = (&query.state, &query.code) else {
            return Err(ApiError::bad_request("Missing code or state.")
                .with_detail("The callback needs the provider's code and state parameters."));
        };
        sign_in.finish(&headers, state, code).await
    };
    match finished.await {
        Ok(signed_in) => {
            let mut cookies = sign_in.clear_cookies();
            cookies[0] = signed_in.cookie;
            let mut res = redirect(&signed_in.return_to, &cookies)
                .unwrap_or_else(IntoResponse::into_response);
            // who signed in, for the audit log
            res.extensions_mut().insert(signed_in.principal);
            res
        }
        Err(err) => with_cookies(err.into_response(), &sign_in.clear_cookies()),
    }
}

/// `POST /auth/logout`: ends the session and removes its cookie (204).
pub(crate) async fn logout(
    State(sign_in): State<SignIn>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // who signs out, for the audit log; an unknown session ends all the same
    let principal = sign_in.principal(&headers).await.ok().flatten();
    let cookie = sign_in.end(&headers).await?;
    let mut res = with_cookies(StatusCode::NO_CONTENT.into_response(), &[cookie]);
    if let Some(principal) = principal {
        res.extensions_mut().insert(principal);
    }
    Ok(res)
}

/// `GET /api/v2/proxyhealth/session`.
#[utoipa::path(
    get,
    path = "/api/v2/proxyhealth/session",
    operation_id = "get_session",
    tag = "proxyhealth",
    responses(
        (status = 200, description = "Whether sign-in is configured and, with a valid session cookie, who is signed in, their role and the session's CSRF token.", body = SessionInfo),
        (status = 401, description = "The session cookie is unknown, ended or expired: sign in again.", body = ErrorEnvelope),
        (status = 503, description = "The store is unavailable.", body = ErrorEnvelope),
        (status = 500, description = "The store failed.", body = ErrorEnvelope),
    ),
)]
pub(crate) async fn session(
    State(sign_in): State<SignIn>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let session = match sign_in.session(&headers).await {
        Ok(session) => session,
        Err(err) if err.status == StatusCode::UNAUTHORIZED => {
            return Ok(with_cookies(
                err.into_response(),
                &sign_in.clear_cookies()[..1],
            ));
        }
        Err(err) => return Err(err),
    };
    let oidc = sign_in.configured();
    let info = match session {
        Some(session) => {
            let record = session.record;
            SessionInfo {
                oidc,
                signed_in: true,
                login_url: Some("/auth/login".to_owned()),
                name: Some(
                    record
                        .name
                        .clone()
                        .or_else(|| record.email.clone())
                        .unwrap_or_else(|| record.subject.clone()),
                ),
                email: record.email,
                subject: Some(record.subject),
                role: Some(record.role),
                csrf_token: Some(session.csrf_token),
                expires_at: Some(record.expires_at),
            }
        }
        None => SessionInfo {
            oidc,
            signed_in: false,
            login_url: oidc.then(|| "/auth/login".to_owned()),
            name: None,
            email: None,
            subject: None,
            role: None,
            csrf_token: None,
            expires_at: None,
        },
    };
    let mut response = Json(info).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A 303 to `location` setting `cookies`.
fn redirect(location: &str, cookies: &[String]) -> Result<Response, ApiError> {
    let location = HeaderValue::from_str(location)
        .map_err(|_| ApiError::internal("a redirect location that is no header value"))?;
    let mut response = StatusCode::SEE_OTHER.into_response();
    response.headers_mut().insert(LOCATION, location);
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(with_cookies(response, cookies))
}

fn with_cookies(mut response: Response, cookies: &[String]) -> Response {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

/// Middleware on every route: the CSRF rule of [`SignIn::check_csrf`] (403).
pub(crate) async fn csrf_guard(
    State(sign_in): State<SignIn>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match sign_in.check_csrf(req.method(), req.headers()) {
        Ok(()) => next.run(req).await,
        Err(err) => err.into_response(),
    }
}

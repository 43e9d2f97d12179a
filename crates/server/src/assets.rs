//! The dashboard's static files, compiled into the binary, and the security
//! headers every answer carries.

use crate::error::ApiError;
use axum::extract::{Path, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The Content-Security-Policy of every answer: only this origin's scripts and
/// styles, images also from proxies' icons, no framing.
pub const CSP: &str = "default-src 'self'; img-src 'self' data: http: https:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

/// A static file: its bytes and content type.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../assets/index.html"),
};

const ASSETS: [Asset; 6] = [
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/app.js"),
    },
    Asset {
        name: "vantages.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/vantages.js"),
    },
    Asset {
        name: "audit.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/audit.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../assets/style.css"),
    },
    Asset {
        name: "vantages.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../assets/vantages.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../assets/favicon.svg"),
    },
];

fn serve(asset: &Asset) -> Response {
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        asset.body,
    )
        .into_response()
}

/// `GET /` and `GET /proxies/{id}`: the dashboard page. A proxy's page is the
/// same document (the script reads the path), so its address can be shared
/// and reloaded.
pub(crate) async fn index() -> Response {
    serve(&INDEX)
}

/// `GET /assets/{file}`: one of the dashboard's files, or 404.
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|asset| asset.name == file) {
        Some(asset) => serve(asset),
        None => ApiError::not_found("Asset not found.")
            .with_detail(format!("There is no asset named {file:?}."))
            .into_response(),
    }
}

/// Middleware: the security headers on every answer (the CSP, `nosniff`, no referrer).
pub(crate) async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    response
}

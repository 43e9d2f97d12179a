//! [`Stack::Costly`](crate::Stack::Costly): a simulated proxy served the way a
//! real one is, so the CPU a request costs the fleet is close to a real server's.
//!
//! Per connection: hyper-util's auto connection builder (the one `axum::serve`
//! uses) over an axum router. Per request: a middleware that canonicalises every
//! header name into a map (as Go's `textproto` does), makes a request id
//! (SHA-256 of the peer, a counter and the path), sets the security headers a
//! Coder proxy sets, and formats an access-log line; a handler that decodes and
//! re-encodes the report JSON (a body built per request), and hashes 1 KiB
//! `work` times for an `ETag`.

use crate::respond::{HEALTH_REPORT_PATH, health_report_built, not_found};
use crate::shared::Shared;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Requests numbered across the process, for request ids.
static REQUEST_NUMBER: AtomicU64 = AtomicU64::new(0);

/// The router one costly proxy serves.
pub(crate) fn router(shared: Arc<Shared>, work: u32) -> Router {
    Router::new()
        .route(
            HEALTH_REPORT_PATH,
            get(move |state: State<Arc<Shared>>| report(state, work)),
        )
        .fallback(|| async { not_found().map(Body::new) })
        .layer(axum::middleware::from_fn(common))
        .with_state(shared)
}

/// The health report: the kind's answer with its JSON built per request, and
/// an `ETag` from `work` rounds of hashing.
async fn report(State(shared): State<Arc<Shared>>, work: u32) -> Response {
    let (kind, flap_index, in_flight) = shared.begin_request();
    let mut response = health_report_built(kind, flap_index, in_flight, json_per_request)
        .await
        .map(Body::new);
    let mut block = [0u8; 1024];
    let mut digest = Sha256::digest(flap_index.to_le_bytes());
    for _ in 0..work {
        block[..32].copy_from_slice(&digest);
        digest = Sha256::digest(block);
    }
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", hex(&digest[..8]))) {
        response.headers_mut().insert("etag", etag);
    }
    response
}

/// A JSON body decoded and encoded again (a handler building its report per
/// request); any other body as it is.
fn json_per_request(text: &'static str) -> UnsyncBoxBody<Bytes, Infallible> {
    let bytes = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) if text.starts_with('{') => serde_json::to_vec(&value)
            .map(Bytes::from)
            .unwrap_or_else(|_| Bytes::from_static(text.as_bytes())),
        _ => Bytes::from_static(text.as_bytes()),
    };
    http_body_util::Full::new(bytes).boxed_unsync()
}

/// The middleware every request goes through.
async fn common(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let headers = canonical_headers(request.headers());
    let number = REQUEST_NUMBER.fetch_add(1, Ordering::Relaxed);
    let mut hasher = Sha256::new();
    hasher.update(number.to_le_bytes());
    hasher.update(request.uri().path().as_bytes());
    for (name, value) in &headers {
        hasher.update(name.as_bytes());
        hasher.update(value.as_bytes());
    }
    let request_id = hex(&hasher.finalize()[..16]);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let set = response.headers_mut();
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        ("strict-transport-security", "max-age=31536000"),
        ("cache-control", "no-store"),
    ] {
        set.insert(name, HeaderValue::from_static(value));
    }
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        set.insert("x-request-id", id);
    }
    let line = format!(
        "{method} {path} {} {:?} ua={:?} accept={:?} id={request_id}",
        response.status().as_u16(),
        started.elapsed(),
        headers.get("User-Agent").map(String::as_str).unwrap_or(""),
        headers.get("Accept").map(String::as_str).unwrap_or(""),
    );
    std::hint::black_box(line);
    response
}

/// Every header under its canonical name (`user-agent` → `User-Agent`).
fn canonical_headers(headers: &HeaderMap) -> HashMap<String, String> {
    let mut map = HashMap::with_capacity(headers.len());
    for (name, value) in headers {
        let mut canonical = String::with_capacity(name.as_str().len());
        let mut upper = true;
        for c in name.as_str().chars() {
            canonical.push(if upper { c.to_ascii_uppercase() } else { c });
            upper = c == '-';
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        map.insert(canonical, value);
    }
    map
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

//! Builds the answer of each [`Kind`] to one request.

use crate::bodies::{
    BAD_REQUEST_HTML, BUILD_VERSION, ERRORS_BODY, HTML_CONTENT_TYPE, JSON_CONTENT_TYPE,
    NON_JSON_BODY, NOT_FOUND_BODY, OK_BODY, PRIMARY_HTML, SERVER_ERROR_BODY, WARNINGS_BODY,
};
use crate::kind::Kind;
use crate::stats::InFlight;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// The path of the health report, the only one the simulator answers.
pub const HEALTH_REPORT_PATH: &str = "/healthz-report";

/// The header a Coder server (proxy or primary) sets on every answer.
const BUILD_VERSION_HEADER: &str = "x-coder-build-version";

/// A response body that keeps its request counted as in flight until it is sent or dropped.
pub(crate) struct SimBody {
    inner: UnsyncBoxBody<Bytes, Infallible>,
    _in_flight: Option<InFlight>,
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The answer for any path other than the health report: Go's plain 404.
pub(crate) fn not_found() -> Response<SimBody> {
    let body = SimBody {
        inner: full(NOT_FOUND_BODY),
        _in_flight: None,
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::NOT_FOUND;
    set(&mut response, CONTENT_TYPE, "text/plain; charset=utf-8");
    response
}

/// The answer of `kind` to `GET /healthz-report`; `flap_index` is the request's number
/// since the kind was set (used by [`Kind::Flapping`]).
///
/// [`Kind::Hang`] never resolves; [`Kind::Refused`] has no listener and is never asked.
pub(crate) async fn health_report(
    kind: Kind,
    flap_index: u64,
    in_flight: InFlight,
) -> Response<SimBody> {
    health_report_built(kind, flap_index, in_flight, full).await
}

/// [`health_report`] with the bodies sent in one piece built by `full` from
/// their text (the costly stack builds its JSON per request).
pub(crate) async fn health_report_built(
    kind: Kind,
    flap_index: u64,
    in_flight: InFlight,
    full: fn(&'static str) -> UnsyncBoxBody<Bytes, Infallible>,
) -> Response<SimBody> {
    let (status, content_type, version, body) = match kind {
        Kind::Ok | Kind::Refused => ok_parts(full),
        Kind::OkWithWarnings => (StatusCode::OK, JSON_CONTENT_TYPE, true, full(WARNINGS_BODY)),
        Kind::Errors => (StatusCode::OK, JSON_CONTENT_TYPE, true, full(ERRORS_BODY)),
        Kind::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            JSON_CONTENT_TYPE,
            true,
            full(SERVER_ERROR_BODY),
        ),
        Kind::BadRequestHtml => (
            StatusCode::BAD_REQUEST,
            HTML_CONTENT_TYPE,
            true,
            full(BAD_REQUEST_HTML),
        ),
        Kind::PrimaryHtml => (StatusCode::OK, HTML_CONTENT_TYPE, true, full(PRIMARY_HTML)),
        Kind::NonJson200 => (StatusCode::OK, "text/plain", false, full(NON_JSON_BODY)),
        Kind::Hang => {
            // Held until the connection is dropped (client gone or proxy stopped).
            let _in_flight = in_flight;
            return std::future::pending().await;
        }
        Kind::Slow(delay) => {
            tokio::time::sleep(delay).await;
            ok_parts(full)
        }
        Kind::SlowBody(step) => (
            StatusCode::OK,
            JSON_CONTENT_TYPE,
            true,
            trickle(OK_BODY, step),
        ),
        Kind::Flapping(period) => {
            let period = u64::from(period.max(1));
            if (flap_index / period).is_multiple_of(2) {
                ok_parts(full)
            } else {
                (StatusCode::OK, JSON_CONTENT_TYPE, true, full(ERRORS_BODY))
            }
        }
    };
    let mut response = Response::new(SimBody {
        inner: body,
        _in_flight: Some(in_flight),
    });
    *response.status_mut() = status;
    set(&mut response, CONTENT_TYPE, content_type);
    if version {
        set(
            &mut response,
            HeaderName::from_static(BUILD_VERSION_HEADER),
            BUILD_VERSION,
        );
    }
    response
}

/// Status, content type, whether to send the build version, and body of a healthy report.
fn ok_parts(
    full: fn(&'static str) -> UnsyncBoxBody<Bytes, Infallible>,
) -> (
    StatusCode,
    &'static str,
    bool,
    UnsyncBoxBody<Bytes, Infallible>,
) {
    (StatusCode::OK, JSON_CONTENT_TYPE, true, full(OK_BODY))
}

/// A body sent in one piece (with a `Content-Length`).
fn full(text: &'static str) -> UnsyncBoxBody<Bytes, Infallible> {
    Full::new(Bytes::from_static(text.as_bytes())).boxed_unsync()
}

/// A body sent one byte per `step`, the first byte after one step.
fn trickle(text: &'static str, step: Duration) -> UnsyncBoxBody<Bytes, Infallible> {
    let bytes = Bytes::from_static(text.as_bytes());
    let frames = futures::stream::unfold(0usize, move |at| {
        let bytes = bytes.clone();
        async move {
            if at >= bytes.len() {
                return None;
            }
            tokio::time::sleep(step).await;
            let frame = Frame::data(bytes.slice(at..at + 1));
            Some((Ok::<_, Infallible>(frame), at + 1))
        }
    });
    StreamBody::new(frames).boxed_unsync()
}

/// Sets a header to a static value (all of the simulator's values are valid).
fn set(response: &mut Response<SimBody>, name: HeaderName, value: &'static str) {
    response
        .headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

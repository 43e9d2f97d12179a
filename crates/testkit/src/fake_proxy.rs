//! Fake proxies: real HTTP servers on `127.0.0.1:0` whose answers the test
//! decides, for the engine's tests and the dashboard's browser test.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The build version [`FakeProxy::report`] announces, as a Coder proxy does.
pub const BUILD_VERSION: &str = "v2.20.0";

/// A fake proxy: a real HTTP server on 127.0.0.1:0 whose answer a closure
/// decides. Stops when dropped.
pub struct FakeProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Requests served so far.
    pub hits: Arc<AtomicUsize>,
    /// The most requests it has had in flight at once.
    pub max_in_flight: Arc<AtomicUsize>,
    /// The path of the last request.
    pub last_path: Arc<parking_lot::Mutex<String>>,
    /// The address the last request came from.
    pub last_peer: Arc<parking_lot::Mutex<Option<SocketAddr>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeProxy {
    /// Starts a fake proxy; `answer` gets the request number (0-based).
    pub async fn start<F, Fut>(answer: F) -> FakeProxy
    where
        F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response<Body>> + Send + 'static,
    {
        FakeProxy::start_by_peer(move |n, _peer| answer(n)).await
    }

    /// Starts a fake proxy that answers by who asks: `answer` gets the
    /// request number (0-based) and the address the request came from, so
    /// checks from different vantages (`--source-address`) can see
    /// different proxies.
    pub async fn start_by_peer<F, Fut>(answer: F) -> FakeProxy
    where
        F: Fn(usize, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response<Body>> + Send + 'static,
    {
        let hits = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let last_path = Arc::new(parking_lot::Mutex::new(String::new()));
        let last_peer = Arc::new(parking_lot::Mutex::new(None));
        let (h, i, m, p, c) = (
            hits.clone(),
            in_flight.clone(),
            max_in_flight.clone(),
            last_path.clone(),
            last_peer.clone(),
        );
        let app = Router::new().fallback(move |request: Request<Body>| {
            let (hits, in_flight, max_in_flight, last_path, last_peer, answer) = (
                h.clone(),
                i.clone(),
                m.clone(),
                p.clone(),
                c.clone(),
                answer.clone(),
            );
            async move {
                *last_path.lock() = request.uri().path().to_owned();
                let peer = request
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |info| info.0);
                *last_peer.lock() = Some(peer);
                let n = hits.fetch_add(1, Ordering::SeqCst);
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                max_in_flight.fetch_max(now, Ordering::SeqCst);
                let response = answer(n, peer).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                response
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            let _ = axum::serve(listener, app).await;
        });
        FakeProxy {
            url: format!("http://{addr}"),
            hits,
            max_in_flight,
            last_path,
            last_peer,
            task,
        }
    }

    /// A fake proxy that always gives the same answer.
    pub async fn fixed(
        status: u16,
        content_type: Option<&'static str>,
        body: &'static str,
    ) -> FakeProxy {
        FakeProxy::start(move |_| async move { response(status, content_type, body) }).await
    }

    /// A proxy that answers every request with `report` (a JSON document) as a
    /// Coder proxy does: 200, `application/json`, its build version in
    /// `X-Coder-Build-Version` (for reports the simulator does not have, such
    /// as one carrying markup).
    pub async fn report(report: String) -> FakeProxy {
        FakeProxy::start(move |_| {
            let report = report.clone();
            async move {
                Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .header("x-coder-build-version", BUILD_VERSION)
                    .body(Body::from(report))
                    .expect("a valid response")
            }
        })
        .await
    }

    /// How many requests it has served.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A response with a status, an optional content type and a body.
pub fn response(status: u16, content_type: Option<&str>, body: impl Into<Body>) -> Response<Body> {
    let mut builder = Response::builder().status(status);
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    builder.body(body.into()).expect("a valid response")
}

/// A JSON response.
pub fn json(status: u16, body: &str) -> Response<Body> {
    response(status, Some("application/json"), body.to_owned())
}

/// A loopback URL where nothing listens (a port bound, then released).
pub async fn refused_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_report_proxy_answers_as_a_coder_proxy_does() {
        let report = r#"{"errors":[],"warnings":[]}"#;
        let proxy = FakeProxy::report(report.to_owned()).await;
        let addr = proxy.url.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connect to the fake proxy");
        stream
            .write_all(b"GET /healthz-report HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("send a request");
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .await
            .expect("read the answer");
        let lower = answer.to_ascii_lowercase();
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(lower.contains("content-type: application/json"), "{answer}");
        assert!(
            lower.contains(&format!("x-coder-build-version: {BUILD_VERSION}")),
            "{answer}"
        );
        assert!(answer.ends_with(report), "{answer}");
        assert_eq!(proxy.hits(), 1);
        assert_eq!(*proxy.last_path.lock(), "/healthz-report");
    }
}

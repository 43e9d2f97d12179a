//! The accept loop of one listener and the HTTP/1 serving of its connections.

use crate::respond::{HEALTH_REPORT_PATH, SimBody, health_report, not_found};
use crate::shared::Shared;
use crate::stack::Stack;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long the accept loop pauses after an error such as running out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Binds a listener on `addr` (with `SO_REUSEADDR`, so a proxy can come back at once).
pub(crate) async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Starts the accept loop; it and every connection it accepted end when `stop` is cancelled.
pub(crate) fn spawn_accept(
    listener: TcpListener,
    shared: Arc<Shared>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(accept_loop(listener, shared, stop))
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    // A costly proxy builds its router once, as a real server does at start.
    let router = match shared.serving.stack {
        Stack::Lean => None,
        Stack::Costly { work } => Some(crate::costly::router(Arc::clone(&shared), work)),
    };
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _peer)) => serve(stream, Arc::clone(&shared), router.clone(), stop.clone()),
            Err(err) if is_per_connection(&err) => {}
            Err(err) => {
                tracing::warn!(addr = %shared.addr, error = %err, "sim proxy cannot accept; pausing");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
}

/// Accept errors that concern one connection only, after which accepting goes on at once.
fn is_per_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// Serves one connection (after the TLS handshake, when the proxy has TLS)
/// until it closes or `stop`: with bare HTTP/1 (keep-alive allowed), or with
/// the costly stack's router.
fn serve(stream: TcpStream, shared: Arc<Shared>, router: Option<Router>, stop: CancellationToken) {
    let open = shared.connections.open();
    // Small answers must not wait for Nagle; failing to set it only costs latency.
    let _ = stream.set_nodelay(true);
    tokio::spawn(async move {
        let _open = open;
        let serving = async {
            match shared.serving.tls.clone() {
                Some(tls) => {
                    // A failed handshake is the client's problem; the connection just ends.
                    if let Ok(stream) = tls.acceptor().accept(stream).await {
                        serve_io(TokioIo::new(stream), &shared, router).await;
                    }
                }
                None => serve_io(TokioIo::new(stream), &shared, router).await,
            }
        };
        tokio::select! {
            () = stop.cancelled() => {}
            () = serving => {}
        }
    });
}

/// HTTP over `io` until the connection ends (errors end it too).
async fn serve_io<I>(io: I, shared: &Arc<Shared>, router: Option<Router>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    match router {
        None => {
            let shared = Arc::clone(shared);
            let service = service_fn(move |request| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(answer(&shared, request).await) }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(io, service)
                .await;
        }
        Some(router) => {
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(io, TowerToHyperService::new(router))
                .await;
        }
    }
}

/// Routes one request: the health report is answered by the current kind, the rest is 404.
async fn answer(shared: &Arc<Shared>, request: Request<Incoming>) -> Response<SimBody> {
    if request.uri().path() != HEALTH_REPORT_PATH {
        return not_found();
    }
    let (kind, flap_index, in_flight) = shared.begin_request();
    health_report(kind, flap_index, in_flight).await
}

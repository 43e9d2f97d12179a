//! The accept loop of one listener and the HTTP/1 serving of its connections.

use crate::kind::Kind;
use crate::respond::{HEALTH_REPORT_PATH, SimBody, health_report, not_found};
use crate::stats::{Connections, Stats};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long the accept loop pauses after an error such as running out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The state one simulated proxy shares with its accept loop and connections.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The address the proxy listens on (or would, when refused).
    pub(crate) addr: SocketAddr,
    kind: Mutex<Kind>,
    /// Requests since the kind was last set, for [`Kind::Flapping`].
    flap: AtomicU64,
    pub(crate) stats: Arc<Stats>,
    pub(crate) connections: Arc<Connections>,
}

impl Shared {
    /// State for a proxy on `addr`, counting into `fleet` when it belongs to one.
    pub(crate) fn new(addr: SocketAddr, kind: Kind, fleet: Option<Arc<Stats>>) -> Self {
        Shared {
            addr,
            kind: Mutex::new(kind),
            flap: AtomicU64::new(0),
            stats: Arc::new(Stats::with_parent(fleet)),
            connections: Arc::new(Connections::default()),
        }
    }

    /// The kind answering now.
    pub(crate) fn kind(&self) -> Kind {
        *self.kind.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the kind for the next requests and restarts the flapping count.
    pub(crate) fn set_kind(&self, kind: Kind) {
        *self.kind.lock().unwrap_or_else(PoisonError::into_inner) = kind;
        self.flap.store(0, Ordering::Release);
    }
}

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
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _peer)) => serve(stream, Arc::clone(&shared), stop.clone()),
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

/// Serves one connection with HTTP/1 (keep-alive allowed) until it closes or `stop`.
fn serve(stream: TcpStream, shared: Arc<Shared>, stop: CancellationToken) {
    let open = shared.connections.open();
    // Small answers must not wait for Nagle; failing to set it only costs latency.
    let _ = stream.set_nodelay(true);
    tokio::spawn(async move {
        let _open = open;
        let service = service_fn(move |request| {
            let shared = Arc::clone(&shared);
            async move { Ok::<_, Infallible>(answer(&shared, request).await) }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(stream), service);
        tokio::select! {
            () = stop.cancelled() => {}
            _ = connection => {}
        }
    });
}

/// Routes one request: the health report is answered by the current kind, the rest is 404.
async fn answer(shared: &Shared, request: Request<Incoming>) -> Response<SimBody> {
    if request.uri().path() != HEALTH_REPORT_PATH {
        return not_found();
    }
    let kind = shared.kind();
    let flap_index = shared.flap.fetch_add(1, Ordering::AcqRel);
    let in_flight = shared.stats.begin();
    health_report(kind, flap_index, in_flight).await
}

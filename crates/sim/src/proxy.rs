//! One simulated proxy: a listener, its kind, its counters, and its lifetime.

use crate::error::SimError;
use crate::kind::Kind;
use crate::serve::{bind, spawn_accept};
use crate::shared::Shared;
use crate::stack::Serving;
use crate::stats::Stats;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long [`SimProxy::shutdown`] waits for open connections to close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A fake workspace proxy on a loopback address, answering `/healthz-report` as its
/// [`Kind`] says. It stops (listener and connections closed) when dropped.
#[derive(Debug)]
pub struct SimProxy {
    shared: Arc<Shared>,
    url: String,
    /// Cancelled on drop; every run's token is a child of it.
    root: CancellationToken,
    running: Mutex<Option<Running>>,
}

/// A bound listener and its accept loop.
#[derive(Debug)]
struct Running {
    stop: CancellationToken,
    accept: JoinHandle<()>,
}

/// Starts one proxy of `kind` on `127.0.0.1` with a port the system picks.
///
/// A [`Kind::Refused`] proxy binds the port and closes it at once, so the address is
/// one nobody listens on (until [`SimProxy::set_kind`] brings it up).
pub async fn spawn(kind: Kind) -> Result<SimProxy, SimError> {
    let wanted = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let listener = bind(wanted).await.map_err(|source| SimError::Bind {
        addr: wanted,
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: wanted,
        source,
    })?;
    let listener = kind.listens().then_some(listener);
    Ok(SimProxy::start(
        addr,
        listener,
        kind,
        CancellationToken::new(),
        None,
        Serving::default(),
    ))
}

impl SimProxy {
    /// Wraps an already bound listener (or none, for a refused proxy) and starts serving.
    pub(crate) fn start(
        addr: SocketAddr,
        listener: Option<TcpListener>,
        kind: Kind,
        root: CancellationToken,
        fleet: Option<Arc<Stats>>,
        serving: Serving,
    ) -> SimProxy {
        let url = format!("{}://{addr}", serving.scheme());
        let shared = Arc::new(Shared::new(addr, kind, fleet, serving));
        let running = listener.map(|listener| {
            let stop = root.child_token();
            let accept = spawn_accept(listener, Arc::clone(&shared), stop.clone());
            Running { stop, accept }
        });
        SimProxy {
            url,
            shared,
            root,
            running: Mutex::new(running),
        }
    }

    /// The base URL to register for this proxy, like `http://127.0.0.1:PORT` (no slash;
    /// `https://` when it serves TLS).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address the proxy listens on (or would, while refused).
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The kind answering now.
    pub fn kind(&self) -> Kind {
        self.shared.kind()
    }

    /// `/healthz-report` requests received so far (each counted when it arrives).
    pub fn requests(&self) -> u64 {
        self.shared.stats.requests()
    }

    /// `/healthz-report` requests received whose answer is not completely sent yet
    /// (a hanging or slow answer stays in flight until the client leaves).
    pub fn in_flight(&self) -> u64 {
        self.shared.stats.in_flight()
    }

    /// The highest [`SimProxy::in_flight`] seen since the start or the last reset.
    pub fn max_in_flight(&self) -> u64 {
        self.shared.stats.max_in_flight()
    }

    /// Sets [`SimProxy::max_in_flight`] back to the current in-flight count.
    pub fn reset_max_in_flight(&self) {
        self.shared.stats.reset_max_in_flight();
    }

    /// TCP connections open to this proxy now.
    pub fn connections(&self) -> u64 {
        self.shared.connections.count()
    }

    /// Changes how the proxy answers from the next request on, so a test can take it down
    /// and bring it back.
    ///
    /// Switching to [`Kind::Refused`] closes the listener and every open connection; switching
    /// away from it binds the same address again (which fails with [`SimError::Bind`] if
    /// something else took the port meanwhile). A request already hanging or waiting keeps
    /// the kind it arrived under. [`Kind::Flapping`] starts its count again.
    pub async fn set_kind(&self, kind: Kind) -> Result<(), SimError> {
        let mut running = self.running.lock().await;
        match (kind.listens(), running.take()) {
            (true, None) => {
                let addr = self.shared.addr;
                let listener = bind(addr)
                    .await
                    .map_err(|source| SimError::Bind { addr, source })?;
                self.shared.set_kind(kind);
                let stop = self.root.child_token();
                let accept = spawn_accept(listener, Arc::clone(&self.shared), stop.clone());
                *running = Some(Running { stop, accept });
            }
            (false, Some(old)) => {
                old.stop.cancel();
                // The listener is closed once the accept loop has returned; until then
                // late requests still get the old kind.
                let _ = old.accept.await;
                self.shared.set_kind(kind);
            }
            (_, old) => {
                self.shared.set_kind(kind);
                *running = old;
            }
        }
        Ok(())
    }

    /// Stops the proxy and waits until its listener and connections are closed
    /// (at most a few seconds for the connections).
    pub async fn shutdown(self) {
        self.root.cancel();
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, self.closed()).await;
    }

    /// Resolves once the accept loop has returned and no connection is open.
    pub(crate) async fn closed(&self) {
        let running = self.running.lock().await.take();
        if let Some(running) = running {
            let _ = running.accept.await;
        }
        self.shared.connections.all_closed().await;
    }
}

impl Drop for SimProxy {
    fn drop(&mut self) {
        self.root.cancel();
    }
}

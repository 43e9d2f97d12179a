//! Test fixtures: an in-memory proxy list, engines, raw TCP proxies; the fake
//! HTTP proxies come from `proxyhealth-testkit`.

use proxyhealth_core::{Proxy, ProxySource, SourceError};
use proxyhealth_engine::{Engine, EngineOptions};
pub use proxyhealth_testkit::fake_proxy::{FakeProxy, json, refused_url};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// An in-memory list of proxies the engine reads, which can be made to fail.
#[derive(Default)]
pub struct ListSource {
    proxies: parking_lot::Mutex<Vec<Proxy>>,
    failure: parking_lot::Mutex<Option<String>>,
}

impl ListSource {
    pub fn with(proxies: Vec<Proxy>) -> Arc<ListSource> {
        Arc::new(ListSource {
            proxies: parking_lot::Mutex::new(proxies),
            failure: parking_lot::Mutex::new(None),
        })
    }

    pub fn set(&self, proxies: Vec<Proxy>) {
        *self.proxies.lock() = proxies;
    }

    pub fn update(&self, id: Uuid, change: impl FnOnce(&mut Proxy)) {
        if let Some(proxy) = self.proxies.lock().iter_mut().find(|p| p.id == id) {
            change(proxy);
        }
    }

    pub fn fail_with(&self, message: Option<&str>) {
        *self.failure.lock() = message.map(str::to_owned);
    }
}

#[async_trait::async_trait]
impl ProxySource for ListSource {
    async fn list_proxies(&self) -> Result<Vec<Proxy>, SourceError> {
        if let Some(message) = self.failure.lock().clone() {
            return Err(SourceError::new(message));
        }
        Ok(self.proxies.lock().clone())
    }

    async fn proxy_by_id(&self, id: Uuid) -> Result<Option<Proxy>, SourceError> {
        if let Some(message) = self.failure.lock().clone() {
            return Err(SourceError::new(message));
        }
        Ok(self.proxies.lock().iter().find(|p| p.id == id).cloned())
    }
}

/// A registered proxy row with this name and URL.
pub fn proxy(name: &str, url: &str) -> Proxy {
    let now = OffsetDateTime::now_utc();
    Proxy {
        id: Uuid::new_v4(),
        name: name.to_owned(),
        display_name: name.to_owned(),
        icon: "/emojis/1f5fa.png".to_owned(),
        url: url.to_owned(),
        wildcard_hostname: String::new(),
        created_at: now,
        updated_at: now,
        deleted: false,
        token_hashed_secret: vec![0; 32],
        region_id: 1,
        derp_enabled: true,
        derp_only: false,
        version: "v2.34.5-test+beefcake".to_owned(),
    }
}

/// An engine over `source` with short test timings.
pub fn engine(source: Arc<ListSource>) -> Engine {
    engine_with(
        source,
        EngineOptions {
            timeout: Duration::from_secs(2),
            ..EngineOptions::default()
        },
    )
}

/// An engine over `source` with these options.
pub fn engine_with(source: Arc<ListSource>, options: EngineOptions) -> Engine {
    Engine::builder()
        .store(source)
        .options(options)
        .build()
        .expect("build the engine")
}

/// The only error of a proxy's status, asserting there is exactly one.
pub fn only_error(engine: &Engine, id: Uuid) -> String {
    let status = engine.status_of(&id).expect("the proxy has a status");
    assert_eq!(
        status.report.errors.len(),
        1,
        "errors: {:?}",
        status.report.errors
    );
    status.report.errors[0].clone()
}

/// A hostile "proxy" at the TCP level: every connection is handed to `serve`.
pub struct RawProxy {
    pub url: String,
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RawProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawProxy {
    /// Starts a raw server on `bind` (e.g. `127.0.0.1:0` or `[::1]:0`).
    pub async fn start_on<F, Fut>(bind: &str, serve: F) -> RawProxy
    where
        F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local addr");
        let serve = Arc::new(serve);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let serve = Arc::clone(&serve);
                connections.spawn(async move { serve(stream).await });
            }
        });
        RawProxy {
            url: format!("http://{addr}"),
            addr,
            task,
        }
    }

    /// Starts a raw server on 127.0.0.1.
    pub async fn start<F, Fut>(serve: F) -> RawProxy
    where
        F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        RawProxy::start_on("127.0.0.1:0", serve).await
    }
}

/// Reads a request head (up to the blank line) and returns it.
pub async fn read_head(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A whole `200 OK` answer carrying `body` as JSON, framed by its length.
pub fn json_answer(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}
